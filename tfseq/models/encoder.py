"""The part every task model shares: ids -> summed embeddings -> (stacked, bidirectional) cells.

Functions rather than a layer, so each model keeps its weights as its own attributes (and
their names in ``.keras`` files stay as they are).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfseq.data.vectorize import aligned_keys
from tfseq.layers import CELLS


def token_embeddings(vocabulary_sizes: dict, dim: int, matrix=None) -> dict:
    """One ``Embedding`` per key aligned with the tokens (``tokens``, ``ngrams_N``); id 0 masks.

    ``matrix``: initial ``tokens`` vectors (see :func:`tfseq.models.read_word_vectors`).
    """
    layers = {}
    for key in aligned_keys(vocabulary_sizes):
        init = "uniform"
        if key == "tokens" and matrix is not None:
            init = keras.initializers.Constant(np.asarray(matrix))
        layers[key] = keras.layers.Embedding(vocabulary_sizes[key], dim, mask_zero=True,
                                             embeddings_initializer=init, name=f"embed_{key}")
    return layers


def embed(embeddings: dict, inputs: dict):
    """The tokens' embeddings plus their aligned n-grams' (fastText-style), ``(batch, time, dim)``."""
    x = embeddings["tokens"](inputs["tokens"])
    for key, layer in embeddings.items():
        if key != "tokens":
            x = x + layer(inputs[key])
    return x


def recurrent_stack(cell: str, units: int, layers: int, bidirectional: bool, sequences_out: bool = True) -> list:
    """``layers`` tfseq cells, each wrapped in ``Bidirectional`` if asked; all but the last
    return sequences, the last does if ``sequences_out``."""
    if cell not in CELLS:
        raise ValueError(f"Unknown cell={cell!r}: expected one of {sorted(CELLS)}.")
    stack = []
    for index in range(layers):
        layer = CELLS[cell](units, return_sequences=sequences_out or index < layers - 1)
        stack.append(keras.layers.Bidirectional(layer) if bidirectional else layer)
    return stack


def build_once(layer, input_shape):
    """Build ``layer`` unless it is built: a model's ``build()`` may come after a method (decoding)
    already called, and so built, some of its layers."""
    if not layer.built:
        layer.build(input_shape)


def drop_tokens(ids, rate: float, seed_generator):
    """Word dropout (Iyyer et al. 2015): ids become OOV (1) at random; padding stays."""
    drop = keras.random.uniform(ops.shape(ids), seed=seed_generator) < rate
    return ops.where(ops.logical_and(drop, ops.not_equal(ids, 0)), ops.ones_like(ids), ids)


class CarriesPreprocessor:
    """Serialization for models with an attached ``preprocessor`` (a ``TextVectorizer``):
    ``.keras`` files then hold the vocabulary too, and the loaded model takes raw strings."""

    def preprocessor_config(self) -> dict:
        return {"preprocessor": keras.saving.serialize_keras_object(self.preprocessor) if self.preprocessor else None}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("preprocessor"):
            config["preprocessor"] = keras.saving.deserialize_keras_object(config["preprocessor"])
        return cls(**config)
