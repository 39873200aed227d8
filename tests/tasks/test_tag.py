"""Tagging end to end on tiny CoNLL data: trainer, scores, baseline, export, tfseq-predict, bad input."""

import json
import re
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
            "train.learning_rate=0.02", "train.early_stopping=2"]
    assert cli.train_main(args) == 0
    assert "auto: data.token_chars=[2, 4] (each word's character 2-4-grams, in its case)" in capsys.readouterr().out
    (run,) = (tmp_path / "runs" / "tag").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    # Early stopping watched the validation chunk F1 (higher is better): it stopped 2 epochs after
    # the best, and kept it.
    f1 = metrics["history"]["val_f1"]
    assert len(f1) == 8 or (len(f1) >= 3 and max(f1[-2:]) <= max(f1[:-2]))
    assert metrics["validation"]["f1"] == pytest.approx(max(f1), abs=1e-6)
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
    tagged, entities = capsys.readouterr().out.rstrip().splitlines()
    assert tagged == "the/B-NP big/I-NP dog/I-NP sees/B-VP"  # and the chunks, with offsets and scores:
    assert re.fullmatch(r"  the big dog \(NP 0-11 (0\.9\d|1\.00)\); sees \(VP 12-16 (0\.9\d|1\.00)\)", entities)


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


ENTITY_TAGS = ["B-PER", "I-PER", "B-LOC", "I-LOC", "O"]


def test_chunk_spans_read_tags_as_conlleval_does():
    from seqeval.metrics.sequence_labeling import get_entities

    from tfseq.tflite_app import chunk_spans

    rng = np.random.default_rng(0)
    for scheme in (ENTITY_TAGS, ["I-PER", "I-LOC", "B-LOC", "O"], ["B-PER", "I-PER", "E-PER", "S-PER", "S-LOC", "O"]):
        for _ in range(300):
            tags = list(rng.choice(scheme, size=int(rng.integers(0, 9))))
            expected = [(kind, a, b + 1) for kind, a, b in get_entities(tags)]
            assert [(kind, a, b) for a, b, kind, _ in chunk_spans(tags)] == sorted(expected, key=lambda s: s[1]), tags


def test_entity_spans_in_the_savedmodel_tflite_and_predict(tmp_path, capsys):
    import tensorflow as tf

    from tfseq import data, export
    from tfseq.models import RecurrentBackbone, SequenceTagger
    from tfseq.tasks.tag import tagger_serving, tagger_tflite
    from tfseq.tflite_app import Preprocessor, chunk_spans, marginals

    texts = ["John Smith lives in New York", "Mary visited Paris and Rome", "in the North"]
    vec = data.TextVectorizer(split="word", lowercase=True).adapt(texts)
    model = SequenceTagger(RecurrentBackbone(vec.vocabulary_sizes(), units=8, embedding_dim=8, bidirectional=True),
                           len(ENTITY_TAGS), preprocessor=data.TokenTaggerPreprocessor(vec, ENTITY_TAGS))
    model(vec(tf.constant(texts)))
    rng = np.random.default_rng(1)  # sharper transitions than the initial ones: longer spans, surer paths
    model.crf.transitions.assign(rng.normal(0, 2, (5, 5)).astype("float32"))
    folder = export.save(tagger_serving(model), tmp_path / "ner")
    serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
    odd = ["  John\u3000Smith\tlives in  New York ", "", "\x00Rome", "Mary visited Paris and Rome and John Smith"]
    out = {k: v.numpy() for k, v in serve(text=tf.constant(odd)).items()}
    app = Preprocessor({"split": "word", "lowercase": True, "max_length": None, "vocabularies": {}})
    crf = {name: getattr(model.crf, name).numpy() for name in ("start", "end", "transitions")}
    found = 0
    for row, text in enumerate(odd):
        tags = [t.decode() for t in out["tags"][row] if t]
        ids, _ = export.at_least_one_step(vec(tf.constant([text])))
        emissions = np.asarray(model(ids, training=False))[0][: len(tags)]
        path = [ENTITY_TAGS.index(t) for t in tags]
        confidence = [marginals(emissions, **crf)[t, i] for t, i in enumerate(path)] if tags else []
        offsets = app.offsets(text)
        expected = [(text[offsets[a][0]:offsets[b - 1][1]], kind, offsets[a][0], offsets[b - 1][1], score)
                    for a, b, kind, score in chunk_spans(tags, confidence)]
        n = len(expected)
        got = list(zip([t.decode() for t in out["span_text"][row][:n]], [t.decode() for t in out["span_type"][row][:n]],
                       out["span_start"][row][:n].tolist(), out["span_end"][row][:n].tolist()))
        assert got == [e[:4] for e in expected], (text, tags)
        np.testing.assert_allclose(out["span_score"][row][:n], [e[4] for e in expected], atol=1e-4)
        assert (out["span_start"][row][n:] == -1).all() and not any(out["span_type"][row][n:])
        assert all(text[s:e] == t for t, _, s, e in got)  # offsets index the text as given
        found += n
    assert found >= 4 and out["entities"][1] == b""

    # TFLite: the app side finds the same spans (Viterbi and forward-backward in numpy).
    lite = export.save_tflite(tagger_tflite(model), tmp_path / "ner-tflite")
    declared = json.loads((lite / "tfseq.json").read_text())
    interpreter = tf.lite.Interpreter(model_path=str(lite / "model.tflite"))
    for row, text in enumerate(odd):
        answer = Preprocessor.load(lite).answer(interpreter, text, declared)
        n = sum(out["span_start"][row] >= 0)
        assert [(s["text"], s["type"], s["start"], s["end"]) for s in answer["spans"]] == list(zip(
            [t.decode() for t in out["span_text"][row][:n]], [t.decode() for t in out["span_type"][row][:n]],
            out["span_start"][row][:n].tolist(), out["span_end"][row][:n].tolist()))
        np.testing.assert_allclose([s["score"] for s in answer["spans"]], out["span_score"][row][:n], atol=1e-4)
        assert answer["entities"] == out["entities"][row].decode()

    # tfseq-predict: the entities under the tags, and JSON lines with the spans as lists.
    capsys.readouterr()
    assert cli.predict_main([str(folder), odd[0]]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[1] == "  " + out["entities"][0].decode()
    assert cli.predict_main([str(folder), *odd, "--output", str(tmp_path / "spans.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "spans.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["text"] for row in rows] == odd and rows[1]["spans"] == []
    assert [(s["text"], s["start"], s["end"]) for s in rows[0]["spans"]] == list(zip(
        [t.decode() for t in out["span_text"][0]], out["span_start"][0].tolist(), out["span_end"][0].tolist()))[
        : len(rows[0]["spans"])]
