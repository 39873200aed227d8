"""The vanilla recurrent cell: h_t = f(x_t W + h_{t-1} U + b)."""

from __future__ import annotations

import keras
from keras import ops

from tfseq.layers.recurrent import CELL_ARGS_DOC, LAYER_ARGS_DOC, Recurrent, RecurrentCell


@keras.saving.register_keras_serializable(package="tfseq")
class SimpleRNNCell(RecurrentCell):
    __doc__ = (
        """Elman cell ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Weights have the shapes of ``keras.layers.SimpleRNNCell``: ``kernel (input_dim, units)``,
    ``recurrent_kernel (units, units)``, ``bias (units,)``. Takes every argument of
    ``keras.layers.SimpleRNNCell``.

    Args:"""
        + CELL_ARGS_DOC
        + """

    Example:
        >>> cell = SimpleRNNCell(8, activation="relu")
        >>> keras.layers.RNN(cell)(np.zeros((2, 5, 3))).shape
        (2, 8)
    """
    )

    gates = 1

    def __init__(
        self,
        units,
        activation="tanh",
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
        weight_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        kwargs.pop("recurrent_activation", None)  # older tfseq configs carried it; unused
        super().__init__(
            units,
            activation=activation,
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

    def step(self, projected, states, recurrent_kernel, recurrent_mask=None):
        h = states[0]
        if recurrent_mask is not None:
            h = h * recurrent_mask
        output = self.activation(projected + ops.matmul(h, recurrent_kernel))
        return output, [output]

    def get_config(self):
        config = super().get_config()
        config.pop("recurrent_activation")
        return config


@keras.saving.register_keras_serializable(package="tfseq")
class SimpleRNN(Recurrent):
    __doc__ = (
        """A :class:`SimpleRNNCell` run over time (see :class:`tfseq.layers.Recurrent`).

    A drop-in for ``keras.layers.SimpleRNN``: the same arguments, weights and configuration.

    Args:"""
        + CELL_ARGS_DOC
        + LAYER_ARGS_DOC
        + """
        **kwargs: Keras layer arguments (``name``, ``dtype``, ``trainable``).

    Example:
        >>> SimpleRNN(16, return_sequences=True)(np.zeros((2, 7, 4))).shape
        (2, 7, 16)
    """
    )

    cell_class = SimpleRNNCell  # the cell it runs

    def __init__(
        self,
        units,
        activation="tanh",
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
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        seed=None,
        zero_output_for_mask=False,
        **kwargs,
    ):
        kwargs.pop("recurrent_activation", None)  # older tfseq configs carried it; unused
        kwargs.pop("use_fused", None)  # older tfseq configs: a SimpleRNN never fuses
        if kwargs.pop("use_cudnn", False) is True:  # code written for LSTM/GRU may pass it
            raise ValueError(
                "SimpleRNN(use_cudnn=True): there is no fused (cuDNN) kernel for "
                "SimpleRNN; leave use_cudnn out, or use LSTM or GRU."
            )
        cell = SimpleRNNCell(
            units,
            activation=activation,
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
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="simple_rnn_cell",
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
            use_cudnn=False,
            **kwargs,
        )
