"""A language model mixed with a Kneser-Ney n-gram model: ``w p_net + (1 - w) p_ngram``.

The mixture's weight is fitted on validation (:func:`fit_weight`); :class:`Interpolated`
computes the mixture in TensorFlow graph ops, with the n-gram tables held in a ``tf.Module``,
so a SavedModel export scores and generates with it (the ``lm`` task's default answer).
"""

from __future__ import annotations

import numpy as np


def fit_weight(network_p: np.ndarray, ngram_p: np.ndarray) -> float:
    """The network's weight in ``w p_net + (1 - w) p_ngram`` that minimises the mean negative
    log-likelihood of these ids (a grid of 0.01: the loss is convex in ``w``)."""
    grid = np.linspace(0.0, 1.0, 101)
    losses = [-mixture_log_probabilities(network_p, ngram_p, w).mean() for w in grid]
    return float(grid[int(np.argmin(losses))])


def mixture_log_probabilities(network_p, ngram_p, weight: float) -> np.ndarray:
    return np.log(weight * np.asarray(network_p, "float64") + (1 - weight) * np.asarray(ngram_p, "float64"))


class Interpolated:
    """A :class:`~tfseq.models.LanguageModel` mixed with a Kneser-Ney n-gram model in graph
    ops: ``p(token | history) = weight * p_net + (1 - weight) * p_ngram``. It scores and
    generates as the model does (``token_log_probabilities``, ``generate_ids``, ``generate``),
    so an export can answer with either. The n-gram model is
    :meth:`~tfseq.models.KneserNeyLM.arrays` held in ``tables`` (a ``tf.Module``: an export
    tracks it) and looked up by binary search.
    """

    def __init__(self, model, arrays: dict, weight: float):
        import tensorflow as tf

        self.model, self.weight = model, float(weight)
        self.order, self.size = int(arrays["order"]), int(arrays["vocabulary_size"])
        self.tables = tf.Module()
        for key in ("trie_keys", "trie_nodes", "gram_keys"):
            setattr(self.tables, key, tf.Variable(arrays[key], trainable=False, name=key))
        for key in ("gammas", "gram_terms"):
            setattr(self.tables, key, tf.Variable(np.asarray(arrays[key], "float32"), trainable=False, name=key))

    @staticmethod
    def _lookup(keys, values, queries, default):
        """``values`` at ``queries`` in the sorted ``keys`` (``default`` where absent)."""
        import tensorflow as tf

        flat = tf.reshape(queries, [-1])
        index = tf.minimum(tf.searchsorted(keys, flat), tf.maximum(tf.size(keys) - 1, 0))
        found = tf.equal(tf.gather(keys, index), flat) if keys.shape[0] else tf.zeros_like(flat, tf.bool)
        chosen = tf.gather(values, index) if keys.shape[0] else tf.fill(tf.shape(flat), default)
        return tf.reshape(tf.where(found, chosen, tf.cast(default, values.dtype)), tf.shape(queries))

    def ngram_probabilities(self, history, tokens):
        """``p_ngram(tokens[b, j] | history[b])``: ``history`` ``int[batch, order - 1]`` (the
        newest id last; 0 where the text had none), ``tokens`` ``int[batch, n]``."""
        import tensorflow as tf

        t = self.tables
        history, tokens = tf.cast(history, tf.int64), tf.cast(tokens, tf.int64)
        p = tf.fill(tf.shape(tokens), 1.0 / self.size)
        node = tf.zeros(tf.shape(tokens)[:1], tf.int64)  # the empty context
        for k in range(self.order):
            if k:  # one token further back: the child of the node by history[:, -k]
                child = self._lookup(t.trie_keys, t.trie_nodes, node * self.size + history[:, -k], -1)
                node = tf.where(node >= 0, child, -1)
            seen = node >= 0
            term = self._lookup(t.gram_keys, t.gram_terms, node[:, None] * self.size + tokens, 0.0)
            gamma = tf.gather(t.gammas, tf.maximum(node, 0))[:, None]
            p = tf.where(seen[:, None], term + gamma * p, p)
        return p

    def histories(self, ids):
        """``(batch, time - 1, order - 1)``: the ids before each of ``ids[:, 1:]`` (0: none)."""
        import tensorflow as tf

        ids = tf.cast(ids, tf.int32)
        width = self.order - 1
        padded = tf.pad(ids, [[0, 0], [width, 0]])
        frames = (
            tf.signal.frame(padded, width, 1, axis=1)
            if width
            else tf.zeros(tf.concat([tf.shape(ids), [0]], 0), tf.int32)
        )
        return frames[:, 1 : tf.shape(ids)[1]]

    def _mix(self, network_p, ngram_p):
        import tensorflow as tf

        return tf.math.log(self.weight * network_p + (1.0 - self.weight) * ngram_p)

    def token_log_probabilities(self, ids):
        """As :meth:`LanguageModel.token_log_probabilities`, of the mixture."""
        import tensorflow as tf

        ids = tf.cast(ids, tf.int32)
        targets = ids[:, 1:]
        network = tf.exp(tf.cast(self.model.token_log_probabilities(ids), tf.float32))
        history = self.histories(ids)
        ngram = self.ngram_probabilities(tf.reshape(history, [-1, self.order - 1]), tf.reshape(targets, [-1, 1]))
        mixed = self._mix(network, tf.reshape(ngram, tf.shape(targets)))
        return tf.where(tf.not_equal(targets, 0), mixed, tf.zeros_like(mixed))

    def next_distribution(self, logits, history):
        """Log-probabilities over the vocabulary after ``history``, from the network's ``logits``."""
        import tensorflow as tf

        every = tf.tile(tf.range(self.size)[None, :], [tf.shape(history)[0], 1])
        network = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        return self._mix(network, self.ngram_probabilities(history, every))

    def generate_ids(self, prompt_ids, length: int, sampler=None, stop_at_line_end=False, n=None):
        """As :meth:`LanguageModel.generate_ids`, sampling from the mixture."""
        import tensorflow as tf

        from tfseq import decoding

        sampler = decoding.resolve(sampler, "sampling")[0]
        model, width = self.model, self.order - 1
        prompt_ids = tf.cast(prompt_ids, tf.int32)
        logits, state = model(prompt_ids, return_state=True)
        last = tf.maximum(tf.reduce_sum(tf.cast(prompt_ids != 0, tf.int32), axis=1) - 1, 0)
        logits = tf.gather(logits, last, axis=1, batch_dims=1)
        # The prompt's last ``order - 1`` ids (0 before its start).
        history = tf.gather(
            tf.pad(prompt_ids, [[0, 0], [width, 0]]), last[:, None] + 1 + tf.range(width)[None, :], axis=1, batch_dims=1
        )

        def next_fn(ids, carried):
            state, history = carried
            logits, state = model.next_token(ids, state)
            if width:
                history = tf.concat([history[:, 1:], tf.cast(ids, tf.int32)[:, None]], axis=1)
            return self.next_distribution(logits, history), [state, history]

        end = model.line_end if stop_at_line_end else None
        if n is not None:
            return sampler.n_best(next_fn, self.next_distribution(logits, history), [state, history], length, end, n)
        return sampler(next_fn, self.next_distribution(logits, history), [state, history], length, end)

    def generate(self, prompts=("",), length=200, sampler=None, **options) -> list[str]:
        """Continuations of raw-text prompts, as :meth:`LanguageModel.generate` (``sampler`` an
        object, or a name with ``options``)."""
        from tfseq import decoding

        sampler, _ = decoding.resolve(sampler, "sampling", **options)
        framed = self.model.text_ids(list(prompts), end=False)
        width = max(int((framed != 0).sum(axis=1).max()), 1)
        ids = self.generate_ids(framed[:, :width], length, sampler)
        return [text.decode("utf-8") for text in self.model.detokenize(ids).numpy()]
