"""Text -> token ids, inside the graph, so the same layer serves tf.data, model.fit and export.

:class:`TextVectorizer` splits text into words (whitespace) or characters (any script: Chinese
needs no segmenter), optionally lower-cases, truncates to ``max_length`` and maps tokens and
*aligned* n-grams to ids (0 = padding, 1 = out of vocabulary). For ``ngrams=(1, 2)`` the output is
``{"tokens": ids (batch, T), "ngrams_2": ids (batch, T)}`` where position t of ``ngrams_2`` is the
bigram starting at token t, so a recurrent model reads both at every step.

The vocabulary is part of the layer's config: it is saved in ``.keras`` files and in exports.
String ops are TensorFlow's (``tf.strings``); this layer lives at the data edge, not in models.
"""

from __future__ import annotations

import collections

import keras
import numpy as np

PAD, OOV = 0, 1


def _key(n: int) -> str:
    return "tokens" if n == 1 else f"ngrams_{n}"


@keras.saving.register_keras_serializable(package="tfseq")
class TextVectorizer(keras.layers.Layer):
    """Raw strings -> dict of padded int32 id tensors.

    Args:
        split: ``"word"`` (whitespace) or ``"character"``.
        lowercase: lower-case before splitting.
        ngrams: which n-gram orders to emit, aligned with the tokens; ``(1,)`` for tokens only.
        max_length: truncate longer texts to this many tokens (``None``: keep all).
        vocabularies: ``{n: [token, ...]}`` (ids start at 2); set by :meth:`adapt`.

    Example:
        >>> v = TextVectorizer(split="character", ngrams=(1, 2))
        >>> v.adapt(["好看的书", "不好看"])
        >>> v(["好书"])["tokens"].shape
        TensorShape([1, 2])
    """

    def __init__(self, split="word", lowercase=True, ngrams=(1,), max_length=None,
                 vocabularies=None, **kwargs):
        kwargs.setdefault("trainable", False)
        kwargs.setdefault("dtype", "string")
        super().__init__(**kwargs)
        if split not in ("word", "character"):
            raise ValueError(f"split must be 'word' or 'character', received split={split!r}.")
        ngrams = tuple(int(n) for n in ngrams)
        if 1 not in ngrams or any(n < 1 for n in ngrams):
            raise ValueError(f"ngrams must include 1 and be positive, received ngrams={ngrams}.")
        self.split = split
        self.lowercase = bool(lowercase)
        self.ngrams = ngrams
        self.max_length = max_length
        self.vocabularies = vocabularies or {}
        self._lookups = None

    # Stored as nested tuples: immutable, so TensorFlow/Keras object tracking leaves it alone
    # (a dict with int keys cannot be saved by tf.saved_model).
    @property
    def vocabularies(self) -> dict[int, list[str]]:
        return {n: list(tokens) for n, tokens in self._vocabulary_items}

    @vocabularies.setter
    def vocabularies(self, value):
        self._vocabulary_items = tuple((int(n), tuple(tokens)) for n, tokens in dict(value).items())

    # -- vocabulary --------------------------------------------------------------------------
    def tokenize_python(self, text: str) -> list[str]:
        text = text.lower() if self.lowercase else text
        tokens = text.split() if self.split == "word" else [c for c in text if not c.isspace()]
        return tokens[: self.max_length] if self.max_length else tokens

    def adapt(self, texts, max_tokens=None, min_frequency=1):
        """Build vocabularies from ``texts``: most frequent first, at least ``min_frequency``.

        ``max_tokens`` caps each order's vocabulary (ids 0 and 1 not counted); an int, or a dict
        ``{n: cap}``.
        """
        counters = {n: collections.Counter() for n in self.ngrams}
        for text in texts:
            tokens = self.tokenize_python(str(text))
            for n in self.ngrams:
                counters[n].update(
                    "".join(tokens[i : i + n]) if self.split == "character" else " ".join(tokens[i : i + n])
                    for i in range(len(tokens) - n + 1)
                )
        vocabularies = {}
        for n, counter in counters.items():
            cap = max_tokens.get(n) if isinstance(max_tokens, dict) else max_tokens
            items = [t for t, c in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_frequency]
            vocabularies[n] = items[:cap] if cap else items
        self.vocabularies = vocabularies
        self._lookups = None
        return self

    def vocabulary_size(self, n=1) -> int:
        """Number of ids for order ``n``, padding and OOV included."""
        return len(dict(self._vocabulary_items)[n]) + 2

    # -- graph ---------------------------------------------------------------------------------
    def _tables(self):
        import tensorflow as tf

        if self._lookups is None:
            with tf.init_scope():  # tables live outside any tf.function/tf.data trace
                return self._make_tables()
        return self._lookups

    def _make_tables(self):
        import tensorflow as tf

        if self._lookups is None:
            if not self.vocabularies:
                raise ValueError("TextVectorizer has no vocabulary: call adapt(texts) first.")
            lookups = {}
            for n, vocab in self.vocabularies.items():
                init = tf.lookup.KeyValueTensorInitializer(
                    tf.constant(vocab, dtype=tf.string) if vocab else tf.constant([""], tf.string),
                    tf.range(2, len(vocab) + 2, dtype=tf.int64) if vocab else tf.constant([OOV], tf.int64),
                )
                lookups[_key(n)] = tf.lookup.StaticHashTable(init, default_value=OOV)
            self._lookups = lookups
        return self._lookups

    def call(self, texts):
        import tensorflow as tf

        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        if texts.shape.rank == 0:
            texts = texts[None]
        if self.lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
        if self.split == "word":
            tokens = tf.strings.split(texts)
        else:
            chars = tf.strings.unicode_split(texts, "UTF-8", errors="replace")
            tokens = tf.ragged.boolean_mask(chars, tf.logical_not(tf.strings.regex_full_match(chars, r"\s")))
        if self.max_length:
            tokens = tokens[:, : self.max_length]
        separator = "" if self.split == "character" else " "
        outputs = {}
        tables = self._tables()
        for n in sorted(self.vocabularies):
            table = tables[_key(n)]
            # The n-gram starting at token i joins tokens i .. i+n-1 (rows shorter than n: none).
            parts = [tokens[:, k : (k - n + 1) or None] for k in range(n)]
            grams = tf.strings.join(parts, separator) if n > 1 else tokens
            ids = tf.ragged.map_flat_values(table.lookup, grams)
            dense = tf.cast(ids.to_tensor(default_value=PAD), tf.int32)
            # Every order is as wide as the tokens, so position t lines up across orders.
            missing = tf.cast(tokens.bounding_shape()[1], tf.int32) - tf.shape(dense)[1]
            outputs[_key(n)] = tf.pad(dense, [[0, 0], [0, missing]])
        return outputs

    def compute_output_spec(self, texts):
        return {_key(n): keras.KerasTensor((None, None), dtype="int32") for n in self.ngrams}

    def get_config(self):
        return {
            **super().get_config(),
            "split": self.split,
            "lowercase": self.lowercase,
            "ngrams": list(self.ngrams),
            "max_length": self.max_length,
            "vocabularies": {str(n): v for n, v in self.vocabularies.items()},
        }


def lengths_of(token_ids: np.ndarray) -> np.ndarray:
    """Number of non-padding ids per row."""
    return (np.asarray(token_ids) != PAD).sum(axis=-1)
