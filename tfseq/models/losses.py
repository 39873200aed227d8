"""The loss plumbing of models that compute their own loss (``compute_loss`` overrides)."""

from __future__ import annotations

import keras
from keras import ops
from keras.src.losses.loss import scale_loss_for_distribution  # pinned keras 3.15


def masked_mean(values, mask):
    """Mean of ``values`` where ``mask`` is true (0 if nowhere): nats per target token."""
    mask = ops.cast(mask, values.dtype)
    return ops.sum(values * mask) / ops.maximum(ops.sum(mask), 1.0)


def token_cross_entropy(targets, logits):
    """Softmax cross-entropy per step from logits, in nats (targets are class indices)."""
    return keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)


def total_loss(model, loss):
    """``loss`` plus the model's own (regularisation) losses, scaled for ``tf.distribute``: each
    replica returns its share, and the gradients summed over replicas are those of the mean
    (what Keras does for compiled losses; a ``compute_loss`` override must do it itself)."""
    if model.losses:
        loss = loss + ops.sum(model.losses)
    return scale_loss_for_distribution(loss)
