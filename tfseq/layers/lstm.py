"""Long short-term memory: input, forget and output gates around a cell state."""

from __future__ import annotations

import keras
from keras import ops

from tfseq.layers.recurrent import HOLD, Recurrent, RecurrentCell

_CELL_ARGS = (
    "activation", "recurrent_activation", "use_bias", "kernel_initializer",
    "recurrent_initializer", "bias_initializer", "unit_forget_bias", "kernel_regularizer",
    "recurrent_regularizer", "bias_regularizer", "dropout", "recurrent_dropout", "weight_dropout", "seed",
)


@keras.saving.register_keras_serializable(package="tfseq")
class LSTMCell(RecurrentCell):
    """LSTM cell (Hochreiter & Schmidhuber 1997, with forget gate)::

        i, f, g, o = split(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)
        c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
        h_t = sigmoid(o) * tanh(c_t)

    Weights have the shapes and gate order (i, f, c, o) of ``keras.layers.LSTMCell`` and of
    cuDNN: ``kernel (input_dim, 4 units)``, ``recurrent_kernel (units, 4 units)``,
    ``bias (4 units,)``. ``unit_forget_bias=True`` starts the forget gate's bias at 1.

    Example:
        >>> keras.layers.RNN(LSTMCell(8))(np.zeros((2, 5, 3))).shape
        (2, 8)
    """

    gates = 4
    fused_kernel = "lstm"

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
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
class LSTM(Recurrent):
    """An :class:`LSTMCell` run over time, on cuDNN when :func:`fused_ok` allows.

    Takes the arguments of ``keras.layers.LSTM`` (``units``, activations, initializers,
    ``dropout``, ``recurrent_dropout``, ``return_sequences``, ``return_state``, ``go_backwards``,
    ``stateful``, ``unroll``) and has the same weights, so ``get_weights()/set_weights()`` moves
    a model between the two. ``use_fused=False`` forces the generic loop.

    Example:
        >>> out, h, c = LSTM(16, return_sequences=True, return_state=True)(np.zeros((2, 7, 4)))
        >>> out.shape, h.shape, c.shape
        ((2, 7, 16), (2, 16), (2, 16))
    """

    cell_class = LSTMCell
    cell_arguments = _CELL_ARGS
