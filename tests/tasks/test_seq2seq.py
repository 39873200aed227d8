"""Seq2seq: decoding against teacher-forced recomputation, scores, and the task end to end."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from keras import ops

from tfseq import cli, decoding
from tfseq.models import RecurrentBackbone, Seq2Seq
from tfseq.models.seq2seq import END, START
from tfseq.train.scores import sequence_scores

FAST = [
    "backbone.units=32",
    "backbone.embedding_dim=16",
    "train.batch_size=32",
    "train.verbose=0",
    "backbone.dropout=0",
]


def tiny_model(cell="gru", attention="luong", layers=1, seed=0):
    keras.utils.set_random_seed(seed)
    model = Seq2Seq(
        RecurrentBackbone(7, cell=cell, units=8, layers=layers, embedding_dim=6, bidirectional=True),
        9,
        attention=attention,
    )
    model({"source": np.ones((1, 2), "int32"), "target": np.ones((1, 2), "int32")})
    return model


@pytest.mark.parametrize("cell,attention,layers", [("gru", "luong", 1), ("lstm", "luong", 2), ("gru", "none", 1)])
def test_greedy_decoding_equals_teacher_forced_rereading(cell, attention, layers):
    model = tiny_model(cell, attention, layers)
    if layers > 1:  # GNMT-style: the layers above the first read [layer below, attention context]
        assert model.decoder[1].cell.kernel.shape[0] == 8 + (16 if attention == "luong" else 0)
    source = np.array([[3, 4, 5, 6], [2, 3, 0, 0]], "int32")
    out = ops.convert_to_numpy(model.translate_ids(source, 5, decoding.Greedy()))
    for row in range(len(source)):
        prefix = [START]
        for _ in range(5):
            logits = model({"source": source[row : row + 1], "target": np.array([prefix], "int32")})
            prefix.append(int(np.argmax(ops.convert_to_numpy(logits)[0, -1])))
        expected = prefix[1:]
        if END in expected:  # padding after the end
            cut = expected.index(END) + 1
            expected = expected[:cut] + [0] * (5 - cut)
        assert out[row].tolist() == expected
    # Source padding changes nothing; a beam of one is greedy.
    wider = np.pad(source, ((0, 0), (0, 3)))
    assert ops.convert_to_numpy(model.translate_ids(wider, 5, decoding.Greedy())).tolist() == out.tolist()
    assert ops.convert_to_numpy(model.translate_ids(source, 5, decoding.BeamSearch(1))).tolist() == out.tolist()


def test_decoding_many_rows_traces_once_for_every_batch_size_and_width():
    """translate_source_ids batches rows by length: batches of other sizes and widths reuse the
    one trace (and answer as one eager call over all rows does)."""
    model = tiny_model()
    source = np.array([[3, 0, 0, 0, 0], [3, 4, 5, 6, 2], [4, 5, 0, 0, 0], [6, 0, 0, 0, 0], [2, 3, 4, 0, 0]], "int32")
    decode, calls = model.translate_ids, []
    model.translate_ids = lambda *args: calls.append(1) or decode(*args)  # Python runs once per trace
    out = model.translate_source_ids(source, 5, batch_size=2)  # widths 1, 2-3, 5; sizes 2, 2, 1
    assert len(calls) == (1 if keras.backend.backend() == "tensorflow" else 3)
    assert out.tolist() == ops.convert_to_numpy(decode(source, 5, None)).tolist()


def test_start_from_prior_makes_the_untrained_model_guess_the_token_frequencies():
    model = tiny_model()
    targets = [[4, 4, 4, 5, END], [4, 6, END]]  # ragged rows; 0 would be padding
    model.start_from_prior(targets + [[0, 0]])
    counts = np.ones(9)
    np.add.at(counts, [4, 4, 4, 5, END, 4, 6, END], 1)
    counts[0] = 1
    np.testing.assert_allclose(ops.convert_to_numpy(model.logits.bias), np.log(counts / counts.sum()), rtol=1e-6)
    # The loss on those targets is near their unigram entropy (the bias dominates the small
    # untrained weights), and far below a uniform guess's log 9.
    x = {
        "source": np.array([[3, 4], [5, 0]], "int32"),
        "target": np.array([[START, 4, 4, 4, 5], [START, 4, 6, 0, 0]], "int32"),
    }
    y = np.array([[4, 4, 4, 5, END], [4, 6, END, 0, 0]], "int32")
    model.compile(optimizer="adam")
    loss = float(model.evaluate(x, y, verbose=0))
    p = counts[[4, 4, 4, 5, END, 4, 6, END]] / counts.sum()
    assert loss < float(np.log(9)) - 0.3
    assert abs(loss - float(-np.log(p).mean())) < 0.3


def test_sampled_softmax_loss_is_the_softmax_over_the_target_and_its_corrected_sample():
    from tfseq.models.losses import sampled_softmax_cross_entropy

    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 3, 4)).astype("float32")
    kernel, bias = rng.normal(size=(4, 10)).astype("float32"), rng.normal(size=10).astype("float32")
    q = rng.random(10)
    q[0] = 0.0
    log_q = np.log(np.maximum(q / q.sum(), 1e-30)).astype("float32")
    targets = np.array([[4, 5, 6], [7, 4, 9]], "int32")
    sampled = np.array([4, 2, 8, 8, 3], "int32")  # drawn with replacement; 4 is a hit where the target is 4
    got = ops.convert_to_numpy(sampled_softmax_cross_entropy(features, targets, kernel, bias, sampled, log_q))
    for i, j in np.ndindex(targets.shape):
        z = features[i, j] @ kernel + bias - (np.log(len(sampled)) + log_q)  # logits minus log(K q)
        logits = np.array([z[targets[i, j]], *(z[s] for s in sampled if s != targets[i, j])])
        assert got[i, j] == pytest.approx(np.log(np.exp(logits).sum()) - logits[0], rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("tied", [False, True])
def test_sampled_softmax_trains_on_a_sample_and_scores_with_the_full_softmax(tmp_path, tied):
    keras.utils.set_random_seed(0)
    # 60 draws from 40 ids, of which 36 are equally likely targets: a uniform copy task needs many
    # negatives a step (5 reach a full-softmax loss of 1.9 here, 60 of 0.48, the full softmax 0.13);
    # a large Zipfian vocabulary far fewer.
    # Tied (tie_embeddings): the sample's columns are rows of the target embedding table, read by
    # features projected from 32 to 16 (8-wide tied embeddings cannot copy 36 uniform ids in 15 epochs).
    units, dim = (32, 16) if tied else (16, 8)
    model = Seq2Seq(
        RecurrentBackbone(40, units=units, embedding_dim=dim, bidirectional=True, between_layers=True),
        40,
        sampled_softmax=60,
        tie_embeddings=tied,
    )
    source = np.random.default_rng(0).integers(4, 40, (256, 5)).astype("int32")  # copy the source
    x = {"source": source, "target": np.concatenate([np.full((256, 1), START, "int32"), source], axis=1)}
    y = np.concatenate([source, np.full((256, 1), END, "int32")], axis=1)
    assert model(x).shape == (256, 6, 40)  # logits over the whole vocabulary
    assert model(x, training=True).shape == (256, 6, units)  # training: what compute_loss meets with a sample
    plain = Seq2Seq(RecurrentBackbone(40, units=units, embedding_dim=dim, bidirectional=True, between_layers=True), 40)
    plain(x)
    assert model.count_params() == plain.count_params() - ((units * 40 - units * dim) if tied else 0) + 40  # + proposal
    model.start_from_prior(y)  # the bias and the sample's proposal: the targets' frequencies
    q = np.exp(ops.convert_to_numpy(model.proposal))
    assert q[0] < 1e-20 and q.sum() == pytest.approx(1, abs=1e-5) and q[END] > q[5]
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    before = model.evaluate(x, y, verbose=0)  # the full softmax's cross-entropy
    model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert before > 3.0 and after < 1.0, (before, after)
    assert np.mean(ops.convert_to_numpy(model(x)).argmax(-1) == y) > 0.9
    model.save(tmp_path / "sampled.keras")
    loaded = keras.saving.load_model(tmp_path / "sampled.keras")
    assert loaded.sampled_softmax == 60 and loaded.tie_embeddings == tied
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(model(x)), atol=1e-5)
    np.testing.assert_array_equal(ops.convert_to_numpy(loaded.proposal), ops.convert_to_numpy(model.proposal))


def test_label_smoothing_trains_on_the_smoothed_targets_and_evaluates_the_plain_cross_entropy():
    from tfseq.models.losses import token_cross_entropy

    rng = np.random.default_rng(0)
    logits, targets = rng.normal(size=(2, 3, 9)).astype("float32") * 3, rng.integers(1, 9, (2, 3))
    dense = keras.losses.categorical_crossentropy(np.eye(9)[targets], logits, from_logits=True, label_smoothing=0.1)
    np.testing.assert_allclose(
        ops.convert_to_numpy(token_cross_entropy(targets, logits, 0.1)), ops.convert_to_numpy(dense), rtol=1e-5
    )
    model = tiny_model()
    smoothed = Seq2Seq.from_config({**model.get_config(), "label_smoothing": 0.2})
    x = {"source": np.array([[3, 4], [5, 0]], "int32"), "target": np.array([[START, 4, 5], [START, 6, 0]], "int32")}
    y = np.array([[4, 5, END], [6, END, 0]], "int32")
    smoothed(x)
    smoothed.set_weights(model.get_weights())
    y_pred = model(x)
    plain = float(model.compute_loss(x, y, y_pred, training=True))
    assert float(smoothed.compute_loss(x, y, y_pred, training=False)) == pytest.approx(plain, rel=1e-6)
    mask = y != 0
    uniform = -ops.convert_to_numpy(ops.log_softmax(y_pred, axis=-1)).mean(-1)[mask].mean()
    assert float(smoothed.compute_loss(x, y, y_pred, training=True)) == pytest.approx(
        0.8 * plain + 0.2 * uniform, rel=1e-5
    )
    with pytest.raises(ValueError, match="sampled_softmax"):
        Seq2Seq(RecurrentBackbone(7), 9, label_smoothing=0.1, sampled_softmax=4)
    with pytest.raises(ValueError, match="label_smoothing=1"):
        Seq2Seq(RecurrentBackbone(7), 9, label_smoothing=1)


def test_sequence_scores_take_the_nearest_of_several_references():
    references = {"read": [["R", "IY1", "D"], ["R", "EH1", "D"]], "cat": [["K", "AE1", "T"]]}
    predicted = {"read": ["R", "EH1", "D"], "cat": ["K", "AE1"]}
    scores = sequence_scores(references, predicted)
    assert scores["accuracy"] == 0.5
    assert scores["token_error_rate"] == pytest.approx(1 / 6)  # one deletion in six reference phonemes


def pairs_file(path, pair, n=1500, seed=0):
    """``n`` lines ``source<TAB>target``, each from ``pair(rng)``."""
    rng = np.random.default_rng(seed)
    path.write_text("".join(f"{source}\t{target}\n" for source, target in (pair(rng) for _ in range(n))))
    return path


def reversal(path):
    """source: a letter string; target: its letters reversed, space-separated."""

    def pair(rng):
        word = "".join(rng.choice(list("abcdef"), size=rng.integers(2, 6)))
        return word, " ".join(reversed(word.upper()))

    return pairs_file(path, pair)


@pytest.mark.slow
def test_seq2seq_task_end_to_end_through_the_savedmodel_and_predict(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train = reversal(tmp_path / "train.tsv")
    args = [
        "task=seq2seq",
        "data.name=null",
        f"data.train={train}",
        *FAST,
        "train.epochs=12",
        "train.learning_rate=0.01",
        "train.early_stopping=0",
        "generate.max_length=8",
        "export.tflite=true",
    ]
    assert cli.train_main(args) == 0
    (run,) = (tmp_path / "runs" / "seq2seq").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"accuracy", "token_error_rate", "loss"}
    assert metrics["test"]["accuracy"] >= 0.9 and metrics["test"]["token_error_rate"] <= 0.05
    assert (run / "examples.txt").read_text().count("\t") >= 3

    loaded = keras.saving.load_model(run / "model.keras")
    assert loaded.translate(["abcd", "fed"], max_length=8) == ["D C B A", "D E F"]

    script = (
        "import tensorflow as tf, json, sys; f = tf.saved_model.load(sys.argv[1]).signatures['serving_default'];"
        "print(json.dumps([t.decode() for t in f(text=tf.constant(['cafe', '', 'xyz']))['target'].numpy()]))"
    )
    out = subprocess.run([sys.executable, "-c", script, metrics["export"]], capture_output=True, text=True, check=True)
    targets = json.loads(out.stdout.strip().splitlines()[-1])
    assert targets[0] == "E F A C" and len(targets) == 3

    capsys.readouterr()
    assert cli.predict_main([str(Path(metrics["export"]).parent), "bad"]) == 0
    assert capsys.readouterr().out.strip() == "bad\tD A B"

    # On the device: the TFLite export decodes (beam search, as the recipe) to the same answers.
    lite = Path(metrics["export_tflite"])
    declared = json.loads((lite / "tfseq.json").read_text())
    assert declared["answer"] == "targets" and declared["generate"]["sampler"] == "beam"
    words = ["cafe", "bad", "", "xyz", "abcdef", "fa ce", "dcba"]
    for folder, name in ((Path(metrics["export"]).parent, "saved.csv"), (lite.parent, "lite.csv")):
        assert cli.predict_main([str(folder), *words, "--output", str(tmp_path / name)]) == 0
    saved, lite_answers = (pd.read_csv(tmp_path / name, keep_default_na=False) for name in ("saved.csv", "lite.csv"))
    assert saved["target"].tolist() == lite_answers["target"].tolist() and saved["target"][0] == "E F A C"


def test_seq2seq_bad_input_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.tsv"
    bad.write_text("abc\tC B A\nno tab here\n")
    assert cli.train_main(["task=seq2seq", "data.name=null", f"data.train={bad}", *FAST]) == 2
    assert "bad.tsv:2: expected 'source<TAB>target'" in capsys.readouterr().err
    assert cli.train_main(["task=seq2seq", "data.name=reviews-zh", *FAST]) == 2
    assert "not source/target pairs" in capsys.readouterr().err
    assert cli.train_main(["task=seq2seq", "model.attention=bahdanau", f"data.train={bad}", *FAST]) == 2
    assert cli.train_main(["task=seq2seq", "generate.sampler=nucleus", *FAST]) == 2
    assert "generate.sampler='nucleus': expected one of greedy, sampling, beam" in capsys.readouterr().err
    assert not any((tmp_path / "runs" / "seq2seq").iterdir()) and not (tmp_path / "saved_models").exists()


PHRASE_WORDS = {"cat": "chat", "dog": "chien", "sees": "voit", "likes": "aime", "bird": "oiseau"}


def phrase_pair(rng):
    """'Cat sees dog.'-like sources; targets word-for-word 'chat voit chien.' with the same
    punctuation attached to the last word (what a whitespace split would learn as new words)."""
    source = list(rng.choice(list(PHRASE_WORDS), size=rng.integers(1, 4)))
    mark = str(rng.choice([".", "!", "?", "..."]))
    return f"{' '.join(source).capitalize()}{mark}", " ".join(PHRASE_WORDS[w] for w in source) + mark


def phrases(path):
    """1,500 :func:`phrase_pair` pairs."""
    return pairs_file(path, phrase_pair)


@pytest.mark.slow
def test_translation_splits_punctuation_scores_bleu_and_answers_spaced_text(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train, test = phrases(tmp_path / "train.tsv"), pairs_file(tmp_path / "test.tsv", phrase_pair, n=40, seed=1)
    # Words and punctuation apart (what auto chooses for sentences without TensorFlow Text).
    args = [
        "task=seq2seq",
        "data.name=null",
        f"data.train={train}",
        f"data.test={test}",
        *FAST,
        "backbone.layers=1",
        "train.epochs=8",
        "train.learning_rate=0.01",
        "train.early_stopping=0",
        "generate.max_length=8",
        "data.source_split=wordpunct",
        "data.target_split=wordpunct",
    ]
    assert cli.train_main(args) == 0
    log = capsys.readouterr().out
    assert "auto: model.tie_embeddings=true (sentences: " in log  # the translation benchmark's settings
    (run,) = (tmp_path / "runs" / "seq2seq").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"accuracy", "token_error_rate", "bleu", "loss"}
    assert metrics["test"]["bleu"] > 80 and metrics["test"]["accuracy"] > 0.8  # sacrebleu's 0-100 scale
    # The bar: each test source answered with its nearest training source's target.
    bar = metrics["baseline"]
    assert bar["model"].startswith("translation memory") and set(bar["test"]) == {
        "accuracy",
        "token_error_rate",
        "bleu",
    }
    assert "baseline translation memory (the target of the nearest training source, TF-IDF): test accuracy" in log
    assert 0 < bar["test"]["bleu"] < metrics["test"]["bleu"]
    assert cli.predict_main([str(Path(metrics["export"]).parent), "Dog likes bird!", "  cat... "]) == 0
    assert capsys.readouterr().out.strip().splitlines() == ["Dog likes bird!\tchien aime oiseau!", "  cat... \tchat..."]
    # tfseq-evaluate scores the export on the labelled file as the run scored its test split.
    assert cli.evaluate_main([str(Path(metrics["export"]).parent), str(test), "--output", "scores.json"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("test: ")
    got = json.loads(Path("scores.json").read_text())["test"]
    for key in ("accuracy", "token_error_rate", "bleu"):
        assert got[key] == pytest.approx(metrics["test"][key], abs=1e-3), key


@pytest.mark.slow
def test_subword_translation_trains_exports_and_answers_through_sentencepiece(tmp_path, capsys, monkeypatch):
    pytest.importorskip("tensorflow_text")
    monkeypatch.chdir(tmp_path)
    train = phrases(tmp_path / "train.tsv")
    args = [
        "task=seq2seq",
        "data.name=null",
        f"data.train={train}",
        *FAST,
        "backbone.layers=1",
        "train.epochs=8",
        "train.learning_rate=0.01",
        "train.early_stopping=0",
        "generate.max_length=12",
        "data.source_split=subword",
        "data.target_split=subword",
        "data.subwords=30",
    ]
    assert cli.train_main(args) == 0
    (run,) = (tmp_path / "runs" / "seq2seq").iterdir()
    model = keras.saving.load_model(run / "model.keras")
    target = model.preprocessor.target_tokenizer
    pieces = target.tokenize(["chien aime oiseau!"])[0]
    assert "".join(pieces) == "\u2581chien\u2581aime\u2581oiseau!" and len(target.vocabularies[1]) <= 40
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["bleu"] > 80
    # A fresh process: tfseq-predict loads TensorFlow Text's ops for the SentencePiece export.
    script = "import sys; from tfseq.cli import predict_main; sys.exit(predict_main(sys.argv[1:]))"
    out = subprocess.run(
        [sys.executable, "-c", script, str(Path(metrics["export"]).parent), "Dog likes bird!", ""],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip("\n").splitlines() == ["Dog likes bird!\tchien aime oiseau!", "\t"]


def test_subword_exports_tokenize_the_source_with_the_sources_own_pieces(tmp_path):
    """TensorFlow Text shares a SentencePiece resource by its name: a source and a target model
    made alike were one, and an export (its signatures traced one after another) read the
    source with the target's pieces. Each export, the first and the next, answers as the model."""
    pytest.importorskip("tensorflow_text")
    import dataclasses

    import tensorflow as tf

    from tfseq import data, decoding, export
    from tfseq.tasks.seq2seq import seq2seq_serving

    sources = ["the dog likes the bird", "a cat sees a dog", "birds like cats"] * 5
    targets = ["le chien aime l'oiseau", "un chat voit un chien", "les oiseaux aiment les chats"] * 5
    pre = data.Seq2SeqPreprocessor(
        data.TextVectorizer(split="subword", subwords=25), data.TextVectorizer(split="subword", subwords=30)
    ).adapt(sources, targets)
    model = Seq2Seq(
        RecurrentBackbone(pre.tokenizer.vocabulary_size(), units=8, embedding_dim=8),
        pre.target_tokenizer.vocabulary_size(),
        preprocessor=pre,
    )
    model({"source": np.ones((1, 2), "int32"), "target": np.ones((1, 2), "int32")})
    texts = ["the dog likes a cat", "birds see"]
    expected_ids = pre.inputs(texts)["tokens"]
    expected = model.translate(texts, 8, decoding.Greedy())

    def source_ids(module, text):
        return {"ids": module.preprocessor(text)["tokens"]}

    serving = seq2seq_serving(model, 8, decoding.Greedy())
    serving = dataclasses.replace(
        serving, functions={**serving.functions, "source_ids": (source_ids, {"text": tf.TensorSpec([None], tf.string)})}
    )
    for attempt in ("first", "second"):
        loaded = tf.saved_model.load(str(export.save(serving, tmp_path / attempt)))
        np.testing.assert_array_equal(loaded.signatures["source_ids"](text=tf.constant(texts))["ids"], expected_ids)
        answers = loaded.signatures["serving_default"](text=tf.constant(texts))["target"].numpy()
        assert [a.decode() for a in answers] == expected, attempt
