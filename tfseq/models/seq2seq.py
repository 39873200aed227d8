"""Asynchronous many-to-many: an encoder-decoder with attention, trained with teacher forcing.

The encoder reads the source (a word's letters, a sentence's words); the decoder writes the
target one token at a time from ``start`` to ``end``, reading at each step its previous token
and, through attention, every encoder output (Luong et al. 2015, "general" scores). With
several decoder layers the bottom layer asks the question and every layer above it reads the
answer (the attention context) beside the layer below, as in GNMT (Wu et al. 2016): the upper
layers' state then remembers what was attended, which a one-layer Luong decoder only gets from
input feeding, a step-by-step loop that would cost the decoder its one-pass (cuDNN) layers. Training
feeds the decoder the true previous tokens (teacher forcing), so the whole target runs in one
pass; decoding feeds back its own choices through any :mod:`tfseq.decoding` sampler.

Target ids: 0 padding, 1 out of vocabulary, ``start`` (2) and ``end`` (3), then the tokens.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfseq import choices, decoding
from tfseq.data.preprocessors import END, START, Seq2SeqPreprocessor
from tfseq.models.backbone import (
    RecurrentBackbone,
    backbone_config,
    build_once,
    log_frequencies,
    next_token_layer,
    next_token_logits,
    recurrent_stack,
    start_from_prior,
)
from tfseq.models.losses import masked_mean, sampled_softmax_cross_entropy, token_cross_entropy, total_loss
from tfseq.models.task_model import TaskModel
from tfseq.models.traced import in_batches, traced

ATTENTION = choices.ATTENTION


@keras.saving.register_keras_serializable(package="tfseq")
class Seq2Seq(TaskModel):
    """Encoder: a :class:`RecurrentBackbone`; decoder: embedding -> cells -> attention -> softmax.

    ``call({"source": (B, S) ids, "target": (B, T) ids})`` returns ``(B, T, target vocabulary)``
    logits of the next target token; ``fit`` takes the decoder's input (``start`` + target) as
    ``"target"`` and the target + ``end`` as labels (0 = padding, no loss), in nats per token.

    Args:
        backbone: the encoder, a :class:`RecurrentBackbone` (or its config), taken whole: its
            ``tokens`` vocabulary is the source's (padding and OOV included); when
            ``bidirectional`` its outputs are ``2 * units`` wide. The decoder has the backbone's
            ``cell``, ``units``, ``layers``, ``embedding_dim`` and ``dropout`` (on embeddings
            and recurrent outputs), one direction.
        target_vocabulary: number of target ids (padding, OOV, ``start`` and ``end`` included).
        attention: ``"luong"`` (every decoder step reads a weighted sum of the encoder outputs)
            or ``"none"`` (the decoder sees the source only through its initial state).
        dropout: on embeddings and recurrent outputs.
        sampled_softmax: training scores each target token against this many ids drawn from the
            training targets' frequencies (:meth:`start_from_prior`; uniform before it) instead
            of the whole target vocabulary (:func:`~tfseq.models.losses.sampled_softmax_cross_entropy`);
            ``0``: the full softmax. Evaluation, ``predict`` and decoding always use the full one.
        tie_embeddings: the output layer scores each target token with its target embedding
            (:class:`~tfseq.models.backbone.TiedLogits`, Press & Wolf 2017), through a linear map
            from ``units`` down to ``embedding_dim``: fewer weights, a smaller product over the
            target vocabulary.
        label_smoothing: training moves this much of each target token's probability evenly onto
            the whole target vocabulary (:func:`~tfseq.models.losses.token_cross_entropy`);
            validation and ``evaluate`` losses stay the plain cross-entropy. ``0``: off.
        preprocessor: a :class:`~tfseq.data.preprocessors.Seq2SeqPreprocessor`; with it
            :meth:`translate` takes and returns text.

    Example:
        >>> model = Seq2Seq(RecurrentBackbone(30, units=128, bidirectional=True), target_vocabulary=80)
        >>> model.compile(optimizer="adam")
        >>> model.fit({"source": src, "target": tgt_in}, tgt_out)
        >>> model.translate_ids(src, max_length=20, sampler=decoding.BeamSearch(4))
    """

    def __init__(
        self,
        backbone,
        target_vocabulary,
        attention="luong",
        sampled_softmax=0,
        tie_embeddings=False,
        label_smoothing=0.0,
        preprocessor=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if attention not in ATTENTION:
            raise ValueError(f"Unknown attention={attention!r}: expected one of {ATTENTION}.")
        self.target_vocabulary = int(target_vocabulary)
        if self.target_vocabulary <= END:
            raise ValueError(f"target_vocabulary={target_vocabulary} leaves no room for tokens after start/end.")
        self.attention = attention
        self.sampled_softmax, self.tie_embeddings = int(sampled_softmax), bool(tie_embeddings)
        if self.sampled_softmax < 0:
            raise ValueError(f"sampled_softmax={sampled_softmax}: expected a number of ids >= 0 (0: the full softmax).")
        self.label_smoothing = float(label_smoothing)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing={label_smoothing}: expected a fraction in [0, 1).")
        if self.label_smoothing and self.sampled_softmax:
            raise ValueError(
                "label_smoothing spreads probability over the whole target vocabulary, which "
                "sampled_softmax never scores: set one of them to 0."
            )
        self.sample_seed = keras.random.SeedGenerator() if self.sampled_softmax else None
        self.preprocessor = preprocessor
        self.make_encoder(backbone)
        self.target_embedding = keras.layers.Embedding(
            self.target_vocabulary, self.embedding_dim, mask_zero=True, name="embed_target"
        )
        self.decoder = recurrent_stack(self.cell, self.units, self.num_layers, bidirectional=False)
        for layer in self.decoder:
            layer.return_state = True
        # The decoder starts from the encoder's summary (its masked mean), one state per layer.
        self.bridge = keras.layers.Dense(self.units, activation="tanh", name="bridge")
        self.dropout = keras.layers.Dropout(self.dropout_rate)
        if attention == "luong":
            self.query = keras.layers.Dense(self.memory_width, use_bias=False, name="attention_query")
            self.combine = keras.layers.Dense(self.units, activation="tanh", name="attention_combine")
        self.logits = next_token_layer(self.target_vocabulary, self.embedding_dim, self.tie_embeddings)

    # -- the encoder: what a subclass with another kind of source replaces ------------------
    def make_encoder(self, backbone):
        """``self.encoder``: ``backbone`` wired to read the source; the decoder's settings follow it."""
        self.encoder = RecurrentBackbone.wired(backbone, name="encoder", sequences_out=True, return_state=False)
        self.decoder_like(self.encoder.get_config())

    def decoder_like(self, config):
        """The decoder's ``cell``, ``units``, ``layers``, ``embedding_dim`` and ``dropout`` are
        those of ``config`` (a backbone's); ``bidirectional`` is the encoder's."""
        self.cell, self.units, self.num_layers = config["cell"], int(config["units"]), int(config["layers"])
        self.bidirectional, self.embedding_dim = bool(config["bidirectional"]), int(config["embedding_dim"])
        self.dropout_rate = float(config["dropout"])

    def encoder_config(self) -> dict:
        """What :meth:`get_config` saves of the encoder."""
        return {"backbone": keras.saving.serialize_keras_object(self.encoder)}

    @property
    def backbone(self):
        """The encoder (keras-hub's name for the part a task model takes whole)."""
        return self.encoder

    def build_encoder(self, source_shape=None):
        build_once(self.encoder, (None, None))

    @property
    def memory_width(self) -> int:
        """Features per encoder output (what attention reads)."""
        return self.units * (2 if self.bidirectional else 1)

    def encode_memory(self, source, training=False):
        """``(memory (B, S, memory_width), mask (B, S))``: the encoder outputs attention reads."""
        return self.encoder(source, training=training), ops.not_equal(source, 0)

    def build(self, input_shape=None):
        self.build_encoder(input_shape.get("source") if isinstance(input_shape, dict) else None)
        build_once(self.target_embedding, (None, None))
        build_once(self.bridge, (None, self.memory_width))
        width = self.embedding_dim
        for layer in self.decoder:
            build_once(layer, (None, None, width))
            width = self.units + (self.memory_width if self.attention == "luong" else 0)  # upper layers
        if self.attention == "luong":
            build_once(self.query, (None, None, self.units))
            build_once(self.combine, (None, None, self.units + self.memory_width))
        build_once(self.logits, (None, None, self.units))
        if self.sampled_softmax and not hasattr(self, "proposal"):
            # What sampled_softmax draws from: log probabilities over the target ids (padding never).
            uniform = np.full(self.target_vocabulary, -np.log(self.target_vocabulary - 1.0), "float32")
            uniform[0] = -1e9
            self.proposal = self.add_weight(
                shape=(self.target_vocabulary,),
                initializer=lambda shape, dtype: uniform,
                dtype="float32",
                trainable=False,
                name="sampling_log_q",
            )
        self.built = True

    # -- the two halves ---------------------------------------------------------------------
    def encode(self, source, training=False):
        """``[decoder states per layer, memory (B, S, width), memory mask (B, S)]``: the state
        the decoder starts from (any nest rides along in :mod:`tfseq.decoding`'s loops)."""
        x, mask = self.encode_memory(source, training)
        weights = ops.cast(mask, x.dtype)[:, :, None]
        summary = ops.sum(x * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)
        start = self.bridge(summary)
        states = [[start for _ in layer.cell.get_initial_state(1)] for layer in self.decoder]
        return [states, x, ops.cast(mask, "float32")]

    def decode(self, target, state, training=False):
        """Logits ``(B, T, V)`` for the decoder inputs ``target`` from ``state``; and the new state."""
        features, state = self.decode_features(target, state, training)
        return self.output_logits(features), state

    def decode_features(self, target, state, training=False):
        """What the output layer reads, ``(B, T, units)``, for the decoder inputs ``target``; and the new state."""
        states, memory, memory_mask = state
        mask = ops.not_equal(target, 0)
        x = self.dropout(self.target_embedding(target), training=training)
        new_states, context = [], None
        for index, layer in enumerate(self.decoder):
            if context is not None:  # layers above the first read the context beside the layer below
                x = ops.concatenate([x, context], axis=-1)
            x, *layer_state = layer(x, initial_state=states[index], mask=mask, training=training)
            x = self.dropout(x, training=training)
            new_states.append(layer_state)
            if index == 0 and self.attention == "luong":
                context = self.attend(x, memory, memory_mask)
        if context is not None:
            x = self.dropout(self.combine(ops.concatenate([x, context], axis=-1)), training=training)
        return x, [new_states, memory, memory_mask]

    def attend(self, query, memory, memory_mask):
        """Luong "general" attention: ``(B, T, memory_width)`` weighted sums of ``memory``."""
        scores = ops.matmul(self.query(query), ops.transpose(memory, (0, 2, 1)))  # (B, T, S)
        scores = ops.where(ops.cast(memory_mask[:, None, :], "bool"), scores, -1e9)
        context = ops.matmul(ops.softmax(ops.cast(scores, "float32"), axis=-1), ops.cast(memory, "float32"))
        return ops.cast(context, query.dtype)

    def call(self, inputs, training=False):
        """Next-token logits ``(B, T, V)``; in training with ``sampled_softmax``, the features the
        output layer would read (``compute_loss`` meets them with a sample of its columns)."""
        features, _ = self.decode_features(inputs["target"], self.encode(inputs["source"], training), training)
        return features if training and self.sampled_softmax else self.output_logits(features)

    def output_logits(self, features):
        """``(..., target vocabulary)`` scores from decoder features."""
        return next_token_logits(self.logits, features, self.target_embedding)

    def output_weights(self, features):
        """``(features, kernel, bias)`` with ``features @ kernel + bias`` the scores: what a
        sampled softmax reads a few columns of (tied: the projected features and the table)."""
        if self.tie_embeddings:
            return self.logits.project(features), ops.transpose(self.target_embedding.embeddings), self.logits.bias
        return features, self.logits.kernel, self.logits.bias

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Cross-entropy in nats per (non-padding) target token (in training sampled or
        label-smoothed, if asked)."""
        targets = ops.cast(y, "int32")
        if training and self.sampled_softmax:
            sampled = keras.random.categorical(self.proposal[None, :], self.sampled_softmax, seed=self.sample_seed)[0]
            features, kernel, bias = self.output_weights(y_pred)
            per_step = sampled_softmax_cross_entropy(
                features, targets, kernel, bias, ops.stop_gradient(sampled), self.proposal
            )
        else:
            per_step = token_cross_entropy(targets, y_pred, self.label_smoothing if training else 0.0)
        return total_loss(self, masked_mean(per_step, ops.not_equal(targets, 0)))

    def start_from_prior(self, targets):
        """The output bias starts at the training targets' add-one log token frequencies
        (:func:`tfseq.models.backbone.start_from_prior`). ``targets``: rows of target ids."""
        start_from_prior(self.logits, targets)
        if self.sampled_softmax:  # and sampled_softmax draws by the same frequencies
            q = np.exp(log_frequencies(targets, self.target_vocabulary))
            q[0] = 0.0
            self.proposal.assign(np.log(np.maximum(q / q.sum(), 1e-30)).astype("float32"))
        return self

    # -- decoding ---------------------------------------------------------------------------
    def next_token(self, ids, state):
        """One decoder step for :mod:`tfseq.decoding`: ``int32[batch]`` -> logits, state."""
        logits, state = self.decode(ids[:, None], state)
        return logits[:, 0], state

    def translate_ids(self, source, max_length: int, sampler=None):
        """``int32[batch, max_length]`` target ids (``end`` included, then 0) for ``source`` ids."""
        sampler = decoding.resolve(sampler, "greedy")[0]
        state = self.encode(source)
        logits, state = self.next_token(ops.full((ops.shape(source)[0],), START, "int32"), state)
        return sampler(self.next_token, logits, state, max_length, END)

    def translate_n_best(self, source, max_length: int, sampler, n: int):
        """The ``n`` best targets of a beam ``sampler`` for ``source`` ids: ``int32[batch, n,
        max_length]`` ids and ``float32[batch, n]`` log-probabilities, best first."""
        state = self.encode(source)
        logits, state = self.next_token(ops.full((ops.shape(source)[0],), START, "int32"), state)
        return sampler.n_best(self.next_token, logits, state, max_length, END, n)

    def translate(self, texts, max_length=50, sampler=None, batch_size=256, **options) -> list[str]:
        """Targets for raw source texts (needs the preprocessors), batched by source length.
        ``sampler``: a :mod:`tfseq.decoding` sampler, or its name with ``options`` (``"beam",
        beams=8``; ``no_repeat_ngram_size=3``); default: greedy."""
        source = self.preprocessor.inputs(texts)["tokens"]
        sampler, _ = decoding.resolve(sampler, "greedy", **options)
        return self.texts(self.translate_source_ids(source, max_length, sampler, batch_size))

    generate = translate  # keras-hub's name for it

    def translate_source_ids(self, source, max_length=50, sampler=None, batch_size=256) -> np.ndarray:
        """:meth:`translate_ids` over many rows of source ids, traced once, batched by length."""
        sampler, name = decoding.resolve(sampler, "greedy")
        key = f"translate-{name}-{max_length}"
        run = traced(self, key, lambda batch: self.translate_ids(batch, max_length, sampler))
        return in_batches(run, np.asarray(source, "int32"), batch_size, by_length=True).reshape(-1, max_length)

    def detokenize(self, ids):
        """Target ids -> text, ``string[batch]``: the preprocessor's ``postprocess`` (graph ops)."""
        return self.preprocessor.postprocess(ids)

    def texts(self, ids) -> list[str]:
        """:meth:`detokenize` as Python strings."""
        return [text.decode("utf-8") for text in self.detokenize(ops.convert_to_numpy(ids)).numpy()]

    def get_config(self):
        return {
            **super().get_config(),
            **self.encoder_config(),
            "target_vocabulary": self.target_vocabulary,
            "attention": self.attention,
            "sampled_softmax": self.sampled_softmax,
            "tie_embeddings": self.tie_embeddings,
            "label_smoothing": self.label_smoothing,
            **self.preprocessor_config(),
        }

    @classmethod
    def from_config(cls, config):
        config = backbone_config(config, "source_vocabulary")
        source, target = config.pop("source_preprocessor", None), config.pop("target_preprocessor", None)
        if target:  # saved before preprocessors: the two vectorizers
            config["preprocessor"] = Seq2SeqPreprocessor(source, target)
        return super().from_config(config)
