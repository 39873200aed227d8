"""Open a ``.keras`` file with tfseq's recurrent layers in place of Keras' (or the reverse).

tfseq's ``LSTM``/``GRU``/``SimpleRNN`` and their cells take Keras' arguments and weights, but a
``.keras`` file names the class it was saved with, and ``custom_objects`` cannot stand in for a
Keras built-in. :func:`load_model` rewrites the file's configuration (class names only: the
arguments and the weight layout are the same) and loads it with ``keras.saving.load_model``, so
weights, compile settings and optimizer state come back as saved.

Example:
    >>> model = tfseq.layers.load_model("keras_lstm.keras")              # Keras' layers -> tfseq's
    >>> model = tfseq.layers.load_model("tfseq.keras", into="keras")     # and back
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

import keras

from tfseq.layers.gru import GRU, GRUCell
from tfseq.layers.lstm import LSTM, LSTMCell
from tfseq.layers.simple_rnn import SimpleRNN, SimpleRNNCell

SWAPPED = (LSTM, GRU, SimpleRNN, LSTMCell, GRUCell, SimpleRNNCell)
# Configuration keys that only tfseq's classes read; Keras' refuse them.
TFSEQ_ONLY = ("weight_dropout", "use_fused")


def swap_layers(config, into: str = "tfseq"):
    """A copy of a serialized Keras configuration (``config.json`` of a ``.keras`` file, or
    ``keras.saving.serialize_keras_object(model)``) with Keras' recurrent layers and cells named as
    tfseq's (``into="tfseq"``) or tfseq's as Keras' (``into="keras"``)."""
    if into not in ("tfseq", "keras"):
        raise ValueError(f"into must be 'tfseq' or 'keras', received into={into!r}.")
    names = {cls.__name__ for cls in SWAPPED}

    def is_class(node, registered):
        return node.get("class_name") in names and (node.get("registered_name") or None) == registered

    def swap(node):
        if isinstance(node, list):
            return [swap(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: swap(value) for key, value in node.items()}
        name = node.get("class_name")
        if into == "tfseq" and is_class(node, None) and str(node.get("module", "")).startswith("keras"):
            tfseq_class = next(cls for cls in SWAPPED if cls.__name__ == name)
            node.update(module=tfseq_class.__module__, registered_name=f"tfseq>{name}")
        elif into == "keras" and is_class(node, f"tfseq>{name}"):
            inner = node.get("config", {})
            if inner.get("weight_dropout"):
                raise ValueError(
                    f"{name} {inner.get('name', '')!r} uses weight_dropout={inner['weight_dropout']}, "
                    "which Keras' layers do not have; it cannot be opened with keras.layers."
                )
            node["config"] = {key: value for key, value in inner.items() if key not in TFSEQ_ONLY}
            node.update(module="keras.layers", registered_name=None)
        return node

    return swap(config)


def load_model(filepath, into: str = "tfseq", **kwargs):
    """``keras.saving.load_model(filepath, **kwargs)`` with the recurrent layers swapped into
    tfseq's (``into="tfseq"``, the default) or Keras' (``into="keras"``) classes."""
    filepath = Path(filepath)
    if filepath.suffix != ".keras" or not zipfile.is_zipfile(filepath):
        raise ValueError(f"{filepath}: expected a .keras file (a zip written by model.save).")
    with zipfile.ZipFile(filepath) as source, tempfile.TemporaryDirectory() as folder:
        swapped = Path(folder) / filepath.name
        with zipfile.ZipFile(swapped, "w") as target:
            for item in source.infolist():
                data = source.read(item)
                if item.filename == "config.json":
                    data = json.dumps(swap_layers(json.loads(data), into)).encode("utf-8")
                target.writestr(item, data)
        return keras.saving.load_model(swapped, **kwargs)
