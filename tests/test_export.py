"""Exports answer every batch, read text as training did, and are readable by others.

The models are tiny and untrained: what is checked is what the serving graph does with hard
input, through plain ``tf.saved_model.load``, not what a model has learned.
"""

import json
import os
import re
import stat

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tfseq import data, export, recipes
from tfseq.data.preprocessors import SPECIALS
from tfseq.models import LanguageModel, RecurrentBackbone, Seq2Seq, SequenceTagger, TextClassifier
from tfseq.tasks.classify import classifier_serving
from tfseq.tasks.lm import language_model_serving
from tfseq.tasks.seq2seq import seq2seq_serving
from tfseq.tasks.tag import tagger_serving

TEXTS = ["good film", "bad plot", "a good plot", "good good"]
# Texts without a single token, alone and beside ordinary ones; and an empty batch.
NO_TOKENS = ["", "   ", "\x00", "\u3000\u00a0\t", "\u200b\x07"]
BATCHES = [[text] for text in NO_TOKENS] + [["good film", "", "\x00abc", "   ", "bad"], []]


def ids_serving(vec):
    """An export that answers the ids ``vec`` gives each text."""
    return export.Serving(lambda module, text: {"ids": module.preprocessor(text)["tokens"]}, [], vec)


def vectorizer(**options):
    return data.TextVectorizer(**options).adapt(TEXTS)


def load(path):
    return tf.saved_model.load(str(path)).signatures["serving_default"]


def serve_each(serve, batches=BATCHES):
    """The answers to every batch, as numpy; each batch also answered row by row."""
    for batch in batches:
        whole = {k: v.numpy() for k, v in serve(text=tf.constant(batch, tf.string)).items()}
        assert all(len(v) == len(batch) for v in whole.values())
        for row, text in enumerate(batch):  # a row's answer does not depend on its neighbours
            alone = serve(text=tf.constant([text]))
            for key, value in whole.items():
                single, value = np.asarray(alone[key].numpy()[0]), np.asarray(value[row])
                if value.ndim == 1:  # per token, padded to the batch's width
                    width = min(len(single), len(value))
                    assert not any(single[width:]) and not any(value[width:])
                    single, value = single[:width], value[:width]
                if value.dtype.kind in "OSUbiu":  # strings and ids: exactly
                    np.testing.assert_array_equal(single, value)
                else:
                    np.testing.assert_allclose(single, value, atol=1e-5)
        yield batch, whole


def has_tokens(text, vec):
    return bool(vec.tokenize([text])[0])


@pytest.mark.parametrize("head", ["multiclass", "binary", "multilabel"])
def test_classifier_export_answers_texts_without_tokens_with_the_prior(tmp_path, head):
    vec = vectorizer(split="word", ngrams=(1, 2))
    prior = [0.25, 0.75] if head != "multilabel" else [0.7, 0.2]
    model = TextClassifier(
        RecurrentBackbone(vec.vocabulary_sizes(), units=4, embedding_dim=4),
        2,
        head=head,
        wide=None if head == "multilabel" else "tfidf+nb",
        preprocessor=data.TextClassifierPreprocessor(vec, ["neg", "pos"], head=head, prior=prior),
    )
    model(vec(tf.constant(TEXTS)))
    serve = load(export.save(classifier_serving(model), tmp_path / "classify"))
    for batch, out in serve_each(serve):
        for text, label, probabilities in zip(batch, out["label"], out["probabilities"]):
            if has_tokens(text, vec):
                expected = model.preprocessor.probabilities(
                    model.predict([text], verbose=0), vec(tf.constant([text]))["tokens"]
                )
                np.testing.assert_allclose(probabilities, np.asarray(expected)[0], atol=1e-5)
            else:
                np.testing.assert_allclose(probabilities, prior)
                assert label.decode() == ("neg" if head == "multilabel" else "pos")


def test_tagger_export_answers_texts_without_tokens_with_no_tags(tmp_path):
    vec = vectorizer(split="word", lowercase=True)
    model = SequenceTagger(
        RecurrentBackbone(vec.vocabulary_sizes(), units=4, embedding_dim=4),
        3,
        preprocessor=data.TokenTaggerPreprocessor(vec, ["A", "B", "C"]),
    )
    model(vec(tf.constant(TEXTS)))
    serve = load(export.save(tagger_serving(model), tmp_path / "tag"))
    for batch, out in serve_each(serve):
        for text, tagged, tags in zip(batch, out["tagged"], out["tags"]):
            words = vec.tokenize(
                [text],
            )[0]
            assert len(tagged.decode().split()) == len(words) and sum(t != b"" for t in tags) == len(words)
    out = serve(text=tf.constant(["Good\u3000FILM"]))
    assert out["tagged"].numpy()[0].decode().split(" ")[0].startswith("Good/")  # split at U+3000, case kept


def test_language_model_export_answers_every_batch(tmp_path):
    vec = data.TextVectorizer(split="character", lowercase=False, keep_whitespace=True).adapt(TEXTS)
    vec.vocabularies = {1: ["\n", *vec.vocabularies[1]]}
    model = LanguageModel(
        RecurrentBackbone(vec.vocabulary_size(), units=4, embedding_dim=4), line_end=2, preprocessor=vec
    )
    model(np.zeros((1, 2), "int32"))
    from tfseq import decoding

    serve = load(export.save(language_model_serving(model, length=5, sampler=decoding.Greedy()), tmp_path / "lm"))
    for batch, out in serve_each(serve):
        assert all(len(c.decode()) <= 5 for c in out["continuation"])
        assert np.all(np.isfinite(out["perplexity"])) and np.all(out["log_probability"] <= 0)


def test_seq2seq_export_answers_sources_without_tokens_with_an_empty_target(tmp_path):
    source = vectorizer(split="character")
    target = data.TextVectorizer(split="word").adapt(["X Y", "Y Z"], reserved=SPECIALS)
    model = Seq2Seq(
        RecurrentBackbone(source.vocabulary_size(), units=4, embedding_dim=4),
        target.vocabulary_size(),
        preprocessor=data.Seq2SeqPreprocessor(source, target),
    )
    model({"source": np.array([[2, 3]]), "target": np.array([[2, 4]])})
    serve = load(export.save(seq2seq_serving(model, max_length=4), tmp_path / "seq2seq"))
    for batch, out in serve_each(serve):
        for text, answer in zip(batch, out["target"]):
            assert (answer == b"") if not has_tokens(text, source) else len(answer.split()) <= 4


def test_seq2seq_export_answers_the_n_best_targets_with_their_log_probabilities(tmp_path, capsys):
    from tfseq import cli, decoding

    source = vectorizer(split="character")
    target = data.TextVectorizer(split="word").adapt(["X Y", "Y Z"], reserved=SPECIALS)
    model = Seq2Seq(
        RecurrentBackbone(source.vocabulary_size(), units=4, embedding_dim=4),
        target.vocabulary_size(),
        preprocessor=data.Seq2SeqPreprocessor(source, target),
    )
    model({"source": np.array([[2, 3]]), "target": np.array([[2, 4]])})
    beam = decoding.BeamSearch(beams=4)
    path = export.save(seq2seq_serving(model, max_length=4, sampler=beam, n_best=3), tmp_path / "seq2seq")
    out = load(path)(text=tf.constant(["good", "", "bad plot"]))
    targets, scores = out["targets"].numpy(), out["scores"].numpy()
    assert targets.shape == (3, 3) and scores.shape == (3, 3)
    assert (out["target"].numpy() == targets[:, 0]).all()  # the best first: what n_best=1 answers
    assert (np.diff(scores[[0, 2]], axis=1) <= 1e-6).all() and (scores[[0, 2]] < 0).all()
    assert list(targets[1]) == [b"", b"", b""] and list(scores[1]) == [0, 0, 0]  # no tokens: no answers
    alone = load(export.save(seq2seq_serving(model, max_length=4, sampler=beam), tmp_path / "one"))
    assert alone(text=tf.constant(["good"]))["target"].numpy()[0] == targets[0, 0]
    assert cli.predict_main([str(path), "good"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("good\t") and printed.count(" | ") == 2 and printed.count(" (-") == 3


HARD = [
    "好\u3000看\u00a0书",
    "a\u200bb\tc\x00d",
    "İstanbul IŞIK",
    "e\u0301 👍🏽 x",
    "\ufeffhi\u2028there",
    "Ａ\u3000ＢＣ",
    "tab\there\r\nnew line",
    "zero\u200bwidth",
    "\x07bell",
    "mixed中文English 123",
]
# The rule, spelled out (lower-cased word and character splits of the strings above).
WORDS = [
    ["好", "看", "书"],
    ["a", "b", "cd"],
    ["i̇stanbul", "işik"],
    ["e\u0301", "👍🏽", "x"],
    ["hi", "there"],
    ["ａ", "ｂｃ"],
    ["tab", "here", "new", "line"],
    ["zero", "width"],
    ["bell"],
    ["mixed中文english", "123"],
]


@pytest.mark.parametrize("split", ["word", "character"])
def test_one_tokenization_rule_in_python_training_and_in_the_export(tmp_path, split):
    vec = data.TextVectorizer(split=split, lowercase=True).adapt(HARD)
    tokens = vec.tokenize(HARD)
    if split == "word":
        assert tokens == WORDS
    else:
        assert tokens == [[c for c in "".join(words)] for words in WORDS]
    # Ids the way the lm/seq2seq trainers make them (Python), the classify/tag trainers (the
    # layer) and an export (a SavedModel holding the vectorizer) are the same ids.
    index = {token: i + 2 for i, token in enumerate(vec.vocabularies[1])}
    python_ids = [[index.get(t, 1) for t in row] for row in tokens]
    layer_ids = [[i for i in row if i] for row in vec(tf.constant(HARD))["tokens"].numpy().tolist()]
    path = export.save(ids_serving(vec), tmp_path / "ids")
    served = load(path)(text=tf.constant(HARD))["ids"].numpy().tolist()
    assert python_ids == layer_ids == [[i for i in row if i] for row in served]


def test_exports_and_run_files_are_readable_as_the_umask_allows(tmp_path):
    from tfseq.atomic import atomic_write

    previous = os.umask(0o022)
    try:
        vec = vectorizer(split="word")
        path = export.save(ids_serving(vec), tmp_path / "ids")
        file = atomic_write(tmp_path / "metrics.json", "{}")
        os.umask(0o027)
        private = atomic_write(tmp_path / "team.json", "{}")
    finally:
        os.umask(previous)
    modes = {p.relative_to(tmp_path): stat.S_IMODE(p.stat().st_mode) for p in [path, *path.rglob("*")]}
    assert all(mode == (0o755 if (tmp_path / p).is_dir() else 0o644) for p, mode in modes.items()), modes
    assert stat.S_IMODE(file.stat().st_mode) == 0o644 and stat.S_IMODE(private.stat().st_mode) == 0o640


def test_a_new_export_is_the_next_version_and_never_touches_the_old_ones(tmp_path):
    def writes(text):
        return lambda folder: (folder / "saved_model.pb").write_text(text)

    task = tmp_path / "saved_models" / "classify"
    first = export.write_atomically(task, writes("one"))
    (task / "7-notes").mkdir()  # not an integer version: ignored
    second = export.write_atomically(task, writes("two"), metadata={"labels": ["a"]})
    assert (first.name, second.name) == ("1", "2") and (first / "saved_model.pb").read_text() == "one"
    assert export.latest_version(task) == second and (second / "tfseq.json").exists()

    def fails(folder):
        (folder / "saved_model.pb").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):  # nothing half-written is left, no version taken
        export.write_atomically(task, fails)
    assert sorted(p.name for p in task.iterdir()) == ["1", "2", "7-notes"]
    assert export.write_atomically(task, writes("three")).name == "3"


def test_an_export_holds_the_weights_not_the_optimizer_state(tmp_path):
    import keras

    vec = vectorizer(split="word", ngrams=(1, 2))
    model = TextClassifier(RecurrentBackbone(vec.vocabulary_sizes(), units=4, embedding_dim=4), 2, preprocessor=vec)
    model.compile(optimizer=keras.optimizers.Adam(use_ema=True))  # moments and an average: 3x the weights
    model.fit(np.array(TEXTS), np.array([1, 0, 0, 1]), epochs=1, verbose=0)
    path = export.save(classifier_serving(model), tmp_path / "classify")
    saved = tf.train.list_variables(str(path / "variables" / "variables"))
    values = sum(int(np.prod(shape)) for name, shape in saved if "VARIABLE_VALUE" in name)
    assert values == model.count_params() + sum(
        int(np.prod(v.shape)) for v in model.variables if v.path.startswith("seed_generator")
    )
    np.testing.assert_allclose(
        load(path)(text=tf.constant(TEXTS))["probabilities"].numpy(),
        model.predict(np.array(TEXTS), verbose=0),
        atol=1e-5,
    )


def test_the_default_export_name_follows_the_data():

    assert export.folder(recipes.resolve("classify", [])) == export.Path("saved_models/classify-reviews-zh")
    assert (
        export.default_name(recipes.resolve("classify", [("data.name", "tfds:imdb_reviews")]))
        == "classify-imdb_reviews"
    )
    assert (
        export.default_name(recipes.resolve("classify", [("data.train", "data/my reviews.csv")]))
        == "classify-my-reviews"
    )
    # A generic file name says nothing: its folder's name does (sst2/train.tsv).
    assert (
        export.default_name(recipes.resolve("tag", [("data.train", "/corpora/conll2000/train.txt")])) == "tag-conll2000"
    )
    assert export.default_name(recipes.resolve("caption", [("data.images", "shots/")])) == "caption-shots"
    chosen = recipes.resolve("classify", [("export.name", "prod"), ("export.tflite", "true")])
    assert (export.folder(chosen), export.folder(chosen, "-tflite")) == (
        export.Path("saved_models/prod"),
        export.Path("saved_models/prod-tflite"),
    )


def test_a_model_of_another_kind_is_never_the_next_version_of_what_is_served(tmp_path):
    task = tmp_path / "classify-mine"
    identity = {"task": "classify", "labels": ["neg", "pos"], "vocabulary": {"tokenizer": "word"}}
    export.check_next_version(task, identity)  # nothing published yet
    export.write_atomically(task, lambda f: (f / "saved_model.pb").write_text("1"), {"identity": identity})
    export.check_next_version(task, dict(identity))  # the same kind of model: the next version
    with pytest.raises(
        export.ExportConflict,
        match=r"classify-mine: its newest version \(1\) has labels "
        r'\["neg", "pos"\] and this run.s model has \["a", "b", "c"\]: '
        r"publishing it as version 2 would replace what is served",
    ):
        export.check_next_version(task, {**identity, "labels": ["a", "b", "c"]})
    with pytest.raises(export.ExportConflict, match="has vocabulary"):
        export.check_next_version(task, {**identity, "vocabulary": {"tokenizer": "character"}})
    export.check_next_version(task, {**identity, "labels": ["a"]}, replace=True)  # export.replace=true
    # An export written before tfseq.json held an identity is compared on what it says.
    export.write_atomically(
        task, lambda f: (f / "saved_model.pb").write_text("2"), {"task": "classify", "labels": ["x"]}
    )
    with pytest.raises(export.ExportConflict, match=r"its newest version \(2\) has labels \[\"x\"\]"):
        export.check_next_version(task, identity)


def test_a_reported_write_is_on_disk_before_it_is_published(tmp_path, monkeypatch):
    """atomic_write and write_atomically fsync the data before the rename, the folder after it."""
    from tfseq import atomic

    events = []
    real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

    def fsync(handle):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{handle}")))
        real_fsync(handle)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("rename", str(b))), real_replace(a, b)))
    monkeypatch.setattr(os, "rename", lambda a, b: (events.append(("rename", str(b))), real_rename(a, b)))
    target = atomic.atomic_write(tmp_path / "metrics.json", "{}")
    renamed = events.index(("rename", str(target)))
    assert any(kind == "fsync" and ".metrics.json." in path for kind, path in events[:renamed])
    assert ("fsync", str(tmp_path)) in events[renamed:]
    events.clear()
    version = export.write_atomically(tmp_path / "m", lambda f: (f / "saved_model.pb").write_text("x"), {"a": 1})
    renamed = events.index(("rename", str(version)))
    synced = {os.path.basename(path) for kind, path in events[:renamed] if kind == "fsync"}
    assert {"saved_model.pb", "tfseq.json"} <= synced and ("fsync", str(tmp_path / "m")) in events[renamed:]


@pytest.fixture(scope="module")
def classifier_export(tmp_path_factory):
    vec = vectorizer(split="word")
    model = TextClassifier(
        RecurrentBackbone(vec.vocabulary_sizes(), units=4, embedding_dim=4),
        2,
        preprocessor=data.TextClassifierPreprocessor(vec, ["neg", "pos"]),
    )
    model(vec(tf.constant(TEXTS)))
    return export.save(
        classifier_serving(model, metadata={"labels": ["neg", "pos"]}), tmp_path_factory.mktemp("export") / "classify"
    )


def damage(folder, how):
    if how == "truncated variables.data":
        (data_file,) = (folder / "variables").glob("variables.data-*")
        data_file.write_bytes(data_file.read_bytes()[:100])
    elif how == "truncated saved_model.pb":
        (folder / "saved_model.pb").write_bytes((folder / "saved_model.pb").read_bytes()[:50])
    elif how == "bad tfseq.json":
        (folder / "tfseq.json").write_text('{"labels": [')
    elif how == "missing variables.index":
        (folder / "variables" / "variables.index").unlink()
    elif how == "a module it requires is not installed":
        (folder / "tfseq.json").write_text('{"requires": ["tfseq_no_such_ops"]}')


@pytest.mark.parametrize(
    "how,says",
    [
        ("truncated variables.data", "cannot load this export"),
        ("truncated saved_model.pb", "cannot load this export"),
        ("bad tfseq.json", "tfseq.json: not readable JSON"),
        ("missing variables.index", "cannot load this export"),
        (
            "a module it requires is not installed",
            "needs the Python module tfseq_no_such_ops, which is not installed (pip install tfseq-no-such-ops)",
        ),
    ],
)
def test_predict_on_a_damaged_export_says_so_in_one_line(classifier_export, tmp_path, capsys, how, says):
    import shutil

    from tfseq import cli

    assert cli.predict_main([str(classifier_export), "good film"]) == 0  # the export as written answers
    capsys.readouterr()
    folder = tmp_path / "1"
    shutil.copytree(classifier_export, folder)
    damage(folder, how)
    assert cli.predict_main([str(folder), "good film"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"tfseq-predict: error: {folder}") and says in err, err


def test_predict_output_that_is_a_folder_is_refused_before_loading(classifier_export, tmp_path, capsys):
    from tfseq import cli

    assert cli.predict_main([str(classifier_export), "good film", "--output", str(tmp_path)]) == 2
    assert f"--output {tmp_path} is a folder; expected a file to write" in capsys.readouterr().err


def test_predict_output_formats_and_no_silent_overwrite(classifier_export, tmp_path, capsys):
    from tfseq import cli

    sheet = tmp_path / "answers.xlsx"
    assert cli.predict_main([str(classifier_export), "good film", "--output", str(sheet)]) == 2
    assert "expected a file ending in .csv, .tsv, .jsonl, found '.xlsx'" in capsys.readouterr().err
    assert not sheet.exists()

    table = tmp_path / "answers.tsv"
    assert cli.predict_main([str(classifier_export), "good film", "dull", "--output", str(table)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 2 predictions to {table}"
    written = pd.read_csv(table, sep="\t")
    assert written.columns.tolist()[:2] == ["text", "label"] and written["text"].tolist() == ["good film", "dull"]

    before = table.read_bytes()  # a second run does not replace what the first wrote ...
    assert cli.predict_main([str(classifier_export), "other", "--output", str(table)]) == 2
    assert f"--output {table} exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert table.read_bytes() == before
    assert cli.predict_main([str(classifier_export), "other", "--output", str(table), "--overwrite"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 1 prediction to {table}"  # ... unless asked
    assert pd.read_csv(table, sep="\t")["text"].tolist() == ["other"]


def test_predict_carries_the_files_columns_and_writes_probabilities_and_top_k(classifier_export, tmp_path, capsys):
    from tfseq import cli

    source = tmp_path / "new.csv"
    pd.DataFrame({"id": [7, 9], "text": ["good film", "dull"], "label": ["pos", "neg"]}).to_csv(source, index=False)
    out = tmp_path / "answers.csv"
    assert cli.predict_main([str(classifier_export), "--file", str(source), "--output", str(out), "--top-k", "2"]) == 0
    written = pd.read_csv(out)
    # The file's columns first (its gold label kept, the answer's beside it), then the answers.
    assert written.columns.tolist() == [
        "id",
        "label",
        "text",
        "predicted_label",
        "confidence",
        "label_1",
        "score_1",
        "label_2",
        "score_2",
    ]
    assert written["id"].tolist() == [7, 9] and set(written["label_1"]) <= {"neg", "pos"}
    assert (written["score_1"] >= written["score_2"]).all()
    lines = tmp_path / "answers.jsonl"
    assert (
        cli.predict_main([str(classifier_export), "--file", str(source), "--output", str(lines), "--top-k", "1"]) == 0
    )
    rows = [json.loads(line) for line in lines.read_text().splitlines()]
    assert rows[0]["id"] == "7" and set(rows[0]["probabilities"]) == {"neg", "pos"}  # as the CSV wrote it
    assert sum(rows[0]["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    assert rows[0]["top_k"] == [
        {"label": rows[0]["predicted_label"], "score": pytest.approx(rows[0]["confidence"], abs=1e-4)}
    ]
    capsys.readouterr()
    assert cli.predict_main([str(classifier_export), "good film", "--top-k", "2"]) == 0
    assert re.fullmatch(r"(neg|pos) \(0\.\d{3}\) \| (neg|pos) \(0\.\d{3}\)\tgood film", capsys.readouterr().out.strip())


def test_predict_never_reads_conll_columns_a_line_a_text(classifier_export, tmp_path, capsys):
    from tfseq import cli

    conll = tmp_path / "test.txt"
    conll.write_text("Yesterday NN O\nJohn NNP B-PER\n\nMary NNP B-PER\nran VBD O\n.\t. O\n")
    assert cli.predict_main([str(classifier_export), "--file", str(conll)]) == 2
    err = capsys.readouterr().err
    assert "test.txt looks like CoNLL columns" in err and f"tfseq-evaluate {classifier_export} {conll}" in err


def small_seq2seq():
    source = vectorizer(split="character")
    target = data.TextVectorizer(split="word").adapt(["X Y", "Y Z", "Z W V"], reserved=SPECIALS)
    model = Seq2Seq(
        RecurrentBackbone(source.vocabulary_size(), units=4, embedding_dim=4),
        target.vocabulary_size(),
        preprocessor=data.Seq2SeqPreprocessor(source, target),
    )
    model({"source": np.array([[2, 3]]), "target": np.array([[2, 4]])})
    return model


def test_generation_is_chosen_at_predict_time_with_the_training_runs_as_defaults(tmp_path, capsys):
    from tfseq import cli, decoding

    model = small_seq2seq()
    path = export.save(seq2seq_serving(model, max_length=6, sampler=decoding.BeamSearch(beams=3)), tmp_path / "s2s")
    assert json.loads((path / "tfseq.json").read_text())["generate_defaults"] == {
        "sampler": "beam",
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
        "max_length": 6,
        "beams": 3,
        "n_best": 1,
        "length_penalty": 0.0,
        "no_repeat_ngram_size": 0,
        "repetition_penalty": 1.0,
    }
    loaded = tf.saved_model.load(str(path))
    # Python: every setting optional, the export's own by default (serving_default's answer).
    default = loaded.generate(tf.constant(["good"]))
    assert (
        default["target"].numpy()[0]
        == loaded.signatures["serving_default"](text=tf.constant(["good"]))["target"].numpy()[0]
    )
    short = loaded.generate(tf.constant(["good"]), max_length=2, sampler="greedy")["target"].numpy()[0]
    assert len(short.split()) <= 2
    sampled = loaded.generate(tf.constant(["good", "bad"]), sampler="top_k", top_k=2, n_best=4)
    assert sampled["targets"].shape == (2, 4) and (np.diff(sampled["scores"].numpy(), axis=1) <= 1e-6).all()
    # TensorFlow Serving's signature takes every setting.
    assert set(loaded.signatures["generate"].structured_input_signature[1]) == {"text", *decoding.SETTINGS}
    # tfseq-predict: flags, an n-best in JSON lines in the order of the scores it shows.
    out = tmp_path / "n.jsonl"
    assert (
        cli.predict_main(
            [
                str(path),
                "good",
                "bad plot",
                "--beams",
                "4",
                "--n-best",
                "3",
                "--no-repeat-ngram-size",
                "1",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row in rows:
        scores = [choice["score"] for choice in row["n_best"]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True) and row["target"] == row["n_best"][0]["text"]
        for choice in row["n_best"]:
            assert len(set(choice["text"].split())) == len(choice["text"].split())  # no token twice
    capsys.readouterr()
    assert cli.predict_main([str(path), "good", "--sampler", "top_p", "--temperature", "0.5"]) == 0
    assert capsys.readouterr().out.startswith("good\t")
    for flags, says in (
        (["--sampler", "nucleus"], "--sampler nucleus: expected one of greedy, sampling, beam"),
        (["--temperature", "0"], "--temperature 0.0: expected a number > 0"),
        (["--n-best", "5"], "--n-best 5: beam search keeps 3 sequences; pass --beams 5"),
    ):
        assert cli.predict_main([str(path), "good", *flags]) == 2
        assert says in capsys.readouterr().err


def test_generation_flags_on_an_export_that_does_not_generate_say_so(classifier_export, capsys):
    from tfseq import cli

    assert cli.predict_main([str(classifier_export), "good", "--sampler", "greedy"]) == 2
    err = capsys.readouterr().err
    assert "--sampler: " in err and "does not generate text with settings chosen at predict time" in err


def test_a_language_models_export_generates_with_settings_from_predict(tmp_path, capsys):
    from tfseq import cli

    pre = data.CausalLMPreprocessor(data.TextVectorizer(split="character", keep_whitespace=True))
    pre.adapt(["hello world", "help me", "a b c"])
    model = LanguageModel(
        RecurrentBackbone(
            pre.tokenizer.vocabulary_size(), units=8, embedding_dim=8, bidirectional=False, return_state=True
        ),
        pre.line_end,
        preprocessor=pre,
    )
    model(np.zeros((1, 2), "int32"))
    path = export.save(language_model_serving(model, length=20), tmp_path / "lm")
    loaded = tf.saved_model.load(str(path))
    out = loaded.generate(tf.constant(["he", ""]), sampler="greedy", max_length=4, n_best=1)
    assert all(len(text.decode()) <= 4 for text in out["continuation"].numpy())
    again = loaded.generate(tf.constant(["he", ""]), sampler="greedy", max_length=4)["continuation"].numpy()
    assert (again == out["continuation"].numpy()).all()  # greedy: the same answer every time
    assert (
        cli.predict_main([str(path), "he", "--sampler", "greedy", "--max-length", "3", "--repetition-penalty", "1.5"])
        == 0
    )
    assert capsys.readouterr().out.startswith("he")
