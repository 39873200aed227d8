"""Tagging end to end on tiny CoNLL data: trainer, scores, baseline, export, tfseq-predict, bad input."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tfseq import cli, recipes
from tfseq.tasks.tag import most_frequent_tag_baseline, scheme_of, tag_scores, words_of

FAST = ["backbone.units=16", "backbone.embedding_dim=16", "train.batch_size=16", "train.verbose=0"]


def conll(path, n=200, seed=0):
    """Chunked sentences: ``the big dog sees in the park`` as B-NP I-NP I-NP B-VP B-PP B-NP I-NP."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        words = [
            ("the", "DT", "B-NP"),
            (str(rng.choice(["big", "small"])), "JJ", "I-NP"),
            (str(rng.choice(["cat", "dog", "Pound"])), "NN", "I-NP"),
            (str(rng.choice(["runs", "sees"])), "VBZ", "B-VP"),
            ("in", "IN", "B-PP"),
            ("the", "DT", "B-NP"),
            (str(rng.choice(["park", "house"])), "NN", "I-NP"),
        ]
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
    args = [
        "task=tag",
        "data.name=null",
        f"data.train={train}",
        *FAST,
        "train.epochs=8",
        "train.learning_rate=0.02",
        "train.early_stopping=2",
        "backbone.layers=1",
        "backbone.dropout=0.1",
    ]
    assert cli.train_main(args) == 0
    assert (
        "auto: backbone.char_cnn=50 (100% of the letters are in scripts that space words: tag-en.yaml's value)"
        in capsys.readouterr().out
    )
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


def prepared(tmp_path, sentences, *extra, task="tag"):
    """The tag task of ``sentences`` (lists of (token, tag)), prepared, not trained."""
    from tfseq import tasks
    from tfseq.train.run_folder import RunFolder

    tmp_path.mkdir(parents=True, exist_ok=True)
    train = tmp_path / "train.txt"
    train.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in s) for s in sentences) + "\n", encoding="utf-8")
    # Repeated sentences all hash to one split: the same file serves as validation and test.
    config = recipes.resolve(
        task,
        [
            ("data.name", "null"),
            ("data.train", str(train)),
            ("data.test", str(train)),
            ("data.validation", str(train)),
            ("run.dir", str(tmp_path / "run")),
            *(tuple(e.split("=", 1)) for e in extra),
        ],
    )
    task = tasks.task_class(task)(config, RunFolder(path=config.run.dir), log=lambda line: None)
    task.prepare()
    return task.config


def test_auto_gives_spaced_words_tag_ens_settings_and_chinese_pos_zhs(tmp_path):
    from pathlib import Path

    from omegaconf import OmegaConf

    import tfseq.tasks.tag as tag
    from tfseq.tasks.tag import SPACED_RECIPE

    table = recipes.auto_values(Path(tag.__file__).with_name("auto.yaml"))  # the one home of the values
    UNSPACED = {key: value for key, (value, _) in table["unspaced"].items()}
    assert all(str(OmegaConf.select(recipes.load_recipe("tag"), key)) == "auto" for key in UNSPACED)
    english = [[("John", "B-PER"), ("Smith", "I-PER"), ("lives", "O"), ("in", "O"), ("Paris", "B-LOC")]] * 30
    config = prepared(tmp_path / "en", english)
    tag_en = OmegaConf.load(SPACED_RECIPE)
    for key in set(UNSPACED) - {"train.epochs"}:  # the English recipe's values, one home: tag-en.yaml
        assert OmegaConf.select(config, key) == OmegaConf.select(tag_en, key), key
    # Epochs: the script's value (tag-en's 15, pos-zh's 3), more for a small file: at least the
    # rule's min_steps steps (1,400), at most its max_epochs (60).
    rule = {key: value for key, (value, _) in table["rule"].items()}
    assert config.train.epochs == rule["max_epochs"]  # 30 sentences: one step an epoch
    assert config.train.early_stopping == 8  # patience 2 at 15 epochs: 4 times the epochs, 4 times the patience
    assert prepared(tmp_path / "en1", english, "train.batch_size=1").train.epochs == 47  # 30 steps
    config = prepared(tmp_path / "en2", english * 4, "train.batch_size=1")
    assert (config.train.epochs, config.train.early_stopping) == (tag_en.train.epochs, rule["patience"])
    assert (config.backbone.char_cnn, list(config.data.token_chars)) == (50, [1, 1])  # the characters as written

    chinese = [[("迈向", "v"), ("充满", "v"), ("希望", "n"), ("的", "u"), ("新", "a"), ("世纪", "n")]] * 30
    config = prepared(tmp_path / "zh", chinese * 16, "train.batch_size=1")  # 480 steps an epoch
    assert {
        key: OmegaConf.to_container(OmegaConf.select(config, key))
        if key.startswith("data.")
        else OmegaConf.select(config, key)
        for key in UNSPACED
    } == UNSPACED
    characters = [[(c, t) for c, t in zip("迈向充满希望", "BEBEBE")]] * 30
    config = prepared(tmp_path / "chars", characters)
    assert config.data.split == "character" and config.data.token_chars is None and config.backbone.cell == "gru"
    # A value given wins over auto.
    assert prepared(tmp_path / "given", english, "backbone.units=64", "train.epochs=2").backbone.units == 64


def names_and_words(path, n, seed, names, words):
    """Sentences of lower-case ``words``, drawn as a language draws them (Zipf: a few often, many
    once), with a capitalised name among them (one or two of ``names``: B-PER I-PER), as CoNLL lines."""
    rng = np.random.default_rng(seed)
    zipf = 1 / np.arange(1, len(words) + 1)
    sentences = []
    for _ in range(n):
        rows = [(str(w), "O") for w in rng.choice(words, size=int(rng.integers(3, 9)), p=zipf / zipf.sum())]
        at, parts = int(rng.integers(0, len(rows) + 1)), list(rng.choice(names, size=int(rng.integers(1, 3))))
        rows[at:at] = [(str(p), "B-PER" if i == 0 else "I-PER") for i, p in enumerate(parts)]
        sentences.append("\n".join(f"{w} {t}" for w, t in rows))
    path.write_text("\n\n".join(sentences) + "\n", encoding="utf-8")
    return path


def made_up_words(rng, count, capital):
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    words = {
        "".join(rng.choice(list(consonants if i % 2 == 0 else vowels)) for i in range(int(rng.integers(3, 8))))
        for _ in range(count * 2)
    }
    words = sorted(words)[:count]
    return [w.capitalize() for w in words] if capital else words


@pytest.mark.slow
def test_english_names_never_seen_are_found_by_their_case(tmp_path, monkeypatch):
    # The English default reads each word's characters as written: names never seen in training,
    # among words never seen in training (unknown to the word embeddings alike), are found by
    # their capitals. Lower-cased words alone cannot tell them apart.
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    words = made_up_words(rng, 2000, capital=False)
    names = [n for n in made_up_words(rng, 1600, capital=True) if n.lower() not in words]
    # Every split has names of its own; the words around them are drawn alike, the rare ones mostly
    # unseen in training.
    train = names_and_words(tmp_path / "train.txt", 400, 1, names[:1000], words)
    dev = names_and_words(tmp_path / "dev.txt", 60, 2, names[1000:1200], words)
    test = names_and_words(tmp_path / "test.txt", 100, 3, names[1200:], words)
    files = [
        "task=tag",
        "data.name=null",
        f"data.train={train}",
        f"data.validation={dev}",
        f"data.test={test}",
        "train.batch_size=16",
        "train.verbose=0",
        "export.enabled=false",
        "baseline=false",
        "run.preset=false",
        "train.epochs=6",
    ]  # the recipe's sizes; both runs at most 6 epochs (15: 1.000 and 0.449, twice the time)

    def test_f1(*extra, run):
        assert cli.train_main([*files, *extra, f"run.dir={tmp_path / run}"]) == 0
        metrics = json.loads((tmp_path / run / "metrics.json").read_text())
        return metrics["test"]["f1"], metrics["per_type"]["test"]["PER"]

    f1, per = test_f1(run="cased")  # 0.990 here, in about 27 s on an idle machine
    assert f1 >= 0.95 and per["support"] == 100
    words_only, _ = test_f1("data.token_chars=null", "backbone.char_cnn=0", run="lowercased")  # 0.340
    assert words_only < 0.6


def test_tag_bad_input_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.txt"
    bad.write_text("the DT B-NP\ncat NN\n")
    assert cli.train_main(["task=tag", "data.name=null", f"data.train={bad}", *FAST]) == 2
    assert "bad.txt:2: expected 3 columns" in capsys.readouterr().err
    # Multi-character tokens cannot be one-character tokens: said before any training.
    assert (
        cli.train_main(
            ["task=tag", "data.name=null", f"data.train={conll(tmp_path / 't.txt')}", "data.split=character", *FAST]
        )
        == 2
    )
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
    model = SequenceTagger(
        RecurrentBackbone(vec.vocabulary_sizes(), units=8, embedding_dim=8, bidirectional=True),
        len(ENTITY_TAGS),
        preprocessor=data.TokenTaggerPreprocessor(vec, ENTITY_TAGS),
    )
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
        expected = [
            (text[offsets[a][0] : offsets[b - 1][1]], kind, offsets[a][0], offsets[b - 1][1], score)
            for a, b, kind, score in chunk_spans(tags, confidence)
        ]
        n = len(expected)
        got = list(
            zip(
                [t.decode() for t in out["span_text"][row][:n]],
                [t.decode() for t in out["span_type"][row][:n]],
                out["span_start"][row][:n].tolist(),
                out["span_end"][row][:n].tolist(),
            )
        )
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
        assert [(s["text"], s["type"], s["start"], s["end"]) for s in answer["spans"]] == list(
            zip(
                [t.decode() for t in out["span_text"][row][:n]],
                [t.decode() for t in out["span_type"][row][:n]],
                out["span_start"][row][:n].tolist(),
                out["span_end"][row][:n].tolist(),
            )
        )
        np.testing.assert_allclose([s["score"] for s in answer["spans"]], out["span_score"][row][:n], atol=1e-4)
        assert answer["entities"] == out["entities"][row].decode()

    # tfseq-predict: the entities under the tags, and JSON lines with the spans as lists.
    capsys.readouterr()
    assert cli.predict_main([str(folder), odd[0]]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[1] == "  " + out["entities"][0].decode()
    assert cli.predict_main([str(folder), odd[0], odd[1]]) == 0  # "" has no entities: no "  " line under it
    assert capsys.readouterr().out.splitlines()[2:] == [""]
    assert cli.predict_main([str(folder), *odd, "--output", str(tmp_path / "spans.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "spans.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["text"] for row in rows] == odd and rows[1]["spans"] == []
    assert [(s["text"], s["start"], s["end"]) for s in rows[0]["spans"]] == list(
        zip([t.decode() for t in out["span_text"][0]], out["span_start"][0].tolist(), out["span_end"][0].tolist())
    )[: len(rows[0]["spans"])]


def people_and_places(path, n, seed):
    """CoNLL-2003-like sentences with punctuation as tokens of its own: ``John Smith lives in New York .``"""
    rng = np.random.default_rng(seed)
    first, last = ["John", "Mary", "Anna", "Peter", "Li"], ["Smith", "Jones", "Brown", "Wang"]
    places = [["New", "York"], ["Paris"], ["Los", "Angeles"], ["Rome"], ["U.S."]]
    verbs = [["lives", "in"], ["visited"], ["moved", "to"], ["works", "in"]]
    sentences = []
    for _ in range(n):
        person = [str(rng.choice(first)), str(rng.choice(last))]
        place = places[int(rng.integers(len(places)))]
        rows = (
            [(w, "B-PER" if i == 0 else "I-PER") for i, w in enumerate(person)]
            + [(w, "O") for w in verbs[int(rng.integers(len(verbs)))]]
            + [(w, "B-LOC" if i == 0 else "I-LOC") for i, w in enumerate(place)]
            + [(str(rng.choice([".", "!"])), "O")]
        )
        if rng.random() < 0.3:
            rows = [(",", "O") if w == "." else (w, t) for w, t in rows] + [("he", "O"), ("said", "O"), (".", "O")]
        sentences.append("\n".join(f"{w} {t}" for w, t in rows))
    path.write_text("\n\n".join(sentences) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_raw_text_is_cut_at_punctuation_as_the_training_tokens_were(tmp_path, capsys, monkeypatch):
    """A tagger trained on tokenized columns answers raw text as its corpus was cut: ``York.`` is
    ``York`` ``.``, in the SavedModel, in TFLite and in tfseq-predict, offsets into the raw text."""
    import tensorflow as tf

    from tfseq.tflite_app import Preprocessor, interpreter

    monkeypatch.chdir(tmp_path)
    train = people_and_places(tmp_path / "train.txt", 300, 0)
    test = people_and_places(tmp_path / "test.txt", 40, 1)
    assert (
        cli.train_main(
            [
                "task=tag",
                "data.name=null",
                f"data.train={train}",
                f"data.test={test}",
                *FAST,
                "train.epochs=6",
                "backbone.layers=1",
                "baseline=false",
                "export.tflite=true",
                "export.name=ner",
            ]
        )
        == 0
    )
    assert "auto: data.split=wordpunct (" in capsys.readouterr().out
    text = "John Smith lives in New York."
    serve = tf.saved_model.load(str(next((tmp_path / "saved_models" / "ner").iterdir()))).signatures["serving_default"]
    out = serve(text=tf.constant([text, "Mary moved to the U.S.!"]))
    assert out["tagged"].numpy()[0].decode() == "John/B-PER Smith/I-PER lives/O in/O New/B-LOC York/I-LOC ./O"
    spans = {
        (t.decode(), k.decode(), int(a), int(b))
        for t, k, a, b in zip(
            out["span_text"].numpy()[0],
            out["span_type"].numpy()[0],
            out["span_start"].numpy()[0],
            out["span_end"].numpy()[0],
        )
    }
    assert spans == {("John Smith", "PER", 0, 10), ("New York", "LOC", 20, 28)}
    assert "U.S./B-LOC !/O" in out["tagged"].numpy()[1].decode()  # a form the corpus wrote whole stays whole
    lite = next((tmp_path / "saved_models" / "ner-tflite").iterdir())
    declared = json.loads((lite / "tfseq.json").read_text())
    answer = Preprocessor.load(lite).answer(interpreter(lite), text, declared)
    assert [(s["text"], s["type"], s["start"], s["end"]) for s in answer["spans"]] == [
        ("John Smith", "PER", 0, 10),
        ("New York", "LOC", 20, 28),
    ]
    capsys.readouterr()
    assert cli.predict_main(["saved_models/ner", text]) == 0
    assert "New York (LOC 20-28" in capsys.readouterr().out

    # tfseq-evaluate scores the export on the labelled file as the run scored its test split.
    (run,) = (tmp_path / "runs" / "tag").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert cli.evaluate_main(["saved_models/ner", str(test), "--output", "scores.json"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("test: ")
    got = json.loads(Path("scores.json").read_text())
    for key in ("accuracy", "f1", "precision", "recall"):
        assert got["test"][key] == pytest.approx(metrics["test"][key], abs=1e-4), key
    for kind, row in metrics["per_type"]["test"].items():
        assert got["per_type"][kind]["f1"] == pytest.approx(row["f1"], abs=1e-4), kind
    # tfseq-predict reads the same CoNLL file as sentences (a tagger), not a line a text.
    assert cli.predict_main(["saved_models/ner", "--file", str(test)]) == 0
    out, err = capsys.readouterr()
    assert f"read {test} as CoNLL columns: 40 sentences" in err and len(out.strip().split("\n")) >= 40
