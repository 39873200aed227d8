"""Gated recurrent unit: update and reset gates, one state."""

from __future__ import annotations

import keras
from keras import ops

from tfseq.layers.recurrent import HOLD, Recurrent, RecurrentCell

_CELL_ARGS = (
    "activation", "recurrent_activation", "use_bias", "kernel_initializer",
    "recurrent_initializer", "bias_initializer", "reset_after", "kernel_regularizer",
    "recurrent_regularizer", "bias_regularizer", "dropout", "recurrent_dropout", "weight_dropout", "seed",
)


@keras.saving.register_keras_serializable(package="tfseq")
class GRUCell(RecurrentCell):
    """GRU cell (Cho et al. 2014)::

        z = sigmoid(x W_z + h U_z + b_z)          update gate
        r = sigmoid(x W_r + h U_r + b_r)          reset gate
        n = tanh(x W_h + r * (h U_h + b'_h))      reset_after=True  (cuDNN, the default)
        n = tanh(x W_h + (r * h) U_h + b_h)       reset_after=False (the original paper)
        h_t = z * h_{t-1} + (1 - z) * n

    Weights have the shapes and gate order (z, r, h) of ``keras.layers.GRUCell``:
    ``kernel (input_dim, 3 units)``, ``recurrent_kernel (units, 3 units)``, ``bias (2, 3 units)``
    with ``reset_after`` (input and recurrent bias) or ``(3 units,)`` without.

    Example:
        >>> keras.layers.RNN(GRUCell(8))(np.zeros((2, 5, 3))).shape
        (2, 8)
    """

    gates = 3
    fused_kernel = "gru"

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
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
            candidate = self.activation(
                x_h + ops.matmul(r * h_in, recurrent_kernel[:, 2 * units :])
            )
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
class GRU(Recurrent):
    """A :class:`GRUCell` run over time, on cuDNN when :func:`fused_ok` allows.

    Same arguments and weights as ``keras.layers.GRU`` (``reset_after=True`` by default).

    Example:
        >>> GRU(16)(np.zeros((2, 7, 4))).shape
        (2, 16)
    """

    cell_class = GRUCell
    cell_arguments = _CELL_ARGS
