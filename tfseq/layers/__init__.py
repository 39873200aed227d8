"""Recurrent cells and sequence layers with Keras/cuDNN-compatible weights."""

from tfseq import choices
from tfseq.layers.convert import from_torch, to_torch
from tfseq.layers.crf import CRF
from tfseq.layers.gru import GRU, GRUCell
from tfseq.layers.keras_files import load_model, swap_layers
from tfseq.layers.lstm import LSTM, LSTMCell
from tfseq.layers.pooling import SequencePooling
from tfseq.layers.recurrent import FusedRecurrent, Recurrent, RecurrentCell, fused_ok
from tfseq.layers.simple_rnn import SimpleRNN, SimpleRNNCell

CELLS = dict(zip(choices.CELLS, (SimpleRNN, LSTM, GRU)))  # the recipes' backbone.cell choices


def recurrent_layer(cell: str, units: int, **kwargs):
    """The tfseq recurrent layer that ``cell`` names (``rnn``, ``lstm`` or ``gru``), with
    ``units`` and the layer's other arguments (``return_sequences``, ...)."""
    if cell == "lstm":
        return LSTM(units, **kwargs)
    if cell == "gru":
        return GRU(units, **kwargs)
    if cell == "rnn":
        return SimpleRNN(units, **kwargs)
    raise ValueError(f"Unknown cell={cell!r}: expected one of {sorted(CELLS)}.")


__all__ = [
    "CELLS",
    "CRF",
    "FusedRecurrent",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "Recurrent",
    "RecurrentCell",
    "SequencePooling",
    "SimpleRNN",
    "SimpleRNNCell",
    "from_torch",
    "fused_ok",
    "load_model",
    "recurrent_layer",
    "swap_layers",
    "to_torch",
]
