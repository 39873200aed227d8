"""Samplers against exact answers on a Markov chain whose next-token scores are known."""

import itertools

import numpy as np
import pytest
from keras import ops

from tfseq import decoding

# ids 0 (padding) .. 4; from each id, the logits of the next one. Id 0 is never chosen.
TABLE = np.array(
    [
        [-1e9, 2.0, 1.0, 0.5, 0.0],
        [-1e9, 0.1, 2.5, 0.3, 0.2],
        [-1e9, 1.5, 0.0, 1.4, 1.0],
        [-1e9, 0.2, 0.1, 0.0, 3.0],
        [-1e9, 1.0, 1.1, 0.9, 0.8],
    ],
    "float32",
)  # no ties: backends break them differently
LOG_P = TABLE - np.log(np.exp(TABLE - TABLE.max(1, keepdims=True)).sum(1, keepdims=True)) - TABLE.max(1, keepdims=True)


def chain(ids, state):
    """The ``next`` function: logits from the last id; the state counts steps (any nest works)."""
    return ops.take(ops.convert_to_tensor(TABLE), ids, axis=0), [state[0] + 1]


def start(first_ids):
    ids = np.asarray(first_ids, "int32")
    return ops.convert_to_tensor(TABLE[ids]), [ops.zeros((len(ids), 1))]


def score(first, sequence, end_id=None):
    total, previous = 0.0, first
    for token in sequence:
        total += LOG_P[previous, token]
        if token == end_id:
            break
        previous = token
    return total


def test_greedy_follows_the_argmax_chain():
    out = ops.convert_to_numpy(decoding.Greedy()(chain, *start([1, 3]), length=4))
    assert out.tolist() == [[2, 1, 2, 1], [4, 2, 1, 2]]


def test_sampling_with_one_candidate_is_greedy_and_stops_at_the_end_id():
    logits, state = start([1, 3])
    greedy = ops.convert_to_numpy(decoding.Greedy()(chain, logits, state, length=5, end_id=1))
    assert greedy.tolist() == [[2, 1, 0, 0, 0], [4, 2, 1, 0, 0]]  # padding after the end
    for sampler in (decoding.Sampling(top_k=1, seed=0), decoding.Sampling(top_p=0.01, seed=0)):
        assert ops.convert_to_numpy(sampler(chain, logits, state, length=5, end_id=1)).tolist() == greedy.tolist()


def test_sampling_draws_from_the_softmax_at_its_temperature():
    rows = 6000
    logits, state = start([2] * rows)
    for temperature in (1.0, 0.5):
        first = ops.convert_to_numpy(decoding.Sampling(temperature, seed=1)(chain, logits, state, length=1))[:, 0]
        expected = np.exp(TABLE[2, 1:] / temperature)
        expected /= expected.sum()
        observed = np.bincount(first, minlength=5)[1:] / rows
        assert np.abs(observed - expected).max() < 0.025, (temperature, observed, expected)


def test_nucleus_keeps_the_fewest_tokens_that_reach_top_p():
    # From id 2: p(1)=0.36, p(3)=0.33, p(4)=0.22, p(2)=0.08; top_p=0.6 keeps ids 1 and 3 only.
    logits, state = start([2] * 2000)
    first = ops.convert_to_numpy(decoding.Sampling(top_p=0.6, seed=2)(chain, logits, state, length=1))[:, 0]
    assert set(first.tolist()) == {1, 3}
    first = ops.convert_to_numpy(decoding.Sampling(top_k=3, seed=2)(chain, logits, state, length=1))[:, 0]
    assert set(first.tolist()) == {1, 3, 4}


@pytest.mark.parametrize("end_id", [None, 1])
def test_beam_search_with_enough_beams_finds_the_most_likely_sequence(end_id):
    length, firsts = 3, [1, 2, 3, 4]
    beam = decoding.BeamSearch(beams=64)(chain, *start(firsts), length=length, end_id=end_id)
    beam = ops.convert_to_numpy(beam)
    for row, first in enumerate(firsts):
        candidates = {
            tuple(s[: s.index(end_id) + 1] if end_id in s else s) for s in itertools.product(range(1, 5), repeat=length)
        }
        best = max(candidates, key=lambda s: score(first, s, end_id))
        found = tuple(t for t in beam[row] if t != 0)
        assert score(first, found, end_id) == pytest.approx(score(first, best, end_id))
    # Greedy is a beam of one.
    one = decoding.BeamSearch(beams=1)(chain, *start(firsts), length=length, end_id=end_id)
    greedy = decoding.Greedy()(chain, *start(firsts), length=length, end_id=end_id)
    assert ops.convert_to_numpy(one).tolist() == ops.convert_to_numpy(greedy).tolist()


def test_length_penalty_picks_the_best_score_per_length_power():
    length, firsts, end_id = 3, [1, 2, 3, 4], 1
    candidates = {
        tuple(s[: s.index(end_id) + 1] if end_id in s else s) for s in itertools.product(range(1, 5), repeat=length)
    }
    winners = {}
    for penalty in (0.0, 0.6, 1.0):
        beam = ops.convert_to_numpy(
            decoding.BeamSearch(beams=64, length_penalty=penalty)(chain, *start(firsts), length=length, end_id=end_id)
        )
        for row, first in enumerate(firsts):
            best = max(candidates, key=lambda s: score(first, s, end_id) / len(s) ** penalty)
            winners[penalty, first] = found = tuple(t for t in beam[row] if t != 0)
            assert score(first, found, end_id) / len(found) ** penalty == pytest.approx(
                score(first, best, end_id) / len(best) ** penalty
            )
    # Plain likelihood ends early where it can; dividing by the length prefers longer answers.
    assert sum(len(winners[0.0, f]) for f in firsts) < sum(len(winners[1.0, f]) for f in firsts)


@pytest.mark.parametrize("end_id", [None, 1])
def test_n_best_are_the_most_likely_sequences_in_order_with_their_log_probabilities(end_id):
    length, firsts, n = 3, [1, 2, 3, 4], 5
    ids, scores = decoding.BeamSearch(beams=64).n_best(chain, *start(firsts), length=length, end_id=end_id, n=n)
    ids, scores = ops.convert_to_numpy(ids), ops.convert_to_numpy(scores)
    assert ids.shape == (4, n, length) and scores.shape == (4, n)
    for row, first in enumerate(firsts):
        candidates = {
            tuple(s[: s.index(end_id) + 1] if end_id in s else s) for s in itertools.product(range(1, 5), repeat=length)
        }
        expected = sorted((score(first, s, end_id) for s in candidates), reverse=True)[:n]
        found = [tuple(t for t in hypothesis if t != 0) for hypothesis in ids[row]]
        assert len(set(found)) == n  # n different answers, not n copies of the best
        np.testing.assert_allclose(scores[row], expected, rtol=1e-5)
        np.testing.assert_allclose([score(first, f, end_id) for f in found], scores[row], rtol=1e-5)
    # The first of the n best is what the beam answers alone.
    best = decoding.BeamSearch(beams=64)(chain, *start(firsts), length=length, end_id=end_id)
    assert ops.convert_to_numpy(best).tolist() == ids[:, 0].tolist()
    with pytest.raises(ValueError, match="n_best=65: expected 1 to beams=64"):
        decoding.BeamSearch(beams=64).n_best(chain, *start(firsts), length=length, n=65)


def test_beam_search_beats_greedy_where_greedy_is_short_sighted():
    # From 2 (length 2): greedy 1 -> 2 scores .366 * .768 = .281; beam finds 3 -> 4: .331 * .858 = .284.
    beam = ops.convert_to_numpy(decoding.BeamSearch(beams=4)(chain, *start([2]), length=2))[0]
    greedy = ops.convert_to_numpy(decoding.Greedy()(chain, *start([2]), length=2))[0]
    assert score(2, beam) > score(2, greedy)
    assert beam.tolist() == [3, 4]


def test_bad_sampler_options_are_clear():
    with pytest.raises(ValueError, match="temperature"):
        decoding.Sampling(temperature=0)
    with pytest.raises(ValueError, match="top_p"):
        decoding.Sampling(top_p=0)
    with pytest.raises(ValueError, match="Unknown sampler"):
        decoding.get("nucleus")
    assert isinstance(decoding.get("beam", beams=2), decoding.BeamSearch)


def loops(ids, state):
    """A model that loves to repeat: from 1 go to 2, from 2 back to 1 (3 and 4 a little less)."""
    table = np.array(
        [[-1e9, 1, 0, 0, 0], [-1e9, 0, 3, 1, 0.5], [-1e9, 3, 0, 1, 0.5], [-1e9, 2, 1, 0, 0.5], [-1e9, 2, 1, 0.5, 0]],
        "float32",
    )
    return ops.take(ops.convert_to_tensor(table), ids, axis=0), state


def ngrams(row, n):
    return [tuple(row[i : i + n]) for i in range(len(row) - n + 1)]


@pytest.mark.parametrize(
    "sampler",
    [
        decoding.Greedy,
        lambda **c: decoding.BeamSearch(beams=3, **c),
        lambda **c: decoding.Sampling(temperature=0.3, seed=0, **c),
    ],
)
def test_no_repeat_ngram_and_repetition_penalty_break_loops(sampler):
    logits, state = loops(np.array([1, 2], "int32"), [ops.zeros((2, 1))])
    looping = ops.convert_to_numpy(sampler()(loops, logits, state, 8))
    assert any(len(set(ngrams(list(row), 2))) < len(ngrams(list(row), 2)) for row in looping)  # 2 1 2 1 ...
    for n in (1, 2, 3):
        rows = ops.convert_to_numpy(sampler(no_repeat_ngram_size=n)(loops, logits, state, 8 if n > 1 else 4))
        for row in rows:
            assert len(set(ngrams(list(row), n))) == len(ngrams(list(row), n)), (n, row)
    penalised = ops.convert_to_numpy(decoding.Greedy(repetition_penalty=50.0)(loops, logits, state, 4))
    assert all(len(set(row)) == 4 for row in penalised)  # every token seen becomes unlikely


def test_every_sampler_scores_what_it_chose_and_samples_give_an_n_best():
    logits, state = start([1, 3])
    ids, scores = decoding.Greedy().scored(chain, logits, state, 3)
    for first, row, s in zip([1, 3], ops.convert_to_numpy(ids), ops.convert_to_numpy(scores)):
        assert s == pytest.approx(score(first, row), abs=1e-5)
    ids, scores = decoding.Sampling(seed=1).n_best(chain, logits, state, 3, n=5)
    ids, scores = ops.convert_to_numpy(ids), ops.convert_to_numpy(scores)
    assert ids.shape == (2, 5, 3) and (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    for first, rows, row_scores in zip([1, 3], ids, scores):
        for row, s in zip(rows, row_scores):
            assert s == pytest.approx(score(first, row), abs=1e-5)


def test_beam_n_best_shows_the_scores_it_ranks_by():
    logits, state = start([1])
    beam = decoding.BeamSearch(beams=4, length_penalty=1.0)
    ids, scores = beam.n_best(chain, logits, state, 4, end_id=4, n=4)
    ids, scores = ops.convert_to_numpy(ids)[0], ops.convert_to_numpy(scores)[0]
    assert (np.diff(scores) <= 1e-6).all()  # printed in the order of the scores shown
    for row, s in zip(ids, scores):
        kept = [t for t in row if t]
        assert s == pytest.approx(score(1, kept, 4) / len(kept), abs=1e-5)  # log-probability / length ** 1


def test_keras_hub_sampler_names_and_settings_given_as_tensors():
    assert decoding.get("top_k").get_config()["top_k"] == 5 and decoding.get("top_k", top_k=9).top_k == 9
    assert decoding.get("top_p").top_p == 0.1 and type(decoding.get("random")) is decoding.Sampling
    assert decoding.get(decoding.Greedy()) is not None
    with pytest.raises(ValueError, match="expected one of"):
        decoding.get("nucleus")
    # An export passes its settings as tensors: the same choices as the same numbers.
    logits, state = start([1, 3])
    for config in ({"top_k": 1}, {"top_p": 0.01}, {"temperature": 0.01}):
        as_numbers = ops.convert_to_numpy(decoding.Sampling(seed=0, **config)(chain, logits, state, 4))
        as_tensors = decoding.Sampling(
            seed=0,
            **{
                key: ops.convert_to_tensor(value)
                for key, value in {"top_k": 0, "top_p": 1.0, "temperature": 1.0, **config}.items()
            },
        )
        assert (ops.convert_to_numpy(as_tensors(chain, logits, state, 4)) == as_numbers).all(), config
    import keras

    if keras.backend.backend() != "tensorflow":
        return  # a beam count given as a tensor makes shapes dynamic: the TensorFlow export's path only
    beams = decoding.BeamSearch(beams=ops.convert_to_tensor(3), length_penalty=ops.convert_to_tensor(0.0))
    fixed = decoding.BeamSearch(beams=3)
    for got, want in zip(
        beams.n_best(chain, logits, state, 4, 4, n=ops.convert_to_tensor(2)),
        fixed.n_best(chain, logits, state, 4, 4, n=2),
    ):
        np.testing.assert_allclose(ops.convert_to_numpy(got), ops.convert_to_numpy(want), atol=1e-6)
