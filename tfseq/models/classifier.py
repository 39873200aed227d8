"""Many-to-one: a recurrent text classifier (embedding -> cells -> pooling -> head)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfseq import choices
from tfseq.data.preprocessors import TextClassifierPreprocessor, attach
from tfseq.layers import SequencePooling
from tfseq.models.backbone import RecurrentBackbone, backbone_config
from tfseq.models.linear import WEIGHTINGS, BagLinear, LogitMix, fit_expert_weights
from tfseq.models.task_model import TaskModel

HEADS = choices.HEADS


MIX_TEXTS = 50  # fewer validation texts than this: the mix keeps equal weights, not fitted


@keras.saving.register_keras_serializable(package="tfseq")
class TextClassifier(TaskModel):
    """A :class:`RecurrentBackbone` -> pooling -> dense head (keras-hub's ``TextClassifier``).

    Inputs are a dict of id tensors from :class:`~tfseq.data.TextVectorizer` (``tokens`` and
    optional aligned ``ngrams_N``: their embeddings are summed per step, fastText-style; an
    optional ``chars`` bag of character n-grams is read by the wide terms only). With a
    ``preprocessor`` attached, ``fit``/``predict``/``evaluate`` also take raw strings.

    Args:
        backbone: a :class:`RecurrentBackbone` (or its config): the embeddings and recurrent
            stack, taken whole; its ``vocabulary_sizes`` (``{"tokens": V, "ngrams_2": V2, ...,
            "chars": Vc}``, ids incl. padding and OOV) are the inputs' and its ``dropout`` is
            also the pooled features'.
        num_classes: number of labels.
        head: ``"multiclass"`` (softmax), ``"binary"`` (one sigmoid, needs 2 classes) or
            ``"multilabel"`` (one sigmoid per label).
        pooling: ``"last"`` (final state), ``"max"``, ``"mean"``, ``"max+mean"``, ``"attention"``.
        wide: linear bag-of-n-grams terms added to the logits (wide & deep): ``"learned"``
            (trained jointly; ``True`` means this); fitted experts ``"tfidf"``, ``"nb"`` or both,
            ``"tfidf+nb"`` (:class:`BagLinear` layers fitted by scikit-learn before training --
            :func:`fit_tfidf_linear`, :func:`fit_nb_linear` -- and added only at prediction, so
            the recurrent part learns on its own; the mix of their log-odds with the network's
            is ``mix`` (:class:`LogitMix`), ones until :func:`fit_expert_weights` fits it on
            validation data); or ``None``.
        preprocessor: a ``TextClassifierPreprocessor`` (or its ``TextVectorizer``) that maps raw
            strings to the input dict and outputs to labels.

    Example:
        >>> vec = TextVectorizer(split="character"); vec.adapt(texts)
        >>> backbone = RecurrentBackbone(vec.vocabulary_sizes(), cell="lstm", units=64, bidirectional=True)
        >>> model = TextClassifier(backbone, num_classes=2, preprocessor=vec)
        >>> model.compile(); model.fit(np.array(texts), labels)
    """

    reads_text = True  # fit/predict/evaluate take raw strings

    def __init__(
        self, backbone, num_classes, head="multiclass", pooling="max", wide=False, preprocessor=None, **kwargs
    ):
        super().__init__(**kwargs)
        if head not in HEADS:
            raise ValueError(f"Unknown head={head!r}: expected one of {HEADS}.")
        if head == "binary" and num_classes != 2:
            raise ValueError(f"head='binary' needs 2 classes, received num_classes={num_classes}.")
        self.backbone = RecurrentBackbone.wired(backbone, sequences_out=pooling != "last", return_state=False)
        self.vocabulary_sizes = self.backbone.vocabulary_sizes
        self.num_classes, self.head, self.pooling = int(num_classes), head, pooling
        self.dropout_rate = self.backbone.dropout_rate
        self.preprocessor = attach(
            preprocessor, TextClassifierPreprocessor, labels=[str(i) for i in range(num_classes)], head=head
        )
        wide = {True: "learned", False: None, "none": None}.get(wide, wide)
        experts = tuple(wide.split("+")) if wide not in (None, "learned") else ()
        if any(name not in WEIGHTINGS for name in experts) or len(set(experts)) != len(experts):
            raise ValueError(
                f"Unknown wide={wide!r}: expected None, 'learned', or fitted experts "
                f"{' / '.join(WEIGHTINGS)} joined by '+' (e.g. 'tfidf+nb')."
            )
        if experts and head == "multilabel":
            raise ValueError(f"wide={wide!r} fits single-label logistic regressions: not for head='multilabel'.")
        self.wide = wide
        self.pool = None if pooling == "last" else SequencePooling(pooling)
        self.head_dropout = keras.layers.Dropout(self.dropout_rate)
        outputs = 1 if head == "binary" else self.num_classes
        activation = "softmax" if head == "multiclass" else "sigmoid"
        self.classifier = keras.layers.Dense(outputs, dtype="float32", name="head")
        self.activation = keras.layers.Activation(activation, dtype="float32")
        # Wide & deep (Cheng et al. 2016): a linear bag-of-n-grams term added to the logits, so
        # the recurrent part learns what bag-of-words misses (order, negation, long context).
        self.wide_weights = (
            {
                key: keras.layers.Embedding(
                    size, outputs, mask_zero=True, embeddings_initializer="zeros", name=f"wide_{key}"
                )
                for key, size in self.vocabulary_sizes.items()
            }
            if self.wide == "learned"
            else {}
        )
        self.wide_pool = SequencePooling("mean") if self.wide == "learned" else None
        # The experts and their mix are logistic regressions fitted by scikit-learn: float32, as
        # the head, whatever the dtype policy.
        self.experts = {
            name: BagLinear(self.vocabulary_sizes, outputs, weighting=name, name=f"{name}_linear", dtype="float32")
            for name in experts
        }
        self.mix = LogitMix(1 + len(experts), outputs, name="mix", dtype="float32") if experts else None

    def call(self, inputs, training=False):
        if training or not self.experts:
            return self.activation(self.network_logits(self._as_dict(inputs), training=training))
        return self.activation(self.mix(self._parts(inputs)))

    def logit_parts(self, inputs):
        """(batch, 1 + experts, outputs): the network's logits, then each fitted expert's."""
        return ops.stack(self._parts(inputs), axis=1)

    def fit_mix(self, batches, targets, least: int = MIX_TEXTS) -> np.ndarray | None:
        """Stacking: the mix's weights of the network's and each fitted expert's logits, fitted on
        held-out ``batches`` (input dicts, in order) and their class ids ``targets`` (``-1``: a
        label unseen in training, left out) by :func:`fit_expert_weights`. Returns the weights;
        None, and the mix left as it is (equal weights), with fewer than ``least`` such texts: a
        handful fits noise (a 60-row file's 4 validation texts gave every weight 0, a constant
        answer)."""
        known = np.asarray(targets) >= 0
        if known.sum() < least:
            return None
        parts = np.concatenate([np.asarray(self.logit_parts(x)) for x in batches])
        w, b = fit_expert_weights(parts[known], np.asarray(targets)[known], head=self.head)
        self.mix.w.assign(w)
        self.mix.b.assign(b)
        return w

    def _parts(self, inputs):
        """Prediction logits of the network, then of each fitted expert, as a list."""
        inputs = self._as_dict(inputs)
        logits = self.network_logits(inputs, training=False)
        return [logits] + [ops.cast(e(inputs), logits.dtype) for e in self.experts.values()]

    @staticmethod
    def _as_dict(inputs):
        return inputs if isinstance(inputs, dict) else {"tokens": inputs}

    def network_logits(self, inputs, training=False):
        """The recurrent network's logits (with the learned wide term, without fitted experts)."""
        mask = ops.not_equal(inputs["tokens"], 0)
        x = self.backbone(inputs, training=training)
        if self.pool is not None:
            x = self.pool(x, mask=mask)
        x = self.head_dropout(x, training=training)
        logits = self.classifier(x)
        for key, layer in self.wide_weights.items():
            ids = inputs[key]
            logits = logits + ops.cast(self.wide_pool(layer(ids), mask=ops.not_equal(ids, 0)), logits.dtype)
        return logits

    # -- the loss/metrics that fit the head -------------------------------------------------
    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """Defaults: Adam, the cross-entropy of the head, accuracy."""
        if loss is None:
            loss = {
                "binary": "binary_crossentropy",
                "multilabel": "binary_crossentropy",
                "multiclass": "sparse_categorical_crossentropy",
            }[self.head]
        if metrics is None:
            # Named "accuracy" for every head, so logs and callbacks can say "val_accuracy".
            metrics = [
                keras.metrics.BinaryAccuracy(name="accuracy")
                if self.head != "multiclass"
                else keras.metrics.SparseCategoricalAccuracy(name="accuracy")
            ]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        """Re-compile on ``.keras`` load with the saved optimizer, loss and metrics."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "head": self.head,
            "pooling": self.pooling,
            "wide": self.wide,
            **self.preprocessor_config(),
        }

    @classmethod
    def from_config(cls, config):
        return super().from_config(backbone_config(config))
