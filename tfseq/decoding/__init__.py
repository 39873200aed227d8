"""Decoding: turn a model's next-token scores into sequences, shared by every generating task.

A sampler drives a ``next`` function the model supplies (the keras-hub pattern)::

    next(ids: int32[batch], state) -> (logits: float[batch, vocabulary], state)

where ``state`` is any nest of tensors (a recurrent model's per-layer states). Each sampler
starts from the logits of the first token to choose (the model has already read the prompt or
the encoder's summary) and returns ``int32[batch, length]`` ids, ``0`` (padding) after a row's
``end_id``. The loops are ``keras.ops.while_loop``, so decoding runs on every backend and traces
into a SavedModel.

    >>> ids = Sampling(temperature=0.8, top_k=20)(model.next_token, logits, state, length=100)

=============  =========================================================================
Greedy         the most likely token each step
Sampling       a random token from the softmax; ``temperature``, ``top_k``, ``top_p`` (nucleus)
BeamSearch     the ``beams`` best partial sequences each step; the best finished one wins
=============  =========================================================================
"""

from __future__ import annotations

import keras
from keras import ops

NEG = -1e9  # "never": a logit no softmax picks, finite so arithmetic on it stays finite


class Sampler:
    """Base of the one-token-at-a-time samplers: subclasses implement :meth:`choose`."""

    def choose(self, logits):  # pragma: no cover - abstract
        """``int32[batch]`` ids from ``float[batch, vocabulary]`` logits."""
        raise NotImplementedError

    def __call__(self, next_fn, logits, state, length: int, end_id: int | None = None):
        batch = ops.shape(logits)[0]
        positions = ops.arange(length, dtype="int32")[None, :]

        def body(i, logits, state, out, done):
            token = ops.cast(self.choose(ops.cast(logits, "float32")), "int32")
            token = ops.where(done, ops.zeros_like(token), token)
            out = ops.where(ops.equal(positions, i), token[:, None], out)
            if end_id is not None:
                done = ops.logical_or(done, ops.equal(token, end_id))
            logits, state = next_fn(token, state)
            return i + 1, logits, _as_lists(state), out, done

        def cond(i, logits, state, out, done):
            return ops.logical_and(i < length, ops.logical_not(ops.all(done)))

        start = (ops.convert_to_tensor(0, "int32"), logits, _as_lists(state),
                 ops.zeros((batch, length), "int32"), ops.zeros((batch,), "bool"))
        return ops.while_loop(cond, body, start)[3]


class Greedy(Sampler):
    """The most likely token every step (deterministic; repetitive on open-ended text)."""

    def choose(self, logits):
        # top_k, not argmax: the same first best index, and TFLite's builtin operations have it
        # (Keras' TensorFlow argmax tests for -0.0 with a BitwiseAnd, which TFLite lacks).
        return ops.top_k(logits, 1)[1][:, 0]

    def get_config(self) -> dict:
        return {}


class Sampling(Sampler):
    """A token drawn from the softmax of ``logits / temperature``.

    Args:
        temperature: < 1 sharpens (safer, blander), > 1 flattens (more surprising).
        top_k: draw only among the ``top_k`` most likely tokens (0: all).
        top_p: nucleus sampling (Holtzman et al. 2020): among the fewest tokens whose
            probabilities sum to at least ``top_p`` (1: all).
        seed: for reproducible draws.
    """

    def __init__(self, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed=None):
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0 (use Greedy for argmax), received {temperature}.")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], received {top_p}.")
        if top_k < 0:
            raise ValueError(f"top_k must be >= 0, received {top_k}.")
        self.temperature, self.top_k, self.top_p = float(temperature), int(top_k), float(top_p)
        self.seed, self.seed_generator = seed, keras.random.SeedGenerator(seed)

    def get_config(self) -> dict:
        return {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p, "seed": self.seed}

    def choose(self, logits):
        logits = logits / self.temperature
        if self.top_k:
            kth = ops.top_k(logits, min(self.top_k, logits.shape[-1]))[0][:, -1:]
            logits = ops.where(logits < kth, NEG, logits)
        if self.top_p < 1:
            ranked = ops.top_k(logits, logits.shape[-1])[0]  # descending
            probabilities = ops.softmax(ranked, axis=-1)
            before = ops.cumsum(probabilities, axis=-1) - probabilities  # mass of the better ones
            # The smallest logit still needed to reach top_p (the best token always stays).
            threshold = ops.min(ops.where(before < self.top_p, ranked, -NEG), axis=-1, keepdims=True)
            logits = ops.where(logits < threshold, NEG, logits)
        return keras.random.categorical(logits, 1, seed=self.seed_generator)[:, 0]


class BeamSearch:
    """Keeps the ``beams`` most likely partial sequences; returns the best one per row.

    Scores are summed log-probabilities; a finished sequence (it chose ``end_id``) keeps its
    score. The winner maximises ``score / length ** length_penalty`` (0: plain likelihood,
    which favours short answers when sequences can end; GNMT uses 0.6).
    """

    def __init__(self, beams: int = 4, length_penalty: float = 0.0):
        if beams < 1:
            raise ValueError(f"beams must be >= 1, received {beams}.")
        self.beams, self.length_penalty = int(beams), float(length_penalty)

    def get_config(self) -> dict:
        return {"beams": self.beams, "length_penalty": self.length_penalty}

    def __call__(self, next_fn, logits, state, length: int, end_id: int | None = None):
        ids, _ = self.n_best(next_fn, logits, state, length, end_id, 1)
        return ids[:, 0]

    def n_best(self, next_fn, logits, state, length: int, end_id: int | None = None, n: int = 1):
        """The ``n`` best of the final beams, best first: ``ids`` ``int32[batch, n, length]`` and
        their summed log-probabilities ``float32[batch, n]`` (ranked by the length-penalised
        score; ``n`` at most ``beams``)."""
        if not 1 <= n <= self.beams:
            raise ValueError(f"n_best={n}: expected 1 to beams={self.beams}")
        k = self.beams
        vocabulary = logits.shape[-1]
        batch = ops.shape(logits)[0]
        positions = ops.arange(length, dtype="int32")[None, None, :]
        # Finished beams may only continue with padding (id 0), at no cost.
        pad_only = ops.where(ops.equal(ops.arange(vocabulary), 0), 0.0, NEG)
        # k copies of each row, one of them live: the first step then expands like every other.
        scores = ops.concatenate([ops.zeros((batch, 1)), ops.full((batch, k - 1), NEG)], axis=1)
        logits, state = (keras.tree.map_structure(lambda s: ops.repeat(s, k, axis=0), _as_lists(x))
                         for x in (logits, state))

        def body(i, logits, scores, out, done, steps, state):
            step = ops.reshape(ops.log_softmax(ops.cast(logits, "float32"), axis=-1), (batch, k, vocabulary))
            step = ops.where(done[:, :, None], pad_only, step)
            candidates = ops.reshape(scores[:, :, None] + step, (batch, k * vocabulary))
            scores, chosen = ops.top_k(candidates, k)
            chosen = ops.cast(chosen, "int32")
            parent, tokens = chosen // vocabulary, chosen % vocabulary
            out = ops.take_along_axis(out, parent[:, :, None], axis=1)
            out = ops.where(ops.equal(positions, i), tokens[:, :, None], out)
            was_done = ops.take_along_axis(done, parent, axis=1)
            steps = ops.take_along_axis(steps, parent, axis=1) + ops.cast(ops.logical_not(was_done), "int32")
            done = was_done if end_id is None else ops.logical_or(was_done, ops.equal(tokens, end_id))
            rows = ops.reshape(parent + ops.arange(batch, dtype="int32")[:, None] * k, (-1,))
            state = keras.tree.map_structure(lambda s: ops.take(s, rows, axis=0), _as_lists(state))
            logits, state = next_fn(ops.reshape(tokens, (-1,)), state)
            return i + 1, logits, scores, out, done, steps, _as_lists(state)

        def cond(i, logits, scores, out, done, steps, state):
            return ops.logical_and(i < length, ops.logical_not(ops.all(done)))

        start = (ops.convert_to_tensor(0, "int32"), logits, scores, ops.zeros((batch, k, length), "int32"),
                 ops.zeros((batch, k), "bool"), ops.zeros((batch, k), "int32"), state)
        _, _, scores, out, _, steps, _ = ops.while_loop(cond, body, start)
        normalised = scores / ops.power(ops.maximum(ops.cast(steps, "float32"), 1.0), self.length_penalty)
        best = ops.cast(ops.top_k(normalised, n)[1], "int32")
        return ops.take_along_axis(out, best[:, :, None], axis=1), ops.take_along_axis(scores, best, axis=1)


def _as_lists(state):
    """The same nest with lists for every sequence, so a loop's state keeps one structure."""
    return [_as_lists(s) for s in state] if isinstance(state, (list, tuple)) else state


SAMPLERS = {"greedy": Greedy, "sampling": Sampling, "beam": BeamSearch}


def get(name: str, **config):
    """A sampler by name (``greedy``, ``sampling``, ``beam``) from its ``get_config()``;
    ``get(s.name, **s.get_config())`` rebuilds ``s``. Keys the sampler does not take are
    ignored, so one recipe section (``generate``) can hold every sampler's options.

    >>> get("beam", beams=8).get_config()
    {'beams': 8, 'length_penalty': 0.0}
    """
    import inspect

    if name not in SAMPLERS:
        raise ValueError(f"Unknown sampler {name!r}: expected one of {sorted(SAMPLERS)}.")
    takes = inspect.signature(SAMPLERS[name]).parameters
    return SAMPLERS[name](**{key: value for key, value in config.items() if key in takes})


__all__ = ["BeamSearch", "Greedy", "SAMPLERS", "Sampler", "Sampling", "get"]
