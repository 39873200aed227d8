"""Language models: the model's scoring and generation against recomputation, the n-gram bar,
and the lm task end to end through the SavedModel and tfseq-predict."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from tfseq import cli, data, decoding, recipes
from tfseq.models import LanguageModel, RecurrentBackbone
from tfseq.models.ngram import KneserNeyLM

FAST = [
    "backbone.units=24",
    "backbone.embedding_dim=16",
    "train.batch_size=16",
    "train.verbose=0",
    "data.steps=20",
    "baseline_order=3",
]


def tiny_model(cell="gru", layers=1, vocabulary=9, seed=0):
    keras.utils.set_random_seed(seed)
    model = LanguageModel(RecurrentBackbone(vocabulary, cell=cell, units=8, layers=layers, embedding_dim=6), line_end=2)
    model(np.zeros((1, 2), "int32"))
    return model


def full_pass_log_probabilities(model, ids):
    """log p of each id given all before it, by one call on the whole row (no carried state)."""
    logits = ops.convert_to_numpy(ops.log_softmax(model(ids[None, :-1]), axis=-1))[0]
    return logits[np.arange(len(ids) - 1), ids[1:]]


@pytest.mark.parametrize("cell,layers", [("gru", 1), ("lstm", 2), ("rnn", 1)])
def test_stream_loss_carries_the_state_across_windows(cell, layers, rng):
    model = tiny_model(cell, layers)
    stream = rng.integers(1, 9, size=61).astype("int32")
    exact = -full_pass_log_probabilities(model, stream).mean()
    assert model.stream_loss(stream, segments=1, window=7) == pytest.approx(exact, rel=1e-5)
    # Side by side rows: the same tokens, each row's first predicted from a fresh state.
    assert model.stream_loss(stream, segments=3, window=5) == pytest.approx(
        np.mean([-full_pass_log_probabilities(model, stream[i * 20 : (i + 1) * 20 + 1]) for i in range(3)]), rel=1e-5
    )


def test_score_is_the_lines_log_probability_and_padding_changes_nothing():
    model = tiny_model("lstm")
    rows = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 3, 4]], "int32")
    scores = model.score(rows)
    for row, ids in enumerate(rows):
        line = np.array([2, *ids[ids != 0], 2], "int32")  # a fresh line, the tokens, the line end
        expected = full_pass_log_probabilities(model, line).sum()
        assert scores["log_probability"][row] == pytest.approx(expected, rel=1e-5)
        assert scores["tokens"][row] == len(line) - 1
    assert scores["perplexity"] == pytest.approx(np.exp(-scores["log_probability"] / scores["tokens"]))


def test_start_from_prior_sets_the_unigram_log_frequencies_of_a_stream(rng):
    model = tiny_model(vocabulary=40)
    stream = np.minimum(rng.zipf(1.5, size=3000), 39).astype("int32")  # a skewed stream of ids 1..39
    before = model.stream_loss(stream, segments=1, window=50)
    assert model.start_from_prior(stream) is model
    counts = np.bincount(stream, minlength=40) + 1.0
    counts[0] = 1
    p = counts / counts.sum()
    np.testing.assert_allclose(ops.convert_to_numpy(model.logits.bias), np.log(p), rtol=1e-6)
    # Untrained, it now scores the stream at about its unigram entropy, far below the uniform guess.
    entropy = float(-np.log(p[stream[1:]]).mean())
    after = model.stream_loss(stream, segments=1, window=50)
    assert before > np.log(40) - 0.1 and abs(after - entropy) < 0.1 and after < before - 1


def test_tied_output_scores_tokens_with_their_input_embeddings(tmp_path, rng):
    keras.utils.set_random_seed(0)
    untied = tiny_model(vocabulary=40)
    model = LanguageModel(RecurrentBackbone(40, units=8, embedding_dim=6), line_end=2, tie_embeddings=True)
    ids = rng.integers(1, 40, (3, 9)).astype("int32")
    ids[ids == 7] = 8  # token 7 is never read, only scored
    logits = ops.convert_to_numpy(model(ids))
    # The output has no (units x vocabulary) matrix of its own: a (units x embedding_dim) map and a bias.
    assert model.count_params() == untied.count_params() - 8 * 40 + 8 * 6
    table = model.backbone.embeddings["tokens"].embeddings
    features, _ = model.backbone(ids)
    by_hand = ops.convert_to_numpy(features) @ ops.convert_to_numpy(model.logits.projection) @ ops.convert_to_numpy(
        table
    ).T + ops.convert_to_numpy(model.logits.bias)
    np.testing.assert_allclose(logits, by_hand, rtol=1e-5, atol=1e-6)
    # One table: moving token 7's input vector moves its score, and no other token's.
    rows = ops.convert_to_numpy(table).copy()
    rows[7] += 1.0
    table.assign(rows)
    moved = ops.convert_to_numpy(model(ids)) - logits
    changed = np.abs(moved).max(axis=(0, 1)) > 1e-6
    assert changed.tolist() == [i == 7 for i in range(40)]
    model.start_from_prior(ids)
    stream = ids.ravel()
    counts = np.bincount(stream, minlength=40) + 1.0
    counts[0] = 1
    np.testing.assert_allclose(ops.convert_to_numpy(model.logits.bias), np.log(counts / counts.sum()), rtol=1e-6)
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    history = model.fit(ids[:, :-1], ids[:, 1:], epochs=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] - 0.5
    path = tmp_path / "tied.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.tie_embeddings
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(ids)), ops.convert_to_numpy(model(ids)), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_greedy_generation_equals_rereading_the_whole_prefix(cell):
    model = tiny_model(cell, layers=2)
    prompts = np.array([[2, 3, 4, 5], [2, 6, 0, 0]], "int32")  # rows of different lengths
    out = ops.convert_to_numpy(model.generate_ids(prompts, 6, decoding.Greedy()))
    for row, prompt in enumerate(prompts):
        prefix = list(prompt[prompt != 0])
        for _ in range(6):
            logits = ops.convert_to_numpy(model(np.array([prefix], "int32")))[0, -1]
            prefix.append(int(np.argmax(logits)))
        assert out[row].tolist() == prefix[-6:]
    beam = ops.convert_to_numpy(model.generate_ids(prompts, 6, decoding.BeamSearch(1)))
    assert beam.tolist() == out.tolist()


def test_fit_learns_text_and_keras_round_trip_keeps_scores(tmp_path):
    text = "the cat sat\nthe dog ran\n" * 60
    vectorizer = data.TextVectorizer(split="character", lowercase=False, keep_whitespace=True).adapt([text])
    vectorizer.vocabularies = {1: ["\n", *(t for t in vectorizer.vocabularies[1] if t != "\n")]}
    assert vectorizer.tokenize(["a b\n"]) == [["a", " ", "b", "\n"]]
    assert vectorizer.tokens(["a b\n"]).row_lengths().numpy().tolist() == [4]  # the graph splits alike
    index = {t: i + 2 for i, t in enumerate(vectorizer.vocabularies[1])}
    stream = np.array([index[c] for c in text], "int32")
    x = stream[:-1][: 20 * 65].reshape(-1, 20)
    y = stream[1:][: 20 * 65].reshape(-1, 20)
    keras.utils.set_random_seed(0)
    model = LanguageModel(
        RecurrentBackbone(vectorizer.vocabulary_size(), units=32, embedding_dim=8), line_end=2, preprocessor=vectorizer
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    model.fit(x, y, epochs=12, batch_size=16, verbose=0)
    assert model.stream_loss(stream) < 0.35  # only "c"/"d" after "the " is uncertain: ln 2 / 12 chars
    seen, unseen = model.score(["the cat sat", "tac eht"])["perplexity"]
    assert seen < 1.5 < unseen
    assert model.generate(["the c"], length=6, sampler=decoding.Greedy()) == ["at sat"]
    path = tmp_path / "lm.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert np.allclose(
        loaded.score(["the dog ran"])["log_probability"], model.score(["the dog ran"])["log_probability"]
    )
    assert loaded.generate(["the d"], length=6, sampler=decoding.Greedy()) == ["og ran"]


def test_training_windows_start_at_a_new_offset_every_epoch():
    from tfseq.tasks.lm import shifted_windows

    stream = np.arange(100, dtype="int32") + 2

    def epoch(pipeline, number):
        return [(x, y) for xs, ys in pipeline.one_epoch(number) for x, y in zip(xs.numpy(), ys.numpy())]

    pipeline = shifted_windows(stream, 7, seed=3, batch_size=4)
    assert pipeline.steps == 4  # 13 windows in batches of 4
    offsets = []
    for number in range(6):
        windows = epoch(pipeline, number)
        assert len(windows) == 13  # the same count whatever the offset
        for x, y in windows:  # contiguous slices of the stream; targets one id later
            assert np.array_equal(x, np.arange(x[0], x[0] + 7)) and np.array_equal(y, x + 1)
        starts = sorted(int(x[0]) - 2 for x, _ in windows)
        assert np.all(np.diff(starts) == 7) and 0 <= starts[0] < 7
        offsets.append(starts[0])
        # An epoch is a function of (seed, epoch) alone: a new pipeline (a resumed run) replays it.
        again = epoch(shifted_windows(stream, 7, seed=3, batch_size=4), number)
        assert all(np.array_equal(a[0], b[0]) for a, b in zip(windows, again))
    assert len(set(offsets)) > 1  # a new offset from epoch to epoch
    # A stream of one window and a little: offsets only as far as the targets allow.
    short = np.arange(10, dtype="int32")
    for number in range(3):
        for x, y in epoch(shifted_windows(short, 7), number):
            assert len(x) == 7 and x[0] <= 2 and np.array_equal(y, x + 1)


def test_sequential_windows_rows_go_on_where_they_stopped():
    from tfseq.tasks.lm import sequential_rows, sequential_windows

    stream = np.arange(200, dtype="int32") + 2
    pipeline = sequential_windows(stream, 6, seed=1, batch_size=4)
    assert sequential_rows(200, 6, 4) == 4 and pipeline.steps == 8  # (200 - 6) // 4 = 48 ids a row: 8 windows
    offsets = set()
    for number in range(5):
        batches = [(x.numpy(), y.numpy()) for x, y in pipeline.one_epoch(number)]
        assert len(batches) == pipeline.steps and all(x.shape == (4, 6) for x, _ in batches)  # every batch full
        for (x, y), (after, _) in zip(batches, batches[1:]):
            assert np.array_equal(y, x + 1)
            assert np.array_equal(after[:, 0], x[:, -1] + 1)  # each row goes on where it stopped
        first = batches[0][0][:, 0] - 2
        assert np.all(np.diff(first) == 48) and 0 <= first[0] < 6  # contiguous parts after an offset
        offsets.add(int(first[0]))
        again = [x.numpy() for x, _ in sequential_windows(stream, 6, seed=1, batch_size=4).one_epoch(number)]
        assert all(np.array_equal(a, b) for a, b in zip(again, (x for x, _ in batches)))  # (seed, epoch) alone
    assert len(offsets) > 1
    assert sequential_rows(40, 6, 32) == 2  # a short stream: fewer rows, each at least 2 windows
    with pytest.raises(data.DataError, match="too short for data.sampling=sequential"):
        sequential_rows(15, 6, 32)


@pytest.mark.parametrize("cell,layers", [("gru", 2), ("lstm", 1)])
def test_carried_state_reads_each_row_as_one_text_and_is_never_saved(cell, layers, tmp_path, rng):
    model = tiny_model(cell, layers)
    weights = len(model.weights)
    rows = rng.integers(1, 9, size=(2, 12)).astype("int32")
    whole = ops.convert_to_numpy(model(rows))
    model.carry_state(2)
    assert len(model.weights) == weights  # the carried state is no weight
    halves = [
        ops.convert_to_numpy(model(rows[:, :6], training=True)),
        ops.convert_to_numpy(model(rows[:, 6:], training=True)),
    ]
    assert np.allclose(np.concatenate(halves, axis=1), whole, atol=1e-5)  # the second half went on from the first
    assert not np.allclose(ops.convert_to_numpy(model(rows[:, 6:])), whole[:, 6:], atol=1e-3)  # inference: zero state
    model.reset_state()
    assert np.allclose(ops.convert_to_numpy(model(rows[:, :6], training=True)), whole[:, :6], atol=1e-5)
    model.save(tmp_path / "lm.keras")
    loaded = keras.saving.load_model(tmp_path / "lm.keras")
    assert loaded.carried is None and len(loaded.weights) == weights
    model.carry_state(None)
    assert np.allclose(
        ops.convert_to_numpy(model(rows[:, 6:], training=True)), ops.convert_to_numpy(model(rows[:, 6:])), atol=1e-6
    )


def state_norm(model):
    return float(sum(np.abs(ops.convert_to_numpy(v.value)).sum() for layer in model.carried for v in layer))


def test_fit_with_carry_state_trains_and_stops_carrying_after(rng):
    from tfseq.tasks.lm import sequential_windows
    from tfseq.train.callbacks import CarryState

    model = tiny_model(vocabulary=9)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    stream = np.tile(np.array([3, 4, 5, 6, 7, 8], "int32"), 40)
    pipeline = sequential_windows(stream, 5, batch_size=4)
    before = model.stream_loss(stream)
    seen = []  # the carried state's size after each batch, and at each epoch's start
    watch = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(("start", state_norm(model))),
        on_train_batch_end=lambda batch, logs: seen.append(("batch", state_norm(model))),
    )
    history = model.fit(
        pipeline.dataset(0, 3), epochs=3, steps_per_epoch=pipeline.steps, verbose=0, callbacks=[CarryState(4), watch]
    )
    assert all(norm == 0 for kind, norm in seen if kind == "start")  # zeroed every epoch
    assert all(norm > 0 for kind, norm in seen if kind == "batch")  # and carried from batch to batch
    assert model.carried is None and model.stream_loss(stream) < 0.5 * before
    assert len(history.history["loss"]) == 3
    # A later fit without it retraces its step: no state is carried any more.
    model.fit(stream[None, :30], stream[None, 1:31], epochs=1, verbose=0)
    assert model.carried is None


def test_dynamic_evaluation_scores_each_token_before_learning_from_it(rng):
    model = tiny_model("gru", 2)
    weights = [ops.convert_to_numpy(v.value) for v in model.weights]
    stream = rng.integers(3, 9, size=47).astype("int32")
    exact = full_pass_log_probabilities(model, stream)
    # At rate 0 it is the whole stream read in one row: every id given all before it.
    assert np.allclose(model.dynamic_log_probabilities(stream, 0.0, window=10), exact, atol=1e-5)
    learnt = model.dynamic_log_probabilities(stream, 0.5, window=10)
    assert learnt.shape == exact.shape
    assert np.allclose(learnt[:10], exact[:10], atol=1e-5)  # the first window: nothing learnt yet
    assert not np.allclose(learnt[10:], exact[10:], atol=1e-3)  # then it learns
    # No peeking: a token's score depends only on the tokens before it.
    changed = stream.copy()
    changed[31:] = rng.integers(3, 9, size=len(stream) - 31)
    assert np.allclose(model.dynamic_log_probabilities(changed, 0.5, window=10)[:30], learnt[:30], atol=1e-5)
    # The model itself is left as it was.
    assert all(np.array_equal(before, ops.convert_to_numpy(v.value)) for before, v in zip(weights, model.weights))


def test_dynamic_evaluation_gets_used_to_a_new_text(rng):
    """Trained on one pattern, read another: learning while reading (dynamic evaluation)
    scores the new pattern far better than the fixed model does."""
    model = tiny_model(vocabulary=9)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    old = np.tile(np.array([3, 4, 5, 6], "int32"), 60)
    model.fit(old[None, :-1], old[None, 1:], epochs=30, verbose=0)
    new = np.tile(np.array([7, 8, 3, 8, 7], "int32"), 40)
    static = -full_pass_log_probabilities(model, new).mean()
    dynamic = -model.dynamic_log_probabilities(new, 0.3, window=10).mean()
    assert dynamic < 0.5 * static


def test_dynamic_evaluation_and_carried_state_under_the_torch_backend():
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    script = textwrap.dedent(
        """
        import keras, numpy as np
        from keras import ops
        from tfseq.models import LanguageModel, RecurrentBackbone
        assert keras.backend.backend() == "torch"
        keras.utils.set_random_seed(0)
        model = LanguageModel(RecurrentBackbone(9, units=8, layers=2, embedding_dim=6, dropout=0.3,
                                                between_layers=True), line_end=2)
        model(np.zeros((1, 2), "int32"))
        stream = np.random.default_rng(0).integers(3, 9, size=47).astype("int32")
        logits = ops.convert_to_numpy(ops.log_softmax(model(stream[None, :-1]), axis=-1))[0]
        exact = logits[np.arange(46), stream[1:]]
        before = [ops.convert_to_numpy(v.value).copy() for v in model.weights]
        np.testing.assert_allclose(model.dynamic_log_probabilities(stream, 0.0, window=10), exact, atol=1e-5)
        learnt = model.dynamic_log_probabilities(stream, 0.5, window=10)
        np.testing.assert_allclose(learnt[:10], exact[:10], atol=1e-5)
        assert not np.allclose(learnt[10:], exact[10:], atol=1e-3)
        assert all(np.array_equal(b, ops.convert_to_numpy(v.value)) for b, v in zip(before, model.weights))
        print("torch ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "KERAS_BACKEND": "torch"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "torch ok" in result.stdout


def test_kneser_ney_counting_as_it_reads_scores_each_token_before_counting_it(rng):
    train = np.tile(np.array([3, 4, 5, 6], "int32"), 50)
    lm = KneserNeyLM(order=3, vocabulary_size=9).fit(train)
    new = np.tile(np.array([7, 8, 3, 8, 7], "int32"), 20)
    static = lm.token_probabilities(new)
    assert np.allclose(lm.dynamic_token_probabilities(new, window=len(new)), static)  # nothing counted
    read = lm.dynamic_token_probabilities(new, window=10)
    assert read.shape == static.shape and np.allclose(read[:10], static[:10])
    assert -np.log(read).mean() < 0.5 * -np.log(static).mean()  # it learnt the new pattern
    changed = new.copy()
    changed[41:] = rng.integers(3, 9, size=len(new) - 41)
    assert np.allclose(lm.dynamic_token_probabilities(changed, window=10)[:40], read[:40])  # no peeking
    assert np.allclose(lm.token_probabilities(new), static)  # the model itself is unchanged


@pytest.mark.parametrize("order", [1, 3, 5])
def test_kneser_ney_update_counts_as_fitting_on_the_whole_text(order):
    rng = np.random.default_rng(order)
    text = rng.integers(2, 9, 900).astype("int32")
    text[::5] = 3  # some grams seen often, so the discounts and continuations all move
    whole = KneserNeyLM(order, vocabulary_size=9).fit(text)
    read = KneserNeyLM(order, vocabulary_size=9).fit(text[:500]).update(text[500:502]).update(text[502:])
    assert read.discounts == whole.discounts and read.tail == whole.tail
    for key, value in whole.arrays().items():
        assert np.array_equal(read.arrays()[key], value), key
    # The reading model is the one refitted on all it has read at each window's end.
    held_out = rng.integers(2, 9, 120).astype("int32")
    pieces = []
    for start in range(1, 120, 10):
        end = min(start + 10, 120)
        model = (
            KneserNeyLM(order, vocabulary_size=9).fit(np.concatenate([text, held_out[:start]])) if start > 1 else whole
        )
        pieces.append(model.token_probabilities(held_out[max(0, start - order + 1) : end])[-(end - start) :])
    expected = np.concatenate(pieces)
    assert np.allclose(whole.dynamic_token_probabilities(held_out, window=10), expected)


def test_kneser_ney_is_a_distribution_and_beats_unigrams():
    rng = np.random.default_rng(0)
    stream = np.tile([2, 3, 4, 5, 3, 4, 6], 50)
    stream[rng.integers(0, len(stream), 30)] = 7
    lm = KneserNeyLM(order=3, vocabulary_size=9).fit(stream)
    for history in [(3, 4), (4, 5), (8, 8), (), (7,)]:
        assert sum(lm.probability(history, t) for t in range(9)) == pytest.approx(1.0)
    unigram = KneserNeyLM(order=1, vocabulary_size=9).fit(stream)
    assert lm.stream_loss(stream[:100]) < 0.5 * unigram.stream_loss(stream[:100])
    with pytest.raises(ValueError, match="order"):
        KneserNeyLM(order=0)


@pytest.mark.parametrize("order", [1, 3, 5])
def test_interpolated_graph_n_gram_equals_kneser_ney_and_mixes_with_the_network(order):
    from tfseq.models.interpolated import Interpolated, mixture_log_probabilities

    rng = np.random.default_rng(order)
    stream = rng.integers(2, 9, 600).astype("int32")
    stream[::7] = 3  # some structure: contexts seen often, others once or never
    lm = KneserNeyLM(order=order, vocabulary_size=9).fit(stream)
    model = tiny_model()
    mixed = Interpolated(model, lm.arrays(), weight=0.3)
    histories = [(4, 5, 6, 7), (3, 3, 3, 3), (8, 8, 8, 8), (0, 0, 0, 2), (0, 0, 0, 0), (5, 1, 1, 3)]
    width = order - 1
    history = np.array([h[len(h) - width :] if width else () for h in histories], "int32").reshape(
        len(histories), width
    )
    got = mixed.ngram_probabilities(history, np.tile(np.arange(9), (len(histories), 1))).numpy()
    for row, h in enumerate(history):
        expected = [lm.probability(tuple(int(i) for i in h if i), t) for t in range(9)]
        np.testing.assert_allclose(got[row], expected, rtol=1e-5)
    # Scoring lines: the network's and the n-gram model's probabilities of each id, mixed.
    ids = np.array([[2, 4, 5, 6, 2, 0], [2, 3, 3, 2, 0, 0]], "int32")
    scores = mixed.token_log_probabilities(ids).numpy()
    network = np.exp(ops.convert_to_numpy(model.token_log_probabilities(ids)))
    for row in range(2):
        n = int((ids[row] != 0).sum()) - 1
        kn = [
            lm.probability(tuple(ids[row, max(0, t - width) : t]) if width else (), ids[row, t])
            for t in range(1, n + 1)
        ]
        np.testing.assert_allclose(scores[row, :n], mixture_log_probabilities(network[row, :n], kn, 0.3), rtol=1e-5)
        assert not scores[row, n:].any()
    # Generating: greedy from the mixture equals the argmax of the mixture re-scored at each step.
    out = mixed.generate_ids(ids[:1, :3], 4, decoding.Greedy()).numpy()[0]
    prefix = list(ids[0, :3])
    for token in out:
        logits = ops.convert_to_numpy(model(np.array([prefix], "int32")))[0, -1]
        h = np.array([([0] * width + prefix)[-width:]] if width else [[]], "int32").reshape(1, width)
        p = mixed.next_distribution(logits[None], h).numpy()[0]
        assert token == int(np.argmax(p))
        prefix.append(int(token))


def test_the_network_weight_is_fitted_on_the_mixture_loss():
    from tfseq.models.interpolated import fit_weight

    network, ngram = np.array([0.9, 0.9, 0.1, 0.9]), np.array([0.5, 0.5, 0.5, 0.5])
    # 3 log(0.5 + 0.4 w) + log(0.5 - 0.4 w) is largest at w = 0.625: both help, a weight inside (0, 1)
    assert fit_weight(network, ngram) == pytest.approx(0.625, abs=0.006)
    assert fit_weight(network, network / 2) == 1.0 and fit_weight(network / 2, network) == 0.0


def lines(path, n=400):
    rng = np.random.default_rng(0)
    text = "\n".join(f"the {rng.choice(['cat', 'dog'])} {rng.choice(['sat', 'ran'])} on the mat" for _ in range(n))
    path.write_text(text + "\n")
    return path


def test_plain_text_files_hold_out_their_last_lines(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("\n".join(f"line {i}" for i in range(100)))
    dataset = data.load(kind="language-model", train=str(path))
    assert dataset.train["text"].tolist() == [f"line {i}" for i in range(80)]
    assert dataset.validation["text"].tolist() == [f"line {i}" for i in range(80, 90)]
    assert dataset.test["text"].tolist() == [f"line {i}" for i in range(90, 100)]


def test_auto_reads_a_small_text_many_times_with_dropout_and_two_layers_a_large_one_three_times(tmp_path):
    """Weight dropout and dynamic evaluation follow the same rule as dropout."""
    from pathlib import Path

    import tfseq.tasks.lm as lm
    from tfseq import tasks
    from tfseq.train.run_folder import RunFolder
    from tfseq.train.task import epochs_for

    rule = {
        key: value for key, (value, _) in recipes.auto_values(Path(lm.__file__).with_name("auto.yaml"))["rule"].items()
    }  # the one home of the rule's numbers
    MAX_EPOCHS = rule["max_epochs"]
    assert epochs_for(1_499_244, rule) == 3  # text-zh's training characters: as before auto
    assert epochs_for(132_479, rule) == 34 and epochs_for(100, rule) == MAX_EPOCHS and epochs_for(10**9, rule) == 3

    def chosen(text, *extra):
        config = recipes.resolve(
            "lm",
            [
                ("data.name", "null"),
                ("data.train", str(text)),
                ("run.dir", str(tmp_path / "run")),
                *(tuple(e.split("=", 1)) for e in extra),
            ],
        )
        task = tasks.task_class("lm")(config, RunFolder(path=config.run.dir), log=lambda line: None)
        task.prepare()
        cfg = task.config
        return (
            int(cfg.train.epochs),
            float(cfg.backbone.dropout),
            int(cfg.backbone.layers),
            task.dynamic_rate(),
            float(cfg.backbone.weight_dropout),
        )

    novel = lines(tmp_path / "novel.txt")
    assert chosen(novel) == (MAX_EPOCHS, 0.3, 2, "validation", 0.25)  # dynamic evaluation, its rate chosen there
    assert chosen(novel, "train.epochs=3") == (3, 0.0, 1, None, 0.0)  # read 3 times: as text-zh, no dynamic evaluation
    assert chosen(
        novel, "backbone.dropout=0.1", "backbone.layers=1", "model.dynamic=0.05", "backbone.weight_dropout=0"
    ) == (MAX_EPOCHS, 0.1, 1, 0.05, 0.0)  # values given win
    assert chosen(novel, "train.epochs=3", "model.dynamic=true")[3] == "validation"
    assert chosen(novel, "model.dynamic=false")[3] is None
    with pytest.raises(data.DataError, match="model.dynamic=-1: expected auto, true, false or a positive SGD rate"):
        chosen(novel, "model.dynamic=-1")
    with pytest.raises(ValueError, match="data.sampling=sequential with train.distribute=cpu:2: not supported"):
        chosen(novel, "data.sampling=sequential", "train.distribute=cpu:2")


@pytest.mark.slow
def test_lm_task_end_to_end_through_the_savedmodel_and_predict(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train = lines(tmp_path / "train.txt")
    args = [
        "task=lm",
        "data.name=null",
        f"data.train={train}",
        *FAST,
        "train.epochs=6",
        "train.optimizer=adam",
        "train.learning_rate=0.02",
        "generate.length=12",
        "generate.prompts=[the]",
        "model.dynamic=0.05",
    ]
    assert cli.train_main(args) == 0
    printed = capsys.readouterr().out
    assert "|  dynamic evaluation, network: perplexity=" in printed and ", baseline: perplexity=" in printed
    (run,) = (tmp_path / "runs" / "lm").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"loss", "perplexity", "bits_per_token", "tokens"}
    # Per line: "cat"/"dog" and "sat"/"ran" are coin flips, the rest is fixed: about 2 bits in 23 chars.
    assert metrics["test"]["perplexity"] < 1.4 and metrics["baseline"]["test"]["perplexity"] < 1.4
    assert metrics["test"]["perplexity"] == pytest.approx(np.exp(metrics["test"]["loss"]))
    # The model users get is the mixture, weighted on validation: no worse there than either part.
    weight = metrics["interpolation"]["weight"]
    assert 0 <= weight <= 1 and metrics["network"]["test"]["tokens"] == metrics["test"]["tokens"]
    assert (
        metrics["validation"]["loss"]
        <= min(metrics["network"]["validation"]["loss"], metrics["baseline"]["validation"]["loss"] + 1e-3) + 1e-9
    )
    assert (run / "samples.txt").read_text().startswith("--- prompt 'the' (sampling) ---\nthe ")
    # Dynamic evaluation scores every held-out token too, alone and mixed (weighted on validation).
    dynamic = metrics["dynamic"]
    assert dynamic["rate"] == 0.05 and dynamic["network"]["test"]["tokens"] >= metrics["network"]["test"]["tokens"]
    assert dynamic["network"]["test"]["perplexity"] < 1.4 and 0 <= dynamic["interpolated"]["weight"] <= 1
    assert dynamic["baseline"]["model"] == "interpolated Kneser-Ney 3-gram, counting as it reads"
    assert dynamic["baseline"]["test"]["tokens"] == dynamic["network"]["test"]["tokens"]
    assert (
        dynamic["interpolated"]["validation"]["loss"]
        <= min(dynamic["network"]["validation"]["loss"], dynamic["baseline"]["validation"]["loss"]) + 1e-9
    )

    # The export needs no tfseq: a fresh Python that never imports it.
    script = (
        "import tensorflow as tf, json, sys; f = tf.saved_model.load(sys.argv[1]).signatures['serving_default'];"
        "o = f(text=tf.constant(['the cat sat on the mat', 'xq zz', '']));"
        "print(json.dumps({k: v.numpy().tolist() for k, v in o.items() if k != 'continuation'}));"
        "print(json.dumps([c.decode() for c in o['continuation'].numpy()]))"
    )
    out = subprocess.run([sys.executable, "-c", script, metrics["export"]], capture_output=True, text=True, check=True)
    scores, continuations = (json.loads(line) for line in out.stdout.strip().splitlines()[-2:])
    assert scores["perplexity"][0] < 2 < scores["perplexity"][1]
    assert len(continuations) == 3 and all(len(c) == 12 for c in continuations)
    # The export scores with the same mixture as metrics.json.
    from tfseq.models.interpolated import Interpolated

    model = keras.saving.load_model(run / "model.keras")
    lm = KneserNeyLM(3, vocabulary_size=model.vocabulary_size)
    lm.fit(model.preprocessor.stream([t for t in train.read_text().splitlines()[: int(0.8 * 400)] if t.strip()]))
    expected = (
        Interpolated(model, lm.arrays(), weight)
        .token_log_probabilities(model.text_ids(["the cat sat on the mat"]))
        .numpy()
        .sum()
    )
    assert scores["log_probability"][0] == pytest.approx(expected, rel=1e-4)

    capsys.readouterr()
    assert cli.predict_main([str(Path(metrics["export"]).parent), "the dog"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("the dog") and "perplexity" in printed


def test_lm_bad_input_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n")
    assert cli.train_main(["task=lm", "data.name=null", f"data.train={empty}", *FAST]) == 2
    assert "empty.txt: no text: its 3 line(s) are all blank" in capsys.readouterr().err
    assert cli.train_main(["task=lm", "data.name=pos-zh", *FAST]) == 2
    assert "not plain text" in capsys.readouterr().err
    assert (
        cli.train_main(
            ["task=lm", "data.name=null", f"data.train={lines(tmp_path / 't.txt')}", "data.split=bytes", *FAST]
        )
        == 2
    )
    assert "data.split='bytes'" in capsys.readouterr().err
    assert (
        cli.train_main(
            ["task=lm", "data.name=null", f"data.train={lines(tmp_path / 't.txt')}", "data.sampling=shuffled", *FAST]
        )
        == 2
    )
    assert "data.sampling=shuffled: expected random or sequential" in capsys.readouterr().err
    assert not any((tmp_path / "runs" / "lm").iterdir()) and not (tmp_path / "saved_models").exists()


def test_generate_takes_a_samplers_name_as_keras_hub_does():
    from tfseq import data

    pre = data.CausalLMPreprocessor(data.TextVectorizer(split="character", keep_whitespace=True))
    pre.adapt(["hello world", "help me"])
    model = LanguageModel(
        RecurrentBackbone(
            pre.tokenizer.vocabulary_size(), units=8, embedding_dim=6, bidirectional=False, return_state=True
        ),
        pre.line_end,
        preprocessor=pre,
    )
    model(np.zeros((1, 2), "int32"))
    for sampler, options in (
        ("top_k", {}),
        ("top_p", {"temperature": 0.7}),
        ("greedy", {"no_repeat_ngram_size": 1}),
        ("beam", {"beams": 2}),
        ("random", {}),
    ):
        (text,) = model.generate(["he"], length=5, sampler=sampler, **options)
        assert isinstance(text, str) and len(text) <= 5
    (once,) = model.generate(["he"], length=6, sampler="greedy", no_repeat_ngram_size=1)
    assert len(set(once)) == len(once)  # no character twice
    with pytest.raises(ValueError, match="expected one of"):
        model.generate(["he"], sampler="nucleus")
