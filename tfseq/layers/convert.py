"""Move weights between tfseq/Keras recurrent layers and ``torch.nn.LSTM`` / ``torch.nn.GRU``.

Keras (and tfseq) keep ``kernel (D, G*H)``, ``recurrent_kernel (H, G*H)`` and one bias; PyTorch
keeps ``weight_ih (G*H, D)``, ``weight_hh (G*H, H)``, ``bias_ih`` and ``bias_hh``. Gate order:

=====  ===============  ===============
cell   Keras / tfseq    PyTorch
=====  ===============  ===============
LSTM   i, f, c, o       i, f, g, o
GRU    z, r, h          r, z, n
=====  ===============  ===============

Only single-layer, unidirectional torch modules map onto one layer; torch's GRU is the
``reset_after=True`` variant. Arrays in and out are NumPy, so this module never imports torch.

Example:
    >>> state = to_torch(layer)                 # dict for torch_module.load_state_dict
    >>> layer.set_weights(from_torch(layer, torch_module.state_dict()))
"""

from __future__ import annotations

import numpy as np

from tfseq.layers.gru import GRU
from tfseq.layers.lstm import LSTM


def _gate_order(layer):
    """Permutation taking Keras gate blocks to torch's (an involution for both cells)."""
    if isinstance(layer, LSTM):
        return [0, 1, 2, 3]
    if isinstance(layer, GRU):
        if not layer.cell.reset_after:
            raise ValueError("torch.nn.GRU is the reset_after=True variant; this GRU has reset_after=False.")
        return [1, 0, 2]
    raise TypeError(f"to/from torch covers tfseq LSTM and GRU layers, received {type(layer).__name__}.")


def _reorder(array, order, axis):
    blocks = np.split(np.asarray(array), len(order), axis=axis)
    return np.concatenate([blocks[i] for i in order], axis=axis)


def to_torch(layer) -> dict[str, np.ndarray]:
    """A ``state_dict``-shaped dict of NumPy arrays (``weight_ih_l0`` ...) for ``layer``."""
    order = _gate_order(layer)
    kernel, recurrent_kernel, *bias = layer.get_weights()
    units = layer.units
    if bias:
        if isinstance(layer, GRU):
            bias_ih, bias_hh = bias[0][0], bias[0][1]
        else:  # Keras has one LSTM bias; torch adds two, so put it all in bias_ih.
            bias_ih, bias_hh = bias[0], np.zeros(4 * units, dtype=bias[0].dtype)
    state = {
        "weight_ih_l0": _reorder(kernel, order, axis=1).T.copy(),
        "weight_hh_l0": _reorder(recurrent_kernel, order, axis=1).T.copy(),
    }
    if bias:
        state["bias_ih_l0"] = _reorder(bias_ih, order, axis=0)
        state["bias_hh_l0"] = _reorder(bias_hh, order, axis=0)
    return state


def from_torch(layer, state_dict) -> list[np.ndarray]:
    """Weights for ``layer.set_weights`` from a torch ``state_dict`` (tensors or arrays)."""
    order = _gate_order(layer)

    def get(name):
        if name not in state_dict:
            raise ValueError(f"state_dict has no {name!r}; keys: {sorted(state_dict)}.")
        value = state_dict[name]
        value = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        return value

    weights = [
        _reorder(get("weight_ih_l0").T, order, axis=1),
        _reorder(get("weight_hh_l0").T, order, axis=1),
    ]
    if layer.cell.use_bias:
        bias_ih = _reorder(get("bias_ih_l0"), order, axis=0)
        bias_hh = _reorder(get("bias_hh_l0"), order, axis=0)
        weights.append(np.stack([bias_ih, bias_hh]) if isinstance(layer, GRU) else bias_ih + bias_hh)
    return weights
