"""The linear-chain CRF against brute force: every tag sequence enumerated."""

import itertools
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras import ops

from tfseq.layers import CRF

K, T = 3, 4
LENGTHS = [4, 2, 1, 0]


def setup(seed=0):
    rng = np.random.default_rng(seed)
    crf = CRF(K)
    crf.build()
    crf.set_weights([rng.normal(size=(K, K)), rng.normal(size=K), rng.normal(size=K)])
    emissions = rng.normal(size=(len(LENGTHS), T, K)).astype("float32")
    mask = np.arange(T)[None] < np.array(LENGTHS)[:, None]
    return crf, emissions, mask


def brute_force(crf, emissions, length):
    """Score of every tag sequence of ``length`` steps (the definition, one term at a time)."""
    transitions, start, end = crf.get_weights()
    scores = {}
    for tags in itertools.product(range(K), repeat=length):
        score = start[tags[0]] + end[tags[-1]] + sum(emissions[t, tags[t]] for t in range(length))
        score += sum(transitions[tags[t - 1], tags[t]] for t in range(1, length))
        scores[tags] = score
    return scores


def test_log_likelihood_is_the_normalised_sequence_score():
    crf, emissions, mask = setup()
    rng = np.random.default_rng(1)
    tags = rng.integers(0, K, size=(len(LENGTHS), T))
    got = ops.convert_to_numpy(crf.log_likelihood(emissions, tags, mask))
    for row, length in enumerate(LENGTHS):
        if length == 0:
            assert got[row] == 0  # an empty row has one (empty) sequence
            continue
        scores = brute_force(crf, emissions[row], length)
        log_z = np.logaddexp.reduce(list(scores.values()))
        assert got[row] == pytest.approx(scores[tuple(tags[row, :length])] - log_z, abs=1e-4)


def test_probabilities_of_all_sequences_sum_to_one():
    crf, emissions, mask = setup(2)
    every = np.array(list(itertools.product(range(K), repeat=T)))  # padded steps take any tag
    total = 0.0
    for tags in every:
        total += np.exp(ops.convert_to_numpy(crf.log_likelihood(emissions[:1], tags[None], mask[:1]))[0])
    assert total == pytest.approx(1.0, abs=1e-4)


def test_viterbi_finds_the_best_sequence_and_zeros_padding():
    crf, emissions, mask = setup(3)
    best = ops.convert_to_numpy(crf(emissions, mask=mask))
    assert best.shape == (len(LENGTHS), T) and best.dtype == np.int32
    for row, length in enumerate(LENGTHS):
        assert (best[row, length:] == 0).all()
        if length:
            scores = brute_force(crf, emissions[row], length)
            assert tuple(best[row, :length]) == max(scores, key=scores.get)


def test_training_learns_transitions_the_emissions_do_not_show():
    # Emissions say nothing; the tags alternate 0, 1, 0, 1, ...: only transitions can learn it,
    # and the start score must learn to begin at 0.
    crf = CRF(2)
    emissions = np.zeros((8, 6, 2), "float32")
    tags = np.tile([0, 1, 0, 1, 0, 1], (8, 1))
    crf.build()
    optimizer = keras.optimizers.Adam(0.1)
    import tensorflow as tf

    for _ in range(60):
        with tf.GradientTape() as tape:
            loss = -ops.mean(crf.log_likelihood(emissions, tags))
        optimizer.apply_gradients(zip(tape.gradient(loss, crf.trainable_variables), crf.trainable_variables))
    assert float(loss) < 0.05
    np.testing.assert_array_equal(ops.convert_to_numpy(crf(emissions)), tags)


def test_serialization_and_bad_input():
    crf, emissions, mask = setup()
    clone = CRF.from_config(crf.get_config())
    clone.build()
    clone.set_weights(crf.get_weights())
    np.testing.assert_array_equal(
        ops.convert_to_numpy(clone(emissions, mask=mask)), ops.convert_to_numpy(crf(emissions, mask=mask))
    )
    with pytest.raises(ValueError, match=r"CRF\(3\) expects emissions of shape \(batch, time, 3\), got \(4, 4, 5\)"):
        crf(np.zeros((4, 4, 5), "float32"))


def test_same_answers_under_the_torch_backend():
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    crf, emissions, mask = setup()
    tags = np.random.default_rng(1).integers(0, K, size=(len(LENGTHS), T))
    expected = (
        ops.convert_to_numpy(crf.log_likelihood(emissions, tags, mask)),
        ops.convert_to_numpy(crf(emissions, mask=mask)),
    )
    script = textwrap.dedent(f"""
        import keras, numpy as np
        from keras import ops
        from tfseq.layers import CRF
        assert keras.backend.backend() == "torch"
        crf = CRF({K}); crf.build()
        crf.set_weights([np.array(w, "float32") for w in {[w.tolist() for w in crf.get_weights()]}])
        emissions, mask = np.array({emissions.tolist()}, "float32"), np.array({mask.tolist()})
        tags = np.array({tags.tolist()})
        print(ops.convert_to_numpy(crf.log_likelihood(emissions, tags, mask)).tolist())
        print(ops.convert_to_numpy(crf(emissions, mask=mask)).tolist())
    """)
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "KERAS_BACKEND": "torch"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    likelihood, best = result.stdout.strip().splitlines()[-2:]
    np.testing.assert_allclose(eval(likelihood), expected[0], atol=1e-4)
    np.testing.assert_array_equal(eval(best), expected[1])


def test_traced_with_unknown_lengths_and_single_steps():
    import tensorflow as tf

    crf, emissions, mask = setup(4)
    tags = np.random.default_rng(4).integers(0, K, size=(len(LENGTHS), T)).astype("int32")
    # What fit and predict trace: (None, None, K). And a one-step batch: no transition at all.
    traced = tf.function(
        lambda e, m, t: (crf(e, mask=m), crf.log_likelihood(e, t, m)),
        input_signature=[
            tf.TensorSpec([None, None, K]),
            tf.TensorSpec([None, None], tf.bool),
            tf.TensorSpec([None, None], tf.int32),
        ],
    )
    for e, m, t in [(emissions, mask, tags), (emissions[:, :1], mask[:, :1], tags[:, :1])]:
        best, likelihood = traced(e, m, t)
        np.testing.assert_array_equal(best.numpy(), ops.convert_to_numpy(crf(e, mask=m)))
        np.testing.assert_allclose(likelihood.numpy(), ops.convert_to_numpy(crf.log_likelihood(e, t, m)), atol=1e-5)


def test_marginals_are_the_probabilities_of_every_path_through_each_step():
    from tfseq.tflite_app import marginals

    rng = np.random.default_rng(3)
    crf = CRF(3)
    crf.build()
    for weight, shape in (("transitions", (3, 3)), ("start", (3,)), ("end", (3,))):
        getattr(crf, weight).assign(rng.normal(size=shape).astype("float32"))
    emissions = rng.normal(size=(2, 4, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)
    got = np.asarray(crf.marginals(emissions, mask))
    trans, start, end = (np.asarray(getattr(crf, w)) for w in ("transitions", "start", "end"))
    for row in range(2):
        n = int(mask[row].sum())
        p = np.zeros((n, 3))
        for path in itertools.product(range(3), repeat=n):  # every path, weighted by exp(score)
            score = (
                start[path[0]]
                + end[path[-1]]
                + sum(emissions[row, t, path[t]] for t in range(n))
                + sum(trans[path[t - 1], path[t]] for t in range(1, n))
            )
            for t in range(n):
                p[t, path[t]] += np.exp(score)
        np.testing.assert_allclose(got[row, :n], p / p[0].sum(), atol=1e-5)
        assert not got[row, n:].any()
        np.testing.assert_allclose(marginals(emissions[row, :n], start, end, trans), p / p[0].sum(), atol=1e-5)
