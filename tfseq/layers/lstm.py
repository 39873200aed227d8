"""Long short-term memory: input, forget and output gates around a cell state."""

from __future__ import annotations

import keras
from keras import ops

from tfseq.layers.recurrent import (
    CELL_ARGS_DOC,
    HOLD,
    LAYER_ARGS_DOC,
    USE_CUDNN_DOC,
    FusedRecurrent,
    RecurrentCell,
    check_implementation,
)


@keras.saving.register_keras_serializable(package="tfseq")
class LSTMCell(RecurrentCell):
    __doc__ = (
        """LSTM cell (Hochreiter & Schmidhuber 1997, with forget gate)::

        i, f, g, o = split(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)
        c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
        h_t = sigmoid(o) * tanh(c_t)

    Weights have the shapes and gate order (i, f, c, o) of ``keras.layers.LSTMCell`` and of
    cuDNN: ``kernel (input_dim, 4 units)``, ``recurrent_kernel (units, 4 units)``,
    ``bias (4 units,)``. Takes every argument of ``keras.layers.LSTMCell``.

    Args:"""
        + CELL_ARGS_DOC
        + """
        recurrent_activation: the gates' activation (``"sigmoid"``).
        unit_forget_bias: start the forget gate's bias at 1 (Jozefowicz et al. 2015).
        implementation: Keras' legacy computation mode (1 or 2), accepted and recorded as
            ``self.implementation``; the arithmetic is the same in every mode.

    Example:
        >>> keras.layers.RNN(LSTMCell(8))(np.zeros((2, 5, 3))).shape
        (2, 8)
    """
    )

    gates = 4
    fused_kernel = "lstm"

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        weight_dropout=0.0,
        seed=None,
        implementation=2,
        **kwargs,
    ):
        super().__init__(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            weight_dropout=weight_dropout,
            seed=seed,
            **kwargs,
        )
        # As Keras: recurrent dropout means mode 1.
        self.implementation = 1 if recurrent_dropout else check_implementation(implementation)
        self.unit_forget_bias = unit_forget_bias
        self.state_size = [units, units]

    def make_bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, units = self.bias_initializer, self.units

        def initializer(shape, dtype=None):
            return ops.concatenate(
                [
                    base((units,), dtype=dtype),
                    ops.ones((units,), dtype=dtype),
                    base((2 * units,), dtype=dtype),
                ]
            )

        return initializer

    def step(self, projected, states, recurrent_kernel, recurrent_mask=None):
        h, c = states
        if recurrent_mask is not None:
            h = h * recurrent_mask
        z = projected + ops.matmul(h, recurrent_kernel)
        i, f, g, o = ops.split(z, 4, axis=-1)
        c = self.recurrent_activation(f) * c + self.recurrent_activation(i) * self.activation(g)
        h = self.recurrent_activation(o) * self.activation(c)
        return h, [h, c]

    def hold_row(self):
        """Kernel row for the 'padded' input column: input gate shut, forget gate open."""
        units = self.units
        return ops.concatenate(
            [
                ops.full((units,), -HOLD, dtype=self.kernel.dtype),
                ops.full((units,), HOLD, dtype=self.kernel.dtype),
                ops.zeros((2 * units,), dtype=self.kernel.dtype),
            ]
        )

    def fused_kwargs(self):
        return {}

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@keras.saving.register_keras_serializable(package="tfseq")
class LSTM(FusedRecurrent):
    __doc__ = (
        """An :class:`LSTMCell` run over time, on cuDNN when :func:`fused_ok` allows.

    A drop-in for ``keras.layers.LSTM``: the same arguments, weights (``get_weights()`` /
    ``set_weights()`` move a model between the two) and configuration (``from_config`` reads
    Keras' and Keras reads this one's). The fused path also takes masked batches.

    Args:"""
        + CELL_ARGS_DOC
        + """
        recurrent_activation: the gates' activation (``"sigmoid"``).
        unit_forget_bias: start the forget gate's bias at 1."""
        + LAYER_ARGS_DOC
        + USE_CUDNN_DOC
        + """
        **kwargs: Keras layer arguments (``name``, ``dtype``, ``trainable``) and Keras' legacy
            ``implementation``.

    Example:
        >>> out, h, c = LSTM(16, return_sequences=True, return_state=True)(np.zeros((2, 7, 4)))
        >>> out.shape, h.shape, c.shape
        ((2, 7, 16), (2, 16), (2, 16))
    """
    )

    cell_class = LSTMCell  # the cell it runs

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        weight_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        use_cudnn="auto",
        **kwargs,
    ):
        cell = LSTMCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            weight_dropout=weight_dropout,
            seed=seed,
            implementation=kwargs.pop("implementation", 2),
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="lstm_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            activity_regularizer=activity_regularizer,
            use_cudnn=use_cudnn,
            **kwargs,
        )

    unit_forget_bias = property(lambda self: self.cell.unit_forget_bias)
