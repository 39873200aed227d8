"""Linear-chain conditional random field: the structured output layer of a sequence tagger.

A tagger's network scores each tag at each step (the *emissions*, ``(batch, time, tags)``);
the CRF adds a learned score for every tag-to-tag transition (and for starting and ending in
each tag), so a whole tag sequence is scored at once:

    score(y) = start[y_1] + sum_t emissions[t, y_t] + sum_t transitions[y_{t-1}, y_t] + end[y_T]

Training maximises log p(y | x) = score(y) - log Z, with the partition function Z summed over
all tag sequences by the forward algorithm; prediction is the best sequence by Viterbi. Both
are a scan over time in ``keras.ops``, so they run on every backend. Steps after a row's
length (``mask`` False) are skipped; masks must be prefixes (right padding).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfseq")
class CRF(keras.layers.Layer):
    """Transition scores of a linear-chain CRF, with its loss and its Viterbi decoder.

    ``CRF(num_tags)`` holds the ``(num_tags, num_tags)`` transition matrix (``[from, to]``) and
    the start and end scores. Call it on emissions to get the best tag ids (Viterbi), or use
    :meth:`log_likelihood` for training.

    Example:
        >>> crf = CRF(5)
        >>> emissions = keras.random.normal((2, 7, 5))
        >>> mask = np.array([[True] * 7, [True] * 4 + [False] * 3])
        >>> nll = -crf.log_likelihood(emissions, tags, mask)   # (2,): per sequence, in nats
        >>> crf(emissions, mask=mask)                           # (2, 7) best tag ids, 0 where masked
    """

    def __init__(self, num_tags: int, **kwargs):
        super().__init__(**kwargs)
        if int(num_tags) < 1:
            raise ValueError(f"CRF needs num_tags >= 1, got {num_tags}")
        self.num_tags = int(num_tags)
        self.supports_masking = True

    def build(self, input_shape=None):
        init = keras.initializers.RandomUniform(-0.1, 0.1, seed=0)
        self.transitions = self.add_weight(shape=(self.num_tags, self.num_tags), initializer=init, name="transitions")
        self.start = self.add_weight(shape=(self.num_tags,), initializer="zeros", name="start")
        self.end = self.add_weight(shape=(self.num_tags,), initializer="zeros", name="end")

    def _check(self, emissions, mask):
        if len(emissions.shape) != 3 or emissions.shape[-1] not in (None, self.num_tags):
            raise ValueError(
                f"CRF({self.num_tags}) expects emissions of shape (batch, time, "
                f"{self.num_tags}), got {tuple(emissions.shape)}"
            )
        if mask is None:
            mask = ops.ones(ops.shape(emissions)[:2], "bool")
        return ops.cast(emissions, "float32"), ops.cast(mask, "bool")

    def log_likelihood(self, emissions, tags, mask=None):
        """``log p(tags | emissions)`` per sequence, shape ``(batch,)``; a row with no step gives 0."""
        emissions, mask = self._check(emissions, mask)
        tags = ops.cast(tags, "int32")
        return self._score(emissions, tags, mask) - self._log_partition(emissions, mask)

    def _score(self, emissions, tags, mask):
        weights = ops.cast(mask, emissions.dtype)
        emitted = ops.take_along_axis(emissions, tags[..., None], axis=-1)[..., 0]
        score = ops.sum(emitted * weights, axis=1)
        # Transitions into step t count when step t is real (masks are prefixes).
        moves = ops.take(ops.reshape(self.transitions, (-1,)), tags[:, :-1] * self.num_tags + tags[:, 1:])
        score = score + ops.sum(moves * weights[:, 1:], axis=1)
        lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
        first, last = tags[:, 0], ops.take_along_axis(tags, ops.maximum(lengths - 1, 0)[:, None], axis=1)[:, 0]
        ends = ops.take(self.start, first) + ops.take(self.end, last)
        return score + ops.where(lengths > 0, ends, ops.zeros_like(ends))

    @staticmethod
    def _later_steps(emissions, mask):
        """What the scans read: steps 1.. as ``(time, batch, tags + 1)``, the mask as a last column,
        and one masked step appended (so a one-step batch is no empty scan).

        One tensor, never empty: Keras' TensorFlow ``scan`` fails on several inputs, and on an
        empty one, when the length is unknown at tracing time (as in ``fit``).
        """
        steps = ops.concatenate([emissions, ops.cast(mask, emissions.dtype)[..., None]], axis=-1)
        return ops.pad(ops.transpose(steps, (1, 0, 2))[1:], [[0, 1], [0, 0], [0, 0]])

    def _log_partition(self, emissions, mask):
        steps = self._later_steps(emissions, mask)

        def forward(alpha, step):
            emission, keep = step[:, :-1], step[:, -1:] > 0
            # alpha'[j] = logsumexp_i(alpha[i] + transitions[i, j]) + emission[j]
            moved = ops.logsumexp(alpha[:, :, None] + self.transitions[None], axis=1) + emission
            alpha = ops.where(keep, moved, alpha)
            return alpha, None

        alpha, _ = ops.scan(forward, self.start[None] + emissions[:, 0], steps)
        total = ops.logsumexp(alpha + self.end[None], axis=-1)
        return ops.where(mask[:, 0], total, ops.zeros_like(total))

    def marginals(self, emissions, mask=None):
        """``p(y_t = j | emissions)`` for every step and tag, ``(batch, time, tags)`` float32, by
        the forward-backward algorithm (0 at masked steps): how sure the CRF is of each tag of a
        decoded path, which it weighs against every other path through that step."""
        emissions, mask = self._check(emissions, mask)
        steps = self._later_steps(emissions, mask)  # entry k: step k + 1 (the last one appended, masked)

        def forward(alpha, step):
            emission, keep = step[:, :-1], step[:, -1:] > 0
            moved = ops.logsumexp(alpha[:, :, None] + self.transitions[None], axis=1) + emission
            alpha = ops.where(keep, moved, alpha)
            return alpha, alpha

        first = self.start[None] + emissions[:, 0]
        last, alphas = ops.scan(forward, first, steps)
        alphas = ops.concatenate([first[None], alphas[:-1]], axis=0)  # (time, batch, tags): steps 0..T-1
        end = ops.broadcast_to(self.end[None], ops.shape(first))

        def backward(beta, step):  # beta of step k + 1 -> beta of step k
            emission, keep = step[:, :-1], step[:, -1:] > 0
            moved = ops.logsumexp(self.transitions[None] + (emission + beta)[:, None, :], axis=2)
            beta = ops.where(keep, moved, end)  # step k + 1 is padding: step k ends the path
            return beta, beta

        _, betas = ops.scan(backward, end, steps, reverse=True)  # (time, batch, tags): steps 0..T-1
        total = ops.logsumexp(last + self.end[None], axis=-1)
        p = ops.exp(ops.transpose(alphas + betas, (1, 0, 2)) - total[:, None, None])
        return ops.where(mask[..., None], p, ops.zeros_like(p))

    def call(self, emissions, mask=None):
        """The highest-scoring tag ids (Viterbi), ``(batch, time)`` int32; 0 at masked steps."""
        emissions, mask = self._check(emissions, mask)
        stay = ops.broadcast_to(ops.arange(self.num_tags, dtype="int32")[None], ops.shape(emissions[:, 0]))

        def forward(delta, step):
            emission, keep = step[:, :-1], step[:, -1:] > 0
            scores = delta[:, :, None] + self.transitions[None]  # (batch, from, to)
            best_from = ops.cast(ops.argmax(scores, axis=1), "int32")
            delta_next = ops.where(keep, ops.max(scores, axis=1) + emission, delta)
            # A masked step points each tag to itself, so the backtrack walks through padding.
            # (Carried as floats: TensorFlow's scan stacks outputs in the carry's dtype.)
            return delta_next, ops.cast(ops.where(keep, best_from, stay), delta.dtype)

        delta, pointers = ops.scan(forward, self.start[None] + emissions[:, 0], self._later_steps(emissions, mask))
        pointers = ops.cast(pointers, "int32")
        last = ops.cast(ops.argmax(delta + self.end[None], axis=-1), "int32")

        def backtrack(tag, step_pointers):
            previous = ops.take_along_axis(step_pointers, tag[:, None], axis=1)[:, 0]
            return previous, tag

        first, later = ops.scan(backtrack, last, pointers, reverse=True)
        path = ops.concatenate([first[None], later[:-1]], axis=0)  # (time, batch); drops the appended step
        return ops.where(mask, ops.transpose(path, (1, 0)), ops.zeros_like(mask, "int32"))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2])

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {**super().get_config(), "num_tags": self.num_tags}
