"""Seq2seq: decoding against teacher-forced recomputation, scores, and the task end to end."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from tfseq import cli, decoding
from tfseq.models import Seq2Seq
from tfseq.models.seq2seq import END, START
from tfseq.tasks.seq2seq import sequence_scores

FAST = ["model.units=32", "model.embedding_dim=16", "train.batch_size=32", "train.verbose=0", "model.dropout=0"]


def tiny_model(cell="gru", attention="luong", layers=1, seed=0):
    keras.utils.set_random_seed(seed)
    model = Seq2Seq(7, 9, cell=cell, units=8, layers=layers, embedding_dim=6, attention=attention)
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
            logits = model({"source": source[row:row + 1], "target": np.array([prefix], "int32")})
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
    x = {"source": np.array([[3, 4], [5, 0]], "int32"), "target": np.array([[START, 4, 4, 4, 5], [START, 4, 6, 0, 0]], "int32")}
    y = np.array([[4, 4, 4, 5, END], [4, 6, END, 0, 0]], "int32")
    model.compile(optimizer="adam")
    loss = float(model.evaluate(x, y, verbose=0))
    p = counts[[4, 4, 4, 5, END, 4, 6, END]] / counts.sum()
    assert loss < float(np.log(9)) - 0.3
    assert abs(loss - float(-np.log(p).mean())) < 0.3


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
    args = ["task=seq2seq", "data.name=null", f"data.train={train}", *FAST, "train.epochs=12",
            "train.learning_rate=0.01", "train.early_stopping=0", "generate.max_length=8"]
    assert cli.train_main(args) == 0
    (run,) = (tmp_path / "runs" / "seq2seq").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"accuracy", "token_error_rate", "loss"}
    assert metrics["test"]["accuracy"] >= 0.9 and metrics["test"]["token_error_rate"] <= 0.05
    assert (run / "examples.txt").read_text().count("\t") >= 3

    loaded = keras.saving.load_model(run / "model.keras")
    assert loaded.translate(["abcd", "fed"], max_length=8) == ["D C B A", "D E F"]

    script = ("import tensorflow as tf, json, sys; f = tf.saved_model.load(sys.argv[1]).signatures['serving_default'];"
              "print(json.dumps([t.decode() for t in f(text=tf.constant(['cafe', '', 'xyz']))['target'].numpy()]))")
    out = subprocess.run([sys.executable, "-c", script, metrics["export"]], capture_output=True, text=True, check=True)
    targets = json.loads(out.stdout.strip().splitlines()[-1])
    assert targets[0] == "E F A C" and len(targets) == 3

    capsys.readouterr()
    assert cli.predict_main([str(tmp_path / "saved_models" / "seq2seq"), "bad"]) == 0
    assert capsys.readouterr().out.strip() == "bad\tD A B"


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
    assert "generate.sampler='nucleus': expected one of sampling, greedy, beam" in capsys.readouterr().err
    assert not any((tmp_path / "runs" / "seq2seq").iterdir()) and not (tmp_path / "saved_models").exists()


def phrases(path):
    """source: 'Cat sees dog.'-like sentences; target: word-for-word 'chat voit chien.' with the
    same punctuation attached to the last word (what a whitespace split would learn as new words)."""
    words = {"cat": "chat", "dog": "chien", "sees": "voit", "likes": "aime", "bird": "oiseau"}

    def pair(rng):
        source = list(rng.choice(list(words), size=rng.integers(1, 4)))
        mark = str(rng.choice([".", "!", "?", "..."]))
        return f"{' '.join(source).capitalize()}{mark}", " ".join(words[w] for w in source) + mark
    return pairs_file(path, pair)


@pytest.mark.slow
def test_translation_splits_punctuation_scores_bleu_and_answers_spaced_text(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train = phrases(tmp_path / "train.tsv")
    args = ["task=seq2seq", "data.name=null", f"data.train={train}", *FAST, "model.layers=1", "train.epochs=8",
            "train.learning_rate=0.01", "train.early_stopping=0", "generate.max_length=8"]
    assert cli.train_main(args) == 0
    log = capsys.readouterr().out
    assert "auto: data.source_split=wordpunct" in log and "auto: data.target_split=wordpunct" in log
    (run,) = (tmp_path / "runs" / "seq2seq").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"accuracy", "token_error_rate", "bleu", "loss"}
    assert metrics["test"]["bleu"] > 80 and metrics["test"]["accuracy"] > 0.8  # sacrebleu's 0-100 scale
    assert cli.predict_main([str(tmp_path / "saved_models" / "seq2seq"), "Dog likes bird!", "  cat... "]) == 0
    assert capsys.readouterr().out.strip().splitlines() == ["Dog likes bird!\tchien aime oiseau!",
                                                             "  cat... \tchat..."]


@pytest.mark.slow
def test_subword_translation_trains_exports_and_answers_through_sentencepiece(tmp_path, capsys, monkeypatch):
    pytest.importorskip("tensorflow_text")
    monkeypatch.chdir(tmp_path)
    train = phrases(tmp_path / "train.tsv")
    args = ["task=seq2seq", "data.name=null", f"data.train={train}", *FAST, "model.layers=1", "train.epochs=8",
            "train.learning_rate=0.01", "train.early_stopping=0", "generate.max_length=12",
            "data.source_split=subword", "data.target_split=subword", "data.subwords=30"]
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
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "saved_models" / "seq2seq"),
                          "Dog likes bird!", ""], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip("\n").splitlines() == ["Dog likes bird!\tchien aime oiseau!", "\t"]
