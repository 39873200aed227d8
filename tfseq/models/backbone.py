"""The part every task model shares: :class:`RecurrentBackbone`, token ids -> summed
embeddings -> (stacked, bidirectional) tfseq cells -> per-step features; and the helpers of
the models' own parts (decoders, builds, a preprocessor carried in ``.keras`` files).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfseq import choices
from tfseq.data.vectorize import TOKEN_CHARS, aligned_keys
from tfseq.layers import recurrent_layer

CHAR_DIM = 32  # the width of a character CNN's character embeddings (Ma & Hovy 2016: 30)


@keras.saving.register_keras_serializable(package="tfseq")
class PartlyFixedEmbedding(keras.layers.Layer):
    """An embedding whose last ``fixed`` rows are not trained: the words a pretrained file added
    to the vocabulary (``model.embeddings_vocabulary``) keep their vectors, and have no gradient,
    optimizer state or update: a table of 100k GloVe words costs a training step no more than
    the training vocabulary's own. Weights: ``embeddings`` (trainable, ``input_dim - fixed``
    rows) and ``fixed_embeddings``; id ``i`` reads the row ``i`` of the two stacked."""

    def __init__(
        self, input_dim, output_dim, fixed, embeddings_initializer="uniform", fixed_initializer="uniform", **kwargs
    ):
        super().__init__(**kwargs)
        self.input_dim, self.output_dim, self.fixed = int(input_dim), int(output_dim), int(fixed)
        if not 0 < self.fixed < self.input_dim:
            raise ValueError(f"fixed must be in (0, input_dim={self.input_dim}), received fixed={fixed}.")
        self.initializers = (keras.initializers.get(embeddings_initializer), keras.initializers.get(fixed_initializer))

    def build(self, input_shape=None):
        trained = self.input_dim - self.fixed
        self.embeddings = self.add_weight(
            shape=(trained, self.output_dim), initializer=self.initializers[0], name="embeddings"
        )
        self.fixed_embeddings = self.add_weight(
            shape=(self.fixed, self.output_dim),
            initializer=self.initializers[1],
            trainable=False,
            name="fixed_embeddings",
        )

    def call(self, ids):
        ids = ops.cast(ids, "int32")
        trained = self.input_dim - self.fixed
        own = ops.take(self.embeddings, ops.minimum(ids, trained - 1), axis=0)
        added = ops.take(self.fixed_embeddings, ops.maximum(ids - trained, 0), axis=0)
        return ops.cast(ops.where(ops.expand_dims(ids >= trained, -1), added, own), self.compute_dtype)

    def get_config(self):  # the initial values are weights: a loaded layer starts uniform, then reads them
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim, "fixed": self.fixed}


def token_embeddings(vocabulary_sizes: dict, dim: int, matrix=None, char_cnn: int = 0, fixed_tokens: int = 0) -> dict:
    """One ``Embedding`` per key aligned with the tokens (``tokens``, ``ngrams_N``,
    ``token_chars``); id 0 masks. ``matrix``: initial ``tokens`` vectors (see
    :func:`tfseq.models.read_word_vectors`); ``char_cnn``: ``token_chars`` feed a CNN, in
    ``CHAR_DIM`` wide embeddings; ``fixed_tokens``: the last ``fixed_tokens`` token ids keep
    their initial vectors (:class:`PartlyFixedEmbedding`).
    """
    layers = {}
    for key in aligned_keys(vocabulary_sizes):
        if key == "tokens" and fixed_tokens:
            split = vocabulary_sizes[key] - fixed_tokens
            inits = (
                ("uniform", "uniform")
                if matrix is None
                else (
                    keras.initializers.Constant(np.asarray(matrix)[:split]),
                    keras.initializers.Constant(np.asarray(matrix)[split:]),
                )
            )
            layers[key] = PartlyFixedEmbedding(vocabulary_sizes[key], dim, fixed_tokens, *inits, name=f"embed_{key}")
            continue
        init = "uniform"
        if key == "tokens" and matrix is not None:
            init = keras.initializers.Constant(np.asarray(matrix))
        width = CHAR_DIM if key == TOKEN_CHARS and char_cnn else dim
        layers[key] = keras.layers.Embedding(
            vocabulary_sizes[key], width, mask_zero=True, embeddings_initializer=init, name=f"embed_{key}"
        )
    return layers


def embed(embeddings: dict, inputs: dict, char_conv=None):
    """The tokens' embeddings plus their aligned n-grams', and each token's own characters
    (``token_chars``): the mean of their n-grams' embeddings (fastText's subwords), added; or,
    with ``char_conv`` (a ``Conv1D``), the max over the token's characters of a convolution of
    their embeddings (Ma & Hovy 2016), concatenated. ``(batch, time, features)``."""
    x = embeddings["tokens"](inputs["tokens"])
    for key, layer in embeddings.items():
        if key == TOKEN_CHARS:
            ids = inputs[key]
            if char_conv is not None:  # one more padding column: empty texts still have one to max over
                ids = ops.pad(ids, [[0, 0], [0, 0], [0, 1]])
            grams = layer(ids)  # (batch, time, grams, dim)
            present = ops.expand_dims(ops.cast(ops.not_equal(ids, 0), grams.dtype), -1)
            if char_conv is None:
                x = x + ops.sum(grams * present, axis=2) / ops.maximum(ops.sum(present, axis=2), 1.0)
                continue
            batch, time, width = ops.shape(ids)[0], ops.shape(ids)[1], ops.shape(ids)[2]
            # Padding reads as zeros, as beyond the ends ("same" padding): wider batches change nothing.
            features = char_conv(ops.reshape(grams * present, (-1, width, CHAR_DIM)))
            features = ops.reshape(features, (batch, time, width, char_conv.filters))
            lowest = ops.convert_to_tensor(-1e9, features.dtype)
            best = ops.max(ops.where(present > 0, features, lowest), axis=2)
            x = ops.concatenate([x, ops.where(best > -1e8, best, ops.zeros_like(best))], axis=-1)
        elif key != "tokens":
            x = x + layer(inputs[key])
    return x


def recurrent_stack(
    cell: str, units: int, layers: int, bidirectional: bool, sequences_out: bool = True, weight_dropout: float = 0.0
) -> list:
    """``layers`` tfseq cells, each wrapped in ``Bidirectional`` if asked; all but the last
    return sequences, the last does if ``sequences_out``."""
    stack = []
    for index in range(layers):
        layer = recurrent_layer(
            cell, units, return_sequences=sequences_out or index < layers - 1, weight_dropout=weight_dropout
        )
        stack.append(keras.layers.Bidirectional(layer) if bidirectional else layer)
    return stack


def build_once(layer, input_shape):
    """Build ``layer`` unless it is built: a model's ``build()`` may come after a method (decoding)
    already called, and so built, some of its layers."""
    if not layer.built:
        layer.build(input_shape)


@keras.saving.register_keras_serializable(package="tfseq")
class TiedLogits(keras.layers.Layer):
    """A score for every token from that token's own input embedding: ``x P E^T + b``.

    Weight tying (Press & Wolf 2017; Inan et al. 2017): the output layer reads the embedding
    table ``E`` (``vocabulary x embedding_dim``, owned by the embedding layer) instead of a
    matrix of its own, so a token seen as input and a token predicted share one vector, the
    model has ``vocabulary x width`` fewer weights to overfit with, and when the features are
    wider than the embeddings (``P``: a linear map down to ``embedding_dim``) the largest matrix
    product of a step, the one over the vocabulary, shrinks by that ratio. This layer owns only
    ``P`` (none when the widths match) and the bias ``b``; it keeps a ``Dense``'s ``units`` and
    ``bias`` so :func:`start_from_prior` sets it alike. Computed in float32 (as the softmax).

    Call arguments:
        inputs: ``(..., width)`` features.
        embeddings: the ``(vocabulary, embedding_dim)`` table (an ``Embedding``'s ``embeddings``).
    """

    def __init__(self, units, embedding_dim, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.units, self.embedding_dim = int(units), int(embedding_dim)
        self.supports_masking = True  # as a Dense: the padding mask passes through

    def build(self, input_shape):
        width = int(input_shape[-1])
        self.projection = (
            None
            if width == self.embedding_dim
            else self.add_weight(shape=(width, self.embedding_dim), initializer="glorot_uniform", name="projection")
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        self.built = True

    def call(self, inputs, embeddings):
        return ops.matmul(self.project(inputs), ops.transpose(ops.cast(embeddings, self.compute_dtype))) + self.bias

    def project(self, inputs):
        """The features down to ``embedding_dim``: what meets the table (``x P``)."""
        x = ops.cast(inputs, self.compute_dtype)
        return x if self.projection is None else ops.matmul(x, self.projection)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "embedding_dim": self.embedding_dim}


def next_token_layer(vocabulary: int, embedding_dim: int, tied: bool):
    """The output layer of a model that predicts tokens, named ``next_token``: a float32
    ``Dense`` over the vocabulary, or with ``tied`` a :class:`TiedLogits` on the embedding table
    (score with :func:`next_token_logits`)."""
    if tied:
        return TiedLogits(vocabulary, embedding_dim, name="next_token")
    return keras.layers.Dense(vocabulary, dtype="float32", name="next_token")


def next_token_logits(layer, features, embedding):
    """``layer``'s scores for ``features``; a :class:`TiedLogits` reads ``embedding``'s table."""
    if isinstance(layer, TiedLogits):
        return layer(features, embedding.embeddings)
    return layer(features)


def start_from_prior(logits, targets):
    """Set a softmax layer's (a ``Dense``'s or :class:`TiedLogits`') bias to the log
    frequencies of the training targets' tokens (ids ``> 0``; add-one smoothed; padding 0 gets
    the smallest share), so the untrained model already predicts their unigram distribution.
    From the default bias (zeros: a uniform guess over a few thousand tokens) Adam moves each
    logit by about its learning rate per step, and a model spends its first epoch learning only
    those frequencies: a translation model on 8,000 subwords (Debian's English -> French
    descriptions) had validation loss 6.53 after 400 steps against 4.97 from the prior; the
    ``text-zh`` character language model (4,568 characters) 5.14 after 900 steps against 4.53.
    ``targets``: a stream of ids, or rows of ids (ragged or padded).
    """
    logits.bias.assign(log_frequencies(targets, int(logits.units)).astype(logits.bias.dtype))


def log_frequencies(targets, size: int) -> np.ndarray:
    """``float64[size]``: the add-one log frequencies of the ids ``> 0`` in ``targets`` (a stream
    of ids, or rows of ids, ragged or padded); padding 0 gets the smallest share."""
    if isinstance(targets, np.ndarray) or not len(targets):
        ids = np.asarray(targets, "int64").ravel()
    else:  # rows, perhaps of different lengths
        ids = np.concatenate([np.asarray(row, "int64").ravel() for row in targets])
    counts = np.bincount(ids[ids > 0], minlength=size)[:size] + 1.0
    counts[0] = 1.0  # padding: never a label
    return np.log(counts / counts.sum())


def drop_tokens(ids, rate: float, seed_generator, among=None):
    """Word dropout (Iyyer et al. 2015): ids become OOV (1) at random; padding stays. ``among``:
    ``(start, stop)``, only ids in that range may (the rare words, Lample et al. 2016)."""
    drop = keras.random.uniform(ops.shape(ids), seed=seed_generator) < rate
    droppable = ops.not_equal(ids, 0) if among is None else ops.logical_and(ids >= among[0], ids < among[1])
    return ops.where(ops.logical_and(drop, droppable), ops.ones_like(ids), ids)


@keras.saving.register_keras_serializable(package="tfseq")
class RecurrentBackbone(keras.layers.Layer):
    """Token ids -> per-step features: the embeddings and recurrent stack of every task model
    (keras-hub's backbone; the classifier pools it, the tagger tags each step, the language
    model predicts the next token from it, seq2seq attends over it).

    Args:
        vocabulary_sizes: ``{"tokens": n, "ngrams_2": m, ...}`` (a ``TextVectorizer``'s
            ``vocabulary_sizes()``; its ``chars`` bag is not read here), or an int: tokens only.
            Each aligned key has an embedding; they are summed (fastText-style).
        cell: ``rnn``, ``lstm`` or ``gru`` (:mod:`tfseq.layers`); ``units`` per direction.
        layers, bidirectional: the stack; ``embedding_dim``: the embeddings' width.
        dropout: rate on the embeddings and, with ``between_layers``, on each layer's output.
        weight_dropout: in training, this fraction of each recurrent kernel's weights is dropped,
            one mask per batch for every step (Merity et al. 2018's weight drop; cuDNN still runs).
        spatial: drop whole embedding channels (``SpatialDropout1D``), not single values.
        token_dropout: in training, replace this fraction of ids by the OOV id (Iyyer et al. 2015).
        rare_dropout: in training, replace each of the ``rare_tokens`` by the OOV id with this
            chance (Lample et al. 2016: the words seen once, at 0.5), so that the model learns
            what to make of words it does not know from their characters and context.
        rare_tokens: how many token ids, the last before the ``fixed_tokens``, are rare (the
            words seen once in training: a ``TextVectorizer``'s ``singletons``).
        char_cnn: filters of a character CNN over each token's ``token_chars`` (width 3, max
            over the token; Ma & Hovy 2016), concatenated to its embedding; 0: their mean, added.
        embedding_matrix: initial ``tokens`` vectors (:func:`tfseq.models.read_word_vectors`).
        fixed_tokens: the last this many token ids keep their initial vectors, untrained (the
            words an embedding file added to the vocabulary; :class:`PartlyFixedEmbedding`).
        sequences_out: the last layer returns every step (else its final output).
        return_state: the call also returns each layer's final states (to carry on, or decode).

    Call arguments:
        inputs: ``int[batch, time]`` ids (0: padding, masked) or a dict of aligned id arrays.
        initial_state: a list of per-layer states (``return_state`` backbones).

    Example:
        >>> backbone = RecurrentBackbone({"tokens": 100}, cell="lstm", units=8, embedding_dim=4)
        >>> backbone(np.array([[5, 6, 0]])).shape
        (1, 3, 8)
    """

    def __init__(
        self,
        vocabulary_sizes,
        cell="gru",
        units=128,
        layers=1,
        bidirectional=False,
        embedding_dim=128,
        dropout=0.0,
        spatial=False,
        between_layers=False,
        token_dropout=0.0,
        embedding_matrix=None,
        sequences_out=True,
        return_state=False,
        char_cnn=0,
        fixed_tokens=0,
        rare_dropout=0.0,
        rare_tokens=0,
        weight_dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(vocabulary_sizes, int):
            vocabulary_sizes = {"tokens": vocabulary_sizes}
        self.vocabulary_sizes = {str(k): int(v) for k, v in vocabulary_sizes.items()}
        if "tokens" not in self.vocabulary_sizes:
            raise ValueError("vocabulary_sizes must include 'tokens'.")
        self.cell, self.units, self.num_layers = cell, int(units), int(layers)
        self.bidirectional, self.embedding_dim = bool(bidirectional), int(embedding_dim)
        self.dropout_rate, self.spatial, self.between_layers = float(dropout), bool(spatial), bool(between_layers)
        self.token_dropout, self.char_cnn, self.fixed_tokens = float(token_dropout), int(char_cnn), int(fixed_tokens)
        self.sequences_out, self.return_state = bool(sequences_out), bool(return_state)
        self.rare_dropout, self.rare_tokens = float(rare_dropout), int(rare_tokens)
        self.weight_dropout = float(weight_dropout)
        self.embeddings = token_embeddings(
            self.vocabulary_sizes, self.embedding_dim, embedding_matrix, self.char_cnn, self.fixed_tokens
        )
        self.char_conv = (
            keras.layers.Conv1D(self.char_cnn, 3, padding="same", name="char_cnn")
            if (self.char_cnn and TOKEN_CHARS in self.embeddings)
            else None
        )
        dropout_layer = keras.layers.SpatialDropout1D if self.spatial else keras.layers.Dropout
        self.embedding_dropout = dropout_layer(self.dropout_rate)
        self.recurrent = recurrent_stack(
            cell, self.units, self.num_layers, self.bidirectional, self.sequences_out, self.weight_dropout
        )
        for layer in self.recurrent:
            layer.return_state = self.return_state
        self.layer_dropouts = (
            [keras.layers.Dropout(self.dropout_rate) for _ in self.recurrent] if self.between_layers else []
        )
        self.seed_generator = keras.random.SeedGenerator(0) if self.token_dropout or self.rare_dropout else None

    # What the task model that holds the backbone needs its call to return, set by that model, not
    # chosen by a user: a recipe's ``backbone:`` section is :meth:`get_config` without these,
    # ``vocabulary_sizes`` and ``fixed_tokens`` (both from the data).
    WIRING = ("sequences_out", "return_state")

    @classmethod
    def wired(cls, backbone, name="backbone", **wiring):
        """``backbone`` (a :class:`RecurrentBackbone`, its config, or a serialized one) wired as a
        task model needs it (``WIRING`` keys): the same object when it is, else a backbone of the
        same config and weights wired so (``wiring`` changes no weight)."""
        if isinstance(backbone, dict):
            config = dict(backbone.get("config", {})) if "class_name" in backbone else dict(backbone)
            return cls.from_config({**config, **wiring, "name": name})
        if not isinstance(backbone, cls):
            raise TypeError(f"backbone must be a RecurrentBackbone or its config, received {type(backbone).__name__}.")
        config = backbone.get_config()
        if all(config[key] == value for key, value in wiring.items()):
            return backbone
        if not backbone.built:
            backbone.build()
        rewired = cls.from_config({**config, **wiring, "name": name})
        rewired.build()
        rewired.set_weights(backbone.get_weights())
        return rewired

    @property
    def rare_ids(self) -> tuple[int, int]:
        """``(start, stop)``: the token ids of the rare words (``rare_tokens``, before the fixed ones)."""
        stop = self.vocabulary_sizes["tokens"] - self.fixed_tokens
        return stop - self.rare_tokens, stop

    @property
    def output_width(self) -> int:
        """Features per step."""
        return self.units * (2 if self.bidirectional else 1)

    def build(self, input_shape=None):
        for layer in self.embeddings.values():
            build_once(layer, (None, None))
        width = self.embedding_dim
        if self.char_conv is not None:
            build_once(self.char_conv, (None, None, CHAR_DIM))
            width += self.char_cnn
        for layer in self.recurrent:
            build_once(layer, (None, None, width))
            width = self.output_width
        self.built = True

    def initial_state(self, batch_size):
        """Zero states for ``batch_size`` rows: a list per layer (GRU/RNN: ``[h]``, LSTM: ``[h, c]``)."""
        return [
            [ops.zeros((batch_size, self.units)) for _ in layer.cell.get_initial_state(1)] for layer in self.recurrent
        ]

    def call(self, inputs, initial_state=None, training=False):
        inputs = inputs if isinstance(inputs, dict) else {"tokens": inputs}
        inputs = {key: inputs[key] for key in self.embeddings}
        if training and self.rare_dropout and self.rare_tokens:
            inputs["tokens"] = drop_tokens(inputs["tokens"], self.rare_dropout, self.seed_generator, self.rare_ids)
        if training and self.token_dropout:
            inputs = {key: drop_tokens(ids, self.token_dropout, self.seed_generator) for key, ids in inputs.items()}
        mask = ops.not_equal(inputs["tokens"], 0)
        x = self.embedding_dropout(embed(self.embeddings, inputs, self.char_conv), training=training)
        states = []
        for index, layer in enumerate(self.recurrent):
            start = None if initial_state is None else initial_state[index]
            x = layer(x, mask=mask, training=training, **({"initial_state": start} if start is not None else {}))
            if self.return_state:
                x, *state = x
                states.append(state)
            if self.layer_dropouts:
                x = self.layer_dropouts[index](x, training=training)
        return (x, states) if self.return_state else x

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_sizes": self.vocabulary_sizes,
            "cell": self.cell,
            "units": self.units,
            "layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "embedding_dim": self.embedding_dim,
            "dropout": self.dropout_rate,
            "spatial": self.spatial,
            "between_layers": self.between_layers,
            "token_dropout": self.token_dropout,
            "char_cnn": self.char_cnn,
            "fixed_tokens": self.fixed_tokens,
            "rare_dropout": self.rare_dropout,
            "rare_tokens": self.rare_tokens,
            "weight_dropout": self.weight_dropout,
            "sequences_out": self.sequences_out,
            "return_state": self.return_state,
        }


# The backbone's arguments that task models took flat before ``backbone=`` (and recipes held
# under ``model:``; ``tfseq.recipes.MOVED`` reads this list).
FLAT_KEYS = choices.BACKBONE_KEYS


def backbone_config(config: dict, vocabulary_key: str = "vocabulary_sizes") -> dict:
    """A task model's config as saved: configs of ``.keras`` files written before task models
    took ``backbone=`` held its keys at the top level (and the vocabulary as ``vocabulary_key``);
    they move into ``config["backbone"]``, so old files load as they did."""
    config = dict(config)
    if "backbone" in config or vocabulary_key not in config:
        return config
    backbone = {key: config.pop(key) for key in (*FLAT_KEYS, "fixed_tokens") if key in config}
    config["backbone"] = {"vocabulary_sizes": config.pop(vocabulary_key), **backbone}
    return config
