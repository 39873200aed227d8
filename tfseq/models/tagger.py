"""Synchronous many-to-many: a recurrent sequence tagger (a label per step), with a CRF on top.

Tag ids follow the data layer's id sequences: ``1..num_tags`` are tags and ``0`` is padding,
so per-step targets from :func:`tfseq.data.make_dataset` train it as they come.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfseq.data.preprocessors import TokenTaggerPreprocessor, attach
from tfseq.layers import CRF
from tfseq.models.backbone import RecurrentBackbone, backbone_config
from tfseq.models.losses import masked_mean, token_cross_entropy, total_loss
from tfseq.models.task_model import TaskModel
from tfseq.models.traced import traced


@keras.saving.register_keras_serializable(package="tfseq")
class SequenceTagger(TaskModel):
    """A :class:`RecurrentBackbone` -> a score per tag and step -> CRF (keras-hub's token
    classifier, with Lample et al.'s CRF).

    ``call`` returns the per-step tag scores (emissions, ``(batch, time, num_tags)``), on which
    the loss is taken: the CRF's negative log-likelihood (``crf=True``; Lample et al. 2016) or
    per-step softmax cross-entropy (``crf=False``), in nats per tagged step. :meth:`tag`
    returns the best tag ids (Viterbi with the CRF, per-step argmax without), 0 at padding.

    Args:
        backbone: a :class:`RecurrentBackbone` (or its config), taken whole: its
            ``vocabulary_sizes`` are the inputs' (aligned keys are summed; ``token_chars`` feed
            its ``char_cnn``), its ``dropout`` is also the emissions' input's.
        num_tags: number of tags (ids ``1..num_tags``; 0 is padding).
        crf: a linear-chain CRF over the emissions (:class:`~tfseq.layers.CRF`).
        preprocessor: a ``TokenTaggerPreprocessor`` (or its ``TextVectorizer``); then ``fit``,
            ``predict``, ``evaluate`` and :meth:`tag` also take raw strings.

    Example:
        >>> model = SequenceTagger(RecurrentBackbone({"tokens": 5000}, bidirectional=True), num_tags=9)
        >>> model.compile(optimizer="adam")
        >>> model.fit(ids, tag_ids)      # (batch, time) each, 0 = padding
        >>> model.tag(ids)               # (batch, time) best tag ids
    """

    reads_text = True  # fit/predict/evaluate take raw strings

    def __init__(self, backbone, num_tags, crf=True, preprocessor=None, **kwargs):
        super().__init__(**kwargs)
        if int(num_tags) < 1:
            raise ValueError(f"num_tags must be >= 1, got {num_tags}.")
        self.backbone = RecurrentBackbone.wired(backbone, sequences_out=True, return_state=False)
        self.vocabulary_sizes, self.dropout_rate = self.backbone.vocabulary_sizes, self.backbone.dropout_rate
        self.num_tags, self.use_crf = int(num_tags), bool(crf)
        self.preprocessor = attach(
            preprocessor, TokenTaggerPreprocessor, tags=[str(i) for i in range(1, self.num_tags + 1)]
        )
        self.output_dropout = keras.layers.Dropout(self.dropout_rate)
        self.emission = keras.layers.Dense(self.num_tags, dtype="float32", name="emissions")
        # float32 under mixed precision too: the forward algorithm's log-sum-exps over long
        # sentences need its range and precision.
        self.crf = CRF(self.num_tags, name="crf", dtype="float32") if self.use_crf else None
        if self.crf is not None:
            self.crf.build()  # call() stops at the emissions: the loss and decode() use the CRF

    def call(self, inputs, training=False):
        x = self.backbone(inputs, training=training)
        return self.emission(self.output_dropout(x, training=training))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Nats per tagged step: the CRF's negative log-likelihood, or softmax cross-entropy."""
        tags = ops.cast(y, "int32")
        # Targets may be padded to another width than the inputs (a batch's longest tag row can
        # end in 0s): align them with the emissions' steps.
        steps = ops.shape(y_pred)[1]
        tags = ops.pad(tags[:, :steps], [[0, 0], [0, steps - ops.shape(tags[:, :steps])[1]]])
        mask = ops.not_equal(tags, 0)
        index = ops.maximum(tags - 1, 0)  # tag ids 1..K -> 0..K-1; padding is masked anyway
        if self.crf is not None:
            tagged = ops.maximum(ops.sum(ops.cast(mask, "float32")), 1.0)
            loss = -ops.sum(self.crf.log_likelihood(y_pred, index, mask)) / tagged
        else:
            loss = masked_mean(token_cross_entropy(index, y_pred), mask)
        return total_loss(self, loss)

    def decode(self, emissions, mask):
        """Best tag ids ``1..num_tags`` per step from emissions, 0 where ``mask`` is False."""
        mask = ops.cast(mask, "bool")
        best = self.crf(emissions, mask=mask) if self.crf is not None else ops.argmax(emissions, axis=-1)
        return ops.where(mask, ops.cast(best, "int32") + 1, ops.zeros_like(best, "int32"))

    def confidence(self, emissions, mask, best):
        """The probability of each step's chosen tag (``best``: ids ``1..num_tags``, 0 masked):
        the CRF's marginal (:meth:`~tfseq.layers.CRF.marginals`), or the softmax without one;
        0 where ``mask`` is False."""
        mask = ops.cast(mask, "bool")
        p = (
            self.crf.marginals(emissions, mask)
            if self.crf is not None
            else ops.softmax(ops.cast(emissions, "float32"), axis=-1)
        )
        chosen = ops.take_along_axis(p, ops.maximum(ops.cast(best, "int32") - 1, 0)[..., None], axis=-1)[..., 0]
        return ops.where(mask, chosen, ops.zeros_like(chosen))

    def tag(self, x, batch_size=256):
        """Tag ids for a dict of id arrays, an id array, or (with a preprocessor) raw strings."""
        if (
            self.preprocessor is not None
            and isinstance(x, (list, tuple, np.ndarray))
            and len(x)
            and isinstance(np.asarray(x, dtype=object).ravel()[0], str)
        ):
            x = self.preprocessor.inputs(x)
        x = x if isinstance(x, dict) else {"tokens": np.asarray(x)}
        tokens = np.asarray(x["tokens"])
        # Traced once: under TensorFlow the CRF's scans run ~30x slower op by op.
        step = traced(
            self, "tag", lambda batch: self.decode(self(batch, training=False), ops.not_equal(batch["tokens"], 0))
        )
        out = np.zeros(tokens.shape, "int32")
        # Sentences of similar length share a batch, padded only to their own longest.
        lengths = (tokens != 0).sum(axis=1)
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(int(lengths[rows].max()), 1)
            batch = {k: id_rows(v, rows, width) for k, v in x.items()}
            out[rows, :width] = ops.convert_to_numpy(step(batch))
        return out

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_tags": self.num_tags,
            "crf": self.use_crf,
            **self.preprocessor_config(),
        }

    @classmethod
    def from_config(cls, config):
        return super().from_config(backbone_config(config))


def id_rows(ids, rows, width):
    """Rows ``rows`` of an id array cut to ``width`` steps; ragged ``token_chars`` (held without
    padding, see ``Preprocessor.inputs(ragged=True)``) padded to those rows' longest word."""
    if hasattr(ids, "flat_values"):
        import tensorflow as tf

        dense = tf.gather(ids, rows).to_tensor(0).numpy()[:, :width]
        return np.pad(dense, ((0, 0), (0, width - dense.shape[1]), (0, max(1 - dense.shape[2], 0))))
    return np.asarray(ids)[rows, :width]
