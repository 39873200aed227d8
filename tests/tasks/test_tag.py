"""Tagging end to end on tiny CoNLL data: trainer, scores, baseline, export, tfseq-predict, bad input."""

import json
from pathlib import Path

import numpy as np
import pytest

from tfseq import cli
from tfseq.tasks.tag import most_frequent_tag_baseline, scheme_of, tag_scores, words_of

FAST = ["backbone.units=16", "backbone.embedding_dim=16", "train.batch_size=16", "train.verbose=0"]


def conll(path, n=200, seed=0):
    """Chunked sentences: ``the big dog sees in the park`` as B-NP I-NP I-NP B-VP B-PP B-NP I-NP."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        words = [("the", "DT", "B-NP"), (str(rng.choice(["big", "small"])), "JJ", "I-NP"),
                 (str(rng.choice(["cat", "dog", "Pound"])), "NN", "I-NP"), (str(rng.choice(["runs", "sees"])), "VBZ", "B-VP"),
                 ("in", "IN", "B-PP"), ("the", "DT", "B-NP"), (str(rng.choice(["park", "house"])), "NN", "I-NP")]
        lines += [" ".join(w) for w in (words[:4] if i % 3 == 0 else words)] + [""]
    path.write_text("\n".join(lines))
    return path


def test_chunk_f1_is_conlleval_and_accuracy_counts_tokens():
    assert scheme_of(["B-NP", "I-NP", "O", "B-VP"]) == "chunks" and scheme_of(["n", "v", "B"]) is None
    assert scheme_of(["I-PER", "I-LOC", "O"]) == "chunks"  # CoNLL-2003's IOB1: entities start with I-
    truth = [["B-NP", "I-NP", "B-VP", "O"], ["B-NP", "O"]]
    predicted = [["B-NP", "I-NP", "B-VP", "O"], ["B-NP", "B-NP"]]  # 3 true chunks found, one spurious
    scores = tag_scores(truth, predicted, "chunks")
    assert scores["accuracy"] == pytest.approx(5 / 6)
    assert scores["precision"] == pytest.approx(3 / 4) and scores["recall"] == 1.0
    assert scores["f1"] == pytest.approx(2 * 0.75 / 1.75)
    assert "f1" not in tag_scores([["n", "v"]], [["n", "n"]], None)


def test_segmentation_is_scored_by_words_even_when_the_answer_is_ill_formed():
    assert scheme_of(["B", "M", "E", "S"]) == "words" and scheme_of(["B", "S"]) is None
    assert words_of(list("BESBME")) == {(0, 2), (2, 3), (3, 6)}
    assert words_of(list("EMS")) == {(0, 1), (1, 2), (2, 3)}  # E ends a word whatever follows
    truth = [list("BESBME")]  # three words
    predicted = [list("BEBEBE")]  # finds the first word only, and two spurious ones
    scores = tag_scores(truth, predicted, "words")
    assert scores["precision"] == pytest.approx(1 / 3) and scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(1 / 3) and scores["accuracy"] == pytest.approx(3 / 6)


def test_each_entity_type_gets_its_precision_recall_and_f1():
    from tfseq.tasks.tag import chunk_type_scores

    truth = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]  # LOC missed, one ORG too many
    scores = chunk_type_scores(truth, predicted)
    assert scores["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert scores["LOC"]["recall"] == 0.0 and scores["LOC"]["support"] == 1
    assert scores["ORG"]["precision"] == 0.5 and scores["ORG"]["recall"] == 1.0


def test_most_frequent_tag_baseline(tmp_path):
    from tfseq import data

    dataset = data.load(kind="tagging", train=str(conll(tmp_path / "train.txt")))
    result = most_frequent_tag_baseline(dataset)
    # "the" is B-NP everywhere; every word has one tag here, so the bar is perfect.
    assert result["test"]["accuracy"] == 1.0 and result["test"]["f1"] == 1.0


@pytest.mark.slow
def test_tag_task_end_to_end_through_the_savedmodel_and_predict(tmp_path, capsys, monkeypatch):
    import tensorflow as tf

    monkeypatch.chdir(tmp_path)
    train = conll(tmp_path / "train.txt")
    args = ["task=tag", "data.name=null", f"data.train={train}", *FAST, "train.epochs=8",
            "train.learning_rate=0.02", "train.early_stopping=0"]
    assert cli.train_main(args) == 0
    assert "auto: data.token_chars=[2, 4] (each word's character 2-4-grams, in its case)" in capsys.readouterr().out
    (run,) = (tmp_path / "runs" / "tag").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"accuracy", "f1", "precision", "recall", "loss"}
    assert metrics["test"]["f1"] >= 0.9 and metrics["baseline"]["model"].startswith("most frequent")
    # Each chunk (entity) type's scores, as conlleval prints them.
    assert set(metrics["per_type"]["test"]) == {"NP", "VP", "PP"}
    assert set(metrics["per_type"]["test"]["NP"]) == {"precision", "recall", "f1", "support"}
    assert "NP" in (run / "classification_report.txt").read_text()
    assert (run / "confusion_matrix.png").exists() and (run / "learning_curves.png").exists()

    serve = tf.saved_model.load(metrics["export"]).signatures["serving_default"]
    out = serve(text=tf.constant(["The small Pound runs in the house", "", "the cat"]))
    assert out["tagged"].numpy()[0].decode() == "The/B-NP small/I-NP Pound/I-NP runs/B-VP in/B-PP the/B-NP house/I-NP"
    assert out["tagged"].numpy()[1] == b"" and out["tags"].shape[1] == 7
    assert out["tokens"].numpy()[2].tolist()[:3] == [b"the", b"cat", b""]

    capsys.readouterr()
    assert cli.predict_main([str(Path(metrics["export"]).parent), "the big dog sees"]) == 0
    assert capsys.readouterr().out.strip() == "the/B-NP big/I-NP dog/I-NP sees/B-VP"


def test_tag_bad_input_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.txt"
    bad.write_text("the DT B-NP\ncat NN\n")
    assert cli.train_main(["task=tag", "data.name=null", f"data.train={bad}", *FAST]) == 2
    assert "bad.txt:2: expected 3 columns" in capsys.readouterr().err
    # Multi-character tokens cannot be one-character tokens: said before any training.
    assert cli.train_main(["task=tag", "data.name=null", f"data.train={conll(tmp_path / 't.txt')}",
                           "data.split=character", *FAST]) == 2
    assert "do not split back into" in capsys.readouterr().err
    assert not any((tmp_path / "runs" / "tag").iterdir()) and not (tmp_path / "saved_models").exists()
