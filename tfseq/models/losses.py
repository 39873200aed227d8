"""The loss plumbing of models that compute their own loss (``compute_loss`` overrides)."""

from __future__ import annotations

import keras
from keras import ops
from keras.src.losses.loss import scale_loss_for_distribution  # pinned keras 3.15


def masked_mean(values, mask):
    """Mean of ``values`` where ``mask`` is true (0 if nowhere): nats per target token."""
    mask = ops.cast(mask, values.dtype)
    return ops.sum(values * mask) / ops.maximum(ops.sum(mask), 1.0)


def token_cross_entropy(targets, logits, label_smoothing=0.0):
    """Softmax cross-entropy per step from logits, in nats (targets are class indices).

    ``label_smoothing`` = e trains towards ``(1 - e)`` on the target and ``e`` spread evenly over
    the whole vocabulary (Szegedy et al. 2016; Vaswani et al. 2017 use 0.1): ``(1 - e)`` times the
    target's cross-entropy plus ``e`` times the mean over the vocabulary of ``-log p``."""
    if not label_smoothing:
        return keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
    log_p = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    target = -ops.squeeze(ops.take_along_axis(log_p, ops.expand_dims(ops.cast(targets, "int32"), -1), axis=-1), -1)
    return (1.0 - label_smoothing) * target - label_smoothing * ops.mean(log_p, axis=-1)


def total_loss(model, loss):
    """``loss`` plus the model's own (regularisation) losses, scaled for ``tf.distribute``: each
    replica returns its share, and the gradients summed over replicas are those of the mean
    (what Keras does for compiled losses; a ``compute_loss`` override must do it itself)."""
    if model.losses:
        loss = loss + ops.sum(model.losses)
    return scale_loss_for_distribution(loss)


def sampled_softmax_cross_entropy(features, targets, kernel, bias, sampled, log_q):
    """Sampled softmax (Jean et al. 2015, as ``tf.nn.sampled_softmax_loss``), in nats per step.

    Each target is scored against ``sampled`` ids (K,), drawn with replacement from ``log_q``
    (log probabilities over the vocabulary, shared by the whole batch), instead of the whole
    vocabulary: ``features`` (..., H) meet K + 1 columns of the output layer's ``kernel`` (H, V)
    and ``bias`` (V,), not V. Every logit is corrected by minus the log of its id's expected
    count in the sample, ``log(K q)``, and a sampled id equal to the step's target is left out
    (an accidental hit), so the gradient approximates the full softmax's. Training only: its
    value is not the full cross-entropy, which evaluation uses.
    """
    features = ops.cast(features, "float32")
    targets = ops.cast(targets, "int32")
    bias = bias - (ops.log(ops.cast(ops.shape(sampled)[0], "float32")) + log_q)  # minus log(K q)
    sampled_logits = ops.matmul(features, ops.take(kernel, sampled, axis=1)) + ops.take(bias, sampled)  # (..., K)
    true_logits = ops.sum(features * ops.take(ops.transpose(kernel), targets, axis=0), axis=-1) + ops.take(
        bias, targets
    )  # (...)
    hit = ops.equal(ops.expand_dims(targets, -1), ops.cast(sampled, "int32"))
    sampled_logits = ops.where(hit, ops.full_like(sampled_logits, -1e9), sampled_logits)
    logits = ops.concatenate([ops.expand_dims(true_logits, -1), sampled_logits], axis=-1)
    return -ops.log_softmax(logits, axis=-1)[..., 0]
