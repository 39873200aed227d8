"""The bar a neural language model must clear: an interpolated Kneser-Ney n-gram model.

Chen & Goodman (1998)'s interpolated Kneser-Ney with one absolute discount per order
(``D = n1 / (n1 + 2 n2)``), the lower orders on continuation counts, a uniform distribution
under the unigrams. It reads the same id streams as :class:`~tfseq.models.LanguageModel`, so
both are scored on the same tokens.

Hand-written (about 60 lines of counting) because the packages that have it are either pure
Python per query (``nltk.lm``) or native builds that need a compiler (``kenlm``).
"""

from __future__ import annotations

import collections
import copy

import numpy as np


class KneserNeyLM:
    """Interpolated Kneser-Ney over integer token streams.

    Example:
        >>> lm = KneserNeyLM(order=5).fit(train_ids)
        >>> lm.stream_loss(test_ids)          # nats per token; exp() is the perplexity
    """

    def __init__(self, order: int = 5, vocabulary_size: int | None = None):
        if order < 1:
            raise ValueError(f"order must be >= 1, received {order}.")
        self.order, self.vocabulary_size = int(order), vocabulary_size

    def fit(self, stream):
        """Count ``stream`` afresh (what was counted before is forgotten); returns ``self``."""
        stream = [int(t) for t in np.asarray(stream).ravel()]
        n = self.order
        highest = collections.Counter(tuple(stream[i : i + n]) for i in range(len(stream) - n + 1))
        # counts[k]: n-gram (length k+1) -> count (highest order) or continuation count (lower).
        counts = {n - 1: highest}
        for k in range(n - 2, -1, -1):
            counts[k] = collections.Counter(gram[1:] for gram in counts[k + 1])
        self.counts = counts
        self.totals, self.types, self.count_of_counts = {}, {}, {}
        for k, table in counts.items():
            totals, types = collections.Counter(), collections.Counter()
            for gram, c in table.items():
                totals[gram[:-1]] += c
                types[gram[:-1]] += 1
            self.totals[k], self.types[k] = totals, types
            self.count_of_counts[k] = collections.Counter(table.values())
        self.tail = tuple(stream[len(stream) - (n - 1) :]) if n > 1 else ()
        self.vocabulary_size = self.vocabulary_size or (max(stream) + 1)
        return self._discount()

    def update(self, stream):
        """Count ``stream`` as if it followed the text counted so far (the n-grams across the seam
        included), in place: ``fit(a).update(b)`` is the model ``fit(a + b)``, in time that grows
        with ``len(b)`` alone. Returns ``self``."""
        text = self.tail + tuple(int(t) for t in np.asarray(stream).ravel())
        n = self.order
        for end in range(n, len(text) + 1):
            if end > len(self.tail):
                self._count(n - 1, text[end - n : end])
        self.tail = text[len(text) - (n - 1) :] if n > 1 else ()
        return self._discount()

    def _count(self, k: int, gram: tuple):
        """One more ``gram`` at order ``k``; a gram new to it is one more continuation below."""
        c = self.counts[k][gram]
        self.counts[k][gram] = c + 1
        of = self.count_of_counts[k]
        if c:
            of[c] -= 1
        of[c + 1] += 1
        self.totals[k][gram[:-1]] += 1
        if not c:
            self.types[k][gram[:-1]] += 1
            if k:
                self._count(k - 1, gram[1:])

    def _discount(self):
        self.discounts = {
            k: of[1] / (of[1] + 2 * of[2]) if of[1] + of[2] else 0.5 for k, of in self.count_of_counts.items()
        }
        return self

    def probability(self, history: tuple, token: int) -> float:
        """``p(token | history)``; only the last ``order - 1`` history tokens count."""
        p = 1.0 / self.vocabulary_size
        history = tuple(history)[-(self.order - 1) :] if self.order > 1 else ()
        for k in range(0, len(history) + 1):  # unigrams first, then longer contexts
            context = history[len(history) - k :] if k else ()
            total = self.totals[k].get(context, 0)
            if not total:
                break  # an unseen context: longer ones are unseen too
            d = self.discounts[k]
            c = self.counts[k].get(context + (token,), 0)
            p = max(c - d, 0.0) / total + d * self.types[k][context] / total * p
        return p

    def token_probabilities(self, stream) -> np.ndarray:
        """``p`` of every id of ``stream`` after the first, given those before (``len - 1`` values)."""
        stream = [int(t) for t in np.asarray(stream).ravel()]
        context = self.order - 1
        return np.array(
            [self.probability(tuple(stream[max(0, i - context) : i]), stream[i]) for i in range(1, len(stream))],
            "float64",
        )

    def dynamic_token_probabilities(self, stream, window: int = 50) -> np.ndarray:
        """:meth:`token_probabilities` of ``stream`` by a model that keeps counting what it reads
        (the n-gram side of dynamic evaluation): after every ``window`` ids scored, a copy of this
        model counts them (:meth:`update`), as if ``stream`` followed the text it was fitted on.
        Each id is scored before it is counted; this model is left as it was."""
        stream = np.asarray(stream).ravel()
        model, pieces, context, counted = copy.deepcopy(self), [], self.order - 1, 0
        for start in range(1, len(stream), int(window)):
            end = min(start + int(window), len(stream))
            pieces.append(model.token_probabilities(stream[max(0, start - context) : end])[-(end - start) :])
            model.update(stream[counted:end])
            counted = end
        return np.concatenate(pieces) if pieces else np.zeros((0,))

    def stream_loss(self, stream) -> float:
        """Mean ``-log p`` (nats) of every id of ``stream`` after the first, given those before."""
        p = self.token_probabilities(stream)
        return float(-np.log(p).sum() / max(len(p), 1))

    def arrays(self) -> dict:
        """The model as flat arrays, for a graph to evaluate (the language model's export):

        - every context seen in training is a node of a suffix trie (``0``: the empty context);
          the context ``(a, ..., y, z)`` is the child of ``(..., y, z)``'s node by ``a`` (history
          is read from the newest token back): ``trie_keys = parent * V + token`` (sorted) ->
          ``trie_nodes``;
        - ``gammas[node]``: the weight of the lower order under that context (``D * types / total``);
        - ``gram_keys = node * V + token`` (sorted) -> ``gram_terms``: ``max(c - D, 0) / total``.

        Then ``p(token | history)`` is :meth:`probability`: start from ``1 / V``; for each longer
        context found in the trie, ``p = term(node, token) + gammas[node] * p``.
        """
        size = self.vocabulary_size
        nodes = {(): 0}
        for k in range(1, self.order):
            for context in sorted(self.totals[k]):
                nodes[context] = len(nodes)
        trie = sorted((nodes[c[1:]] * size + c[0], nodes[c]) for c in nodes if c)
        grams, gammas = [], np.zeros(len(nodes), "float64")
        for k in range(self.order):
            d = self.discounts[k]
            for context, total in self.totals[k].items():
                gammas[nodes[context]] = d * self.types[k][context] / total
            for gram, c in self.counts[k].items():
                grams.append((nodes[gram[:-1]] * size + gram[-1], max(c - d, 0.0) / self.totals[k][gram[:-1]]))
        grams.sort()
        return {
            "order": self.order,
            "vocabulary_size": size,
            "trie_keys": np.array([k for k, _ in trie], "int64"),
            "trie_nodes": np.array([n for _, n in trie], "int64"),
            "gammas": gammas,
            "gram_keys": np.array([k for k, _ in grams], "int64"),
            "gram_terms": np.array([t for _, t in grams], "float64"),
        }
