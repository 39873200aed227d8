"""Masked pooling over time: the many-to-one step from a sequence of states to one vector."""

from __future__ import annotations

import keras
from keras import ops

from tfseq import choices

MODES = choices.POOLING


@keras.saving.register_keras_serializable(package="tfseq")
class SequencePooling(keras.layers.Layer):
    """Pool ``(batch, time, features)`` to ``(batch, features)`` ignoring masked steps.

    Args:
        mode: ``"max"``, ``"mean"``, ``"max+mean"`` (both, concatenated) or ``"attention"``
            (a learned query scores each step; softmax over unmasked steps; Yang et al. 2016).
        attention_units: hidden size of the attention scorer.

    A row with no unmasked step pools to zeros.

    Example:
        >>> SequencePooling("mean")(np.ones((2, 5, 3)), mask=np.array([[1,1,0,0,0]] * 2, bool))
    """

    def __init__(self, mode="max", attention_units=64, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"Unknown pooling mode={mode!r}: expected one of {MODES} (or 'last').")
        self.mode = mode
        self.attention_units = attention_units
        self.supports_masking = True
        if mode == "attention":
            self.score_hidden = keras.layers.Dense(attention_units, activation="tanh")
            self.score = keras.layers.Dense(1, use_bias=False)

    def build(self, input_shape):
        if self.mode == "attention":
            self.score_hidden.build(input_shape)
            self.score.build((*input_shape[:-1], self.attention_units))

    def call(self, inputs, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        mask = ops.cast(mask, "bool")
        valid = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        any_valid = ops.cast(ops.any(mask, axis=1, keepdims=True), inputs.dtype)
        pooled = []
        if self.mode in ("max", "max+mean"):
            very_negative = ops.full_like(inputs, -1e9)
            maximum = ops.max(ops.where(ops.expand_dims(mask, -1), inputs, very_negative), axis=1)
            pooled.append(maximum * any_valid)
        if self.mode in ("mean", "max+mean"):
            total = ops.sum(inputs * valid, axis=1)
            pooled.append(total / ops.maximum(ops.sum(valid, axis=1), 1.0))
        if self.mode == "attention":
            scores = ops.squeeze(self.score(self.score_hidden(inputs)), -1)
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
            weights = ops.softmax(scores, axis=-1) * ops.cast(mask, inputs.dtype)
            pooled.append(ops.sum(inputs * ops.expand_dims(weights, -1), axis=1))
        return pooled[0] if len(pooled) == 1 else ops.concatenate(pooled, axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        features = input_shape[-1] * (2 if self.mode == "max+mean" else 1)
        return (input_shape[0], features)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "attention_units": self.attention_units}
