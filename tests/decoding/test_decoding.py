"""Samplers against exact answers on a Markov chain whose next-token scores are known."""

import itertools

import numpy as np
import pytest
from keras import ops

from tfseq import decoding

# ids 0 (padding) .. 4; from each id, the logits of the next one. Id 0 is never chosen.
TABLE = np.array([
    [-1e9, 2.0, 1.0, 0.5, 0.0],
    [-1e9, 0.1, 2.5, 0.3, 0.2],
    [-1e9, 1.5, 0.0, 1.4, 1.0],
    [-1e9, 0.2, 0.1, 0.0, 3.0],
    [-1e9, 1.0, 1.1, 0.9, 0.8],
], "float32")  # no ties: backends break them differently
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
        candidates = {tuple(s[: s.index(end_id) + 1] if end_id in s else s)
                      for s in itertools.product(range(1, 5), repeat=length)}
        best = max(candidates, key=lambda s: score(first, s, end_id))
        found = tuple(t for t in beam[row] if t != 0)
        assert score(first, found, end_id) == pytest.approx(score(first, best, end_id))
    # Greedy is a beam of one.
    one = decoding.BeamSearch(beams=1)(chain, *start(firsts), length=length, end_id=end_id)
    greedy = decoding.Greedy()(chain, *start(firsts), length=length, end_id=end_id)
    assert ops.convert_to_numpy(one).tolist() == ops.convert_to_numpy(greedy).tolist()


def test_length_penalty_picks_the_best_score_per_length_power():
    length, firsts, end_id = 3, [1, 2, 3, 4], 1
    candidates = {tuple(s[: s.index(end_id) + 1] if end_id in s else s)
                  for s in itertools.product(range(1, 5), repeat=length)}
    winners = {}
    for penalty in (0.0, 0.6, 1.0):
        beam = ops.convert_to_numpy(decoding.BeamSearch(beams=64, length_penalty=penalty)(
            chain, *start(firsts), length=length, end_id=end_id))
        for row, first in enumerate(firsts):
            best = max(candidates, key=lambda s: score(first, s, end_id) / len(s) ** penalty)
            winners[penalty, first] = found = tuple(t for t in beam[row] if t != 0)
            assert score(first, found, end_id) / len(found) ** penalty == pytest.approx(
                score(first, best, end_id) / len(best) ** penalty)
    # Plain likelihood ends early where it can; dividing by the length prefers longer answers.
    assert sum(len(winners[0.0, f]) for f in firsts) < sum(len(winners[1.0, f]) for f in firsts)


@pytest.mark.parametrize("end_id", [None, 1])
def test_n_best_are_the_most_likely_sequences_in_order_with_their_log_probabilities(end_id):
    length, firsts, n = 3, [1, 2, 3, 4], 5
    ids, scores = decoding.BeamSearch(beams=64).n_best(chain, *start(firsts), length=length, end_id=end_id, n=n)
    ids, scores = ops.convert_to_numpy(ids), ops.convert_to_numpy(scores)
    assert ids.shape == (4, n, length) and scores.shape == (4, n)
    for row, first in enumerate(firsts):
        candidates = {tuple(s[: s.index(end_id) + 1] if end_id in s else s)
                      for s in itertools.product(range(1, 5), repeat=length)}
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
