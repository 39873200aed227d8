"""Recurrent cells and sequence layers with Keras/cuDNN-compatible weights."""

from tfseq.layers.convert import from_torch, to_torch
from tfseq.layers.crf import CRF
from tfseq.layers.gru import GRU, GRUCell
from tfseq.layers.lstm import LSTM, LSTMCell
from tfseq.layers.pooling import SequencePooling
from tfseq.layers.recurrent import Recurrent, RecurrentCell, fused_ok
from tfseq.layers.simple_rnn import SimpleRNN, SimpleRNNCell

CELLS = {"rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}

__all__ = [
    "CELLS", "CRF", "GRU", "GRUCell", "LSTM", "LSTMCell", "Recurrent", "RecurrentCell", "SequencePooling", "SimpleRNN",
    "SimpleRNNCell", "from_torch", "fused_ok", "to_torch",
]
