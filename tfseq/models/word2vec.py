"""Learned word embeddings: word2vec (Mikolov et al. 2013), skip-gram or CBOW, negative sampling.

Skip-gram predicts each context word from the centre word; CBOW predicts the centre word from
the mean of its context. Either way, instead of a softmax over the vocabulary, each true pair is
scored against ``negatives`` words drawn from the unigram distribution raised to 3/4, with a
logistic loss: ``-log s(u_o . v_c) - sum_k log s(-u_k . v_c)``.

:func:`skipgram_examples` builds the training examples from token ids (frequent-word
subsampling, a random window per position, the negatives), so ``model.fit`` trains it like any
Keras model; :meth:`Word2Vec.most_similar` and :meth:`Word2Vec.word_vectors` (a
:class:`~tfseq.models.WordVectors`: neighbours, analogies, files) read the result.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfseq import choices
from tfseq.models.losses import total_loss
from tfseq.vectors import WordVectors

ARCHITECTURES = choices.ARCHITECTURES  # a word predicts its context | the context predicts the word


NOISE_TABLE = 10_000_000  # entries of the table negatives are drawn from (word2vec's holds 1e8)


def noise_table(counts, size: int | None = None) -> np.ndarray:
    """Ids laid out in proportion to ``counts ** 0.75`` (ids 0 and 1, padding and OOV, left out):
    a uniform draw from it is a draw from word2vec's noise distribution in constant time, as the
    original tool draws them. ``size``: its entries, by default 1,000 per id up to
    :data:`NOISE_TABLE` (a word with under ``1 / size`` of the mass is never drawn)."""
    size = size or min(NOISE_TABLE, 1000 * len(counts))
    noise = np.asarray(counts, "float64").copy()
    noise[:2] = 0
    noise = noise**0.75
    if not noise.sum():
        raise ValueError("no token in the vocabulary occurs: nothing to draw negatives from")
    cumulative = np.cumsum(noise / noise.sum())
    return np.minimum(np.searchsorted(cumulative, (np.arange(size) + 0.5) / size), len(noise) - 1).astype("int32")


def skipgram_examples(
    ids,
    vocabulary_size,
    window=5,
    negatives=5,
    subsample=1e-3,
    cbow=False,
    seed=0,
    lines=None,
    counts=None,
    noise=None,
):
    """Training examples from a stream (or rows) of token ids; 0 is padding, 1 out of vocabulary.
    ``lines``: each id's line (sentence) number; a window then stays inside its line, as word2vec
    and gensim read a sentence at a time (None: one stream, windows cross everything).
    ``counts``: each id's count in the whole text, when ``ids`` is a part of it (subsampling and
    the negatives follow the whole text's frequencies); None: counted in ``ids``.
    ``noise``: a :func:`noise_table` of those counts, made once for many calls (None: made here).

    Returns ``(inputs, None)``-style dict arrays for :class:`Word2Vec`:
    skip-gram: ``{"centre": (N,), "context": (N,), "negatives": (N, k)}``;
    CBOW: ``{"context": (N, 2 * window) (0-padded), "centre": (N,), "negatives": (N, k)}``.
    Frequent words are dropped with probability ``1 - sqrt(subsample / frequency)``; each position
    draws its window size from 1..window (nearer words count more), as the original tool does.
    """
    rng = np.random.default_rng(seed)
    ids = np.asarray(ids).ravel()
    lines = np.zeros(len(ids), "int64") if lines is None else np.asarray(lines).ravel()
    counts = np.bincount(ids, minlength=vocabulary_size) if counts is None else np.asarray(counts)
    counts = counts.astype("float64")
    counts[:2] = 0  # padding and OOV are neither centres, contexts nor negatives
    frequency = counts / max(counts.sum(), 1)
    keep = rng.random(len(ids)) < np.sqrt(subsample / np.maximum(frequency[ids], 1e-12))
    kept = keep & (ids > 1)
    ids, lines = ids[kept], lines[kept]
    if noise is None:
        noise = noise_table(counts)
    spans = rng.integers(1, window + 1, size=len(ids))
    centres, contexts = [], []
    for offset in range(1, window + 1):
        near = spans >= offset
        for sign in (-1, 1):
            shifted = np.arange(len(ids)) + sign * offset
            inside = (shifted >= 0) & (shifted < len(ids))
            valid = near & inside & (lines[np.clip(shifted, 0, max(len(ids) - 1, 0))] == lines)
            centres.append(np.flatnonzero(valid))
            contexts.append(shifted[valid])
    centre_positions, context_positions = np.concatenate(centres), np.concatenate(contexts)
    if cbow:  # column k holds the context word of the k-th (offset, side), 0 where there is none
        table = np.zeros((len(ids), 2 * window), "int32")
        for column, (c, o) in enumerate(zip(centres, contexts)):
            table[c, column] = ids[o]
        rows = np.flatnonzero(table.any(axis=1))
        examples = {"context": table[rows], "centre": ids[rows].astype("int32")}
    else:
        examples = {"centre": ids[centre_positions].astype("int32"), "context": ids[context_positions].astype("int32")}
    examples["negatives"] = noise[rng.integers(len(noise), size=(len(examples["centre"]), negatives))]
    return examples


def example_batches(ids, lines, vocabulary_size, batch_size, seed=0, steps=None, chunk=100_000, **options):
    """:func:`skipgram_examples` made a part of the text at a time and shuffled within it, in
    batches of ``batch_size``: memory follows the part (``chunk`` tokens, whole lines), not the
    text times the window (a 1M-word text has about 6M examples). Subsampling, windows and
    negatives are drawn afresh from ``seed``, as word2vec draws them on each pass.

    ``steps=None``: one pass over the text, its last batch partial (validation); else exactly
    ``steps`` full batches, the text read again (with new draws) where a pass runs short, so every
    epoch of ``model.fit(steps_per_epoch=steps)`` is the same length. ``options``: the keywords
    of :func:`skipgram_examples`. Yields dicts of numpy arrays."""
    ids, lines = np.asarray(ids).ravel(), np.asarray(lines).ravel()
    counts = np.bincount(ids, minlength=vocabulary_size)
    if not counts[2:].any():  # padding and unknown words only
        if steps is None:
            return
        raise ValueError("the text makes no training examples: none of its words is in the vocabulary")
    noise = noise_table(counts)
    line_starts = np.flatnonzero(np.r_[True, lines[1:] != lines[:-1]])
    at = np.minimum(np.searchsorted(line_starts, np.arange(0, len(ids), chunk)), len(line_starts) - 1)
    cuts = np.unique(np.r_[line_starts[at], len(ids)])
    made, carried, reading = 0, None, 0
    while True:
        rng = np.random.default_rng([int(seed), reading])
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            part = skipgram_examples(
                ids[lo:hi],
                vocabulary_size,
                lines=lines[lo:hi],
                counts=counts,
                noise=noise,
                seed=int(rng.integers(2**31)),
                **options,
            )
            order = rng.permutation(len(part["centre"]))
            part = {key: value[order] for key, value in part.items()}
            if carried is not None:
                part = {key: np.concatenate([carried[key], value]) for key, value in part.items()}
            full = len(part["centre"]) // batch_size * batch_size
            for start in range(0, full, batch_size):
                yield {key: value[start : start + batch_size] for key, value in part.items()}
                made += 1
                if steps is not None and made >= steps:
                    return
            carried = {key: value[full:] for key, value in part.items()}
        if steps is None:
            if len(carried["centre"]):
                yield carried
            return
        if made == 0 and reading > 0:
            raise ValueError("the text makes no training examples")
        reading += 1


def examples_per_pass(ids, lines, vocabulary_size, sample: int = 200_000, seed=0, **options) -> int:
    """About how many examples one pass of :func:`example_batches` makes: those of the text's
    first ``sample`` tokens (whole lines), scaled to the whole; exact when the text is no longer.
    Costs a part of a pass, not a pass (which a 4M-word text takes 10-20 s to make)."""
    ids, lines = np.asarray(ids).ravel(), np.asarray(lines).ravel()
    if not len(ids):
        return 0
    end = len(ids)
    if len(ids) > sample:  # to the end of the line the sample's last token is in
        later = np.flatnonzero(lines[sample:] != lines[sample - 1])
        end = sample + int(later[0]) if len(later) else len(ids)
    counts = np.bincount(ids, minlength=vocabulary_size)
    made = len(
        skipgram_examples(ids[:end], vocabulary_size, lines=lines[:end], counts=counts, seed=seed, **options)["centre"]
    )
    return round(made * len(ids) / end)


@keras.saving.register_keras_serializable(package="tfseq")
class Word2Vec(keras.Model):
    """Two embedding tables (words as centres ``v``, as contexts ``u``) trained by negative sampling.

    ``fit`` takes the dict of :func:`skipgram_examples` (no labels). :attr:`vectors` are the
    centre embeddings, the ones word2vec publishes; :meth:`most_similar` ranks by cosine.
    ``vocabulary``: the words of ids 2, 3, ... (saved with the model), so that queries take words.

    Example:
        >>> examples = skipgram_examples(stream, vocabulary_size=5000)
        >>> model = Word2Vec(5000, dim=100, vocabulary=words)
        >>> model.compile(optimizer="adam")
        >>> model.fit(examples, batch_size=1024, epochs=3)
        >>> model.most_similar(positive=["king", "woman"], negative=["man"])
    """

    def __init__(self, vocabulary_size, dim=100, cbow=False, vocabulary=None, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.dim, self.cbow = int(vocabulary_size), int(dim), bool(cbow)
        self.vocabulary = tuple(str(w) for w in vocabulary) if vocabulary is not None else None
        if self.vocabulary is not None and len(self.vocabulary) != self.vocabulary_size - 2:
            raise ValueError(
                f"vocabulary has {len(self.vocabulary)} words; ids 2..{self.vocabulary_size - 1} "
                f"need {self.vocabulary_size - 2}"
            )
        scale = 0.5 / self.dim
        self.centre = keras.layers.Embedding(
            self.vocabulary_size,
            self.dim,
            name="centre_vectors",
            embeddings_initializer=keras.initializers.RandomUniform(-scale, scale),
        )
        self.context = keras.layers.Embedding(
            self.vocabulary_size, self.dim, name="context_vectors", embeddings_initializer="zeros"
        )

    def build(self, input_shape=None):
        self.centre.build((None,))
        self.context.build((None,))
        self.built = True

    def call(self, inputs, training=False):
        """Logits of the true pair ``(batch,)`` and of the negatives ``(batch, k)``."""
        if self.cbow:  # the mean of the context words predicts the centre word
            mask = ops.cast(ops.not_equal(inputs["context"], 0), "float32")[:, :, None]
            query = ops.sum(self.centre(inputs["context"]) * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)
            target = self.context(inputs["centre"])
        else:  # the centre word predicts one context word
            query = self.centre(inputs["centre"])
            target = self.context(inputs["context"])
        positive = ops.sum(query * target, axis=-1)
        negative = ops.einsum("bd,bkd->bk", query, self.context(inputs["negatives"]))
        return {"positive": positive, "negative": negative}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Negative-sampling loss, nats per example."""
        loss = -ops.log_sigmoid(y_pred["positive"]) - ops.sum(ops.log_sigmoid(-y_pred["negative"]), axis=-1)
        return total_loss(self, ops.mean(loss))

    @property
    def vectors(self) -> np.ndarray:
        """The word vectors, ``(vocabulary_size, dim)``: row i is id i."""
        return ops.convert_to_numpy(self.centre.embeddings)

    def word_vectors(self) -> WordVectors:
        """The vectors of ids 2, 3, ... by word (ids as strings without a ``vocabulary``)."""
        words = self.vocabulary or [str(i) for i in range(2, self.vocabulary_size)]
        return WordVectors(words, self.vectors[2:])

    def most_similar(self, positive=(), negative=(), top: int = 10) -> list[tuple]:
        """The ``top`` words nearest to ``positive`` minus ``negative`` words by cosine (see
        :meth:`WordVectors.most_similar`); ``most_similar(token_id)`` ranks ids instead."""
        vectors = self.word_vectors()
        if isinstance(positive, (int, np.integer)):  # an id: (id, similarity) pairs
            return [
                (vectors.index[word] + 2, score)
                for word, score in vectors.most_similar(vectors.words[positive - 2], top=top)
            ]
        return vectors.most_similar(positive, negative, top)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "dim": self.dim,
            "cbow": self.cbow,
            "vocabulary": list(self.vocabulary) if self.vocabulary is not None else None,
        }
