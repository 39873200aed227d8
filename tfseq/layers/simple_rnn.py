"""The vanilla recurrent cell: h_t = f(x_t W + h_{t-1} U + b)."""

from __future__ import annotations

import keras
from keras import ops

from tfseq.layers.recurrent import Recurrent, RecurrentCell

_CELL_ARGS = (
    "activation", "use_bias", "kernel_initializer", "recurrent_initializer", "bias_initializer",
    "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "dropout",
    "recurrent_dropout", "weight_dropout", "seed",
)


@keras.saving.register_keras_serializable(package="tfseq")
class SimpleRNNCell(RecurrentCell):
    """Elman cell ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Weights have the shapes of ``keras.layers.SimpleRNNCell``: ``kernel (input_dim, units)``,
    ``recurrent_kernel (units, units)``, ``bias (units,)``.

    Args:
        units: size of the hidden state.
        activation: ``"tanh"`` (default), ``"relu"``, ``"sigmoid"`` or any Keras activation.
        use_bias, *_initializer, *_regularizer: as in Keras.
        dropout, recurrent_dropout: rates of the (per-sequence) dropout masks that the sequence
            layer applies to the inputs and to the carried state.

    Example:
        >>> cell = SimpleRNNCell(8, activation="relu")
        >>> keras.layers.RNN(cell)(np.zeros((2, 5, 3))).shape
        (2, 8)
    """

    gates = 1

    def __init__(self, units, activation="tanh", **kwargs):
        kwargs.pop("recurrent_activation", None)
        super().__init__(units, activation=activation, **kwargs)

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
    """A :class:`SimpleRNNCell` run over time (see :class:`tfseq.layers.Recurrent`).

    Example:
        >>> SimpleRNN(16, return_sequences=True)(np.zeros((2, 7, 4))).shape
        (2, 7, 16)
    """

    cell_class = SimpleRNNCell
    cell_arguments = _CELL_ARGS
