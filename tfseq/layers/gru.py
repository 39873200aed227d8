"""Gated recurrent unit: update and reset gates, one state."""

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
class GRUCell(RecurrentCell):
    __doc__ = (
        """GRU cell (Cho et al. 2014)::

        z = sigmoid(x W_z + h U_z + b_z)          update gate
        r = sigmoid(x W_r + h U_r + b_r)          reset gate
        n = tanh(x W_h + r * (h U_h + b'_h))      reset_after=True  (cuDNN, the default)
        n = tanh(x W_h + (r * h) U_h + b_h)       reset_after=False (the original paper)
        h_t = z * h_{t-1} + (1 - z) * n

    Weights have the shapes and gate order (z, r, h) of ``keras.layers.GRUCell``:
    ``kernel (input_dim, 3 units)``, ``recurrent_kernel (units, 3 units)``, ``bias (2, 3 units)``
    with ``reset_after`` (input and recurrent bias) or ``(3 units,)`` without. Takes every
    argument of ``keras.layers.GRUCell``.

    Args:"""
        + CELL_ARGS_DOC
        + """
        recurrent_activation: the gates' activation (``"sigmoid"``).
        reset_after: apply the reset gate after the recurrent matmul (cuDNN's form; ``True``).
        implementation: Keras' legacy computation mode (0, 1 or 2), accepted and recorded as
            ``self.implementation``; the arithmetic is the same in every mode.

    Example:
        >>> keras.layers.RNN(GRUCell(8))(np.zeros((2, 5, 3))).shape
        (2, 8)
    """
    )

    gates = 3
    fused_kernel = "gru"

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        reset_after=True,
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
        self.implementation = 1 if recurrent_dropout else check_implementation(implementation)
        self.reset_after = reset_after

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def input_bias(self):
        return self.bias[0] if self.reset_after else self.bias

    def step(self, projected, states, recurrent_kernel, recurrent_mask=None):
        h = states[0]
        h_in = h if recurrent_mask is None else h * recurrent_mask
        x_z, x_r, x_h = ops.split(projected, 3, axis=-1)
        units = self.units
        if self.reset_after:
            inner = ops.matmul(h_in, recurrent_kernel)
            if self.use_bias:
                inner = ops.add(inner, self.bias[1])
            r_z, r_r, r_h = ops.split(inner, 3, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + r * r_h)
        else:
            inner = ops.matmul(h_in, recurrent_kernel[:, : 2 * units])
            r_z, r_r = ops.split(inner, 2, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + ops.matmul(r * h_in, recurrent_kernel[:, 2 * units :]))
        h = z * h + (1 - z) * candidate
        return h, [h]

    def hold_row(self):
        """Kernel row for the 'padded' input column: update gate fully on (h_t = h_{t-1})."""
        units = self.units
        return ops.concatenate(
            [
                ops.full((units,), HOLD, dtype=self.kernel.dtype),
                ops.zeros((2 * units,), dtype=self.kernel.dtype),
            ]
        )

    def fused_kwargs(self):
        return {"reset_after": self.reset_after}

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


@keras.saving.register_keras_serializable(package="tfseq")
class GRU(FusedRecurrent):
    __doc__ = (
        """A :class:`GRUCell` run over time, on cuDNN when :func:`fused_ok` allows.

    A drop-in for ``keras.layers.GRU``: the same arguments, weights and configuration
    (``reset_after=True`` by default). The fused path also takes masked batches.

    Args:"""
        + CELL_ARGS_DOC
        + """
        recurrent_activation: the gates' activation (``"sigmoid"``).
        reset_after: apply the reset gate after the recurrent matmul (cuDNN's form; ``True``)."""
        + LAYER_ARGS_DOC
        + USE_CUDNN_DOC
        + """
        **kwargs: Keras layer arguments (``name``, ``dtype``, ``trainable``) and Keras' legacy
            ``implementation``.

    Example:
        >>> GRU(16)(np.zeros((2, 7, 4))).shape
        (2, 16)
    """
    )

    cell_class = GRUCell  # the cell it runs

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
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
        reset_after=True,
        zero_output_for_mask=False,
        use_cudnn="auto",
        **kwargs,
    ):
        cell = GRUCell(
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
            reset_after=reset_after,
            weight_dropout=weight_dropout,
            seed=seed,
            implementation=kwargs.pop("implementation", 2),
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="gru_cell",
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

    reset_after = property(lambda self: self.cell.reset_after)
