"""Classification end to end on tiny data: model API, CLI, run folder, export, bad input."""

import json
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf

from tfseq import cli, data, recipes
from tfseq.models import RecurrentBackbone, TextClassifier
from tfseq.train import runs

POSITIVE = ["great fun movie", "loved it great", "wonderful great acting", "fun and wonderful", "great great"]
NEGATIVE = ["boring bad movie", "hated it bad", "awful bad acting", "boring and awful", "bad bad"]


def tiny_table(path, n=60, classes=("pos", "neg")):
    rng = np.random.default_rng(0)
    lines = ["text,label"]
    for i in range(n):
        label = classes[i % len(classes)]
        words = (POSITIVE if label == classes[0] else NEGATIVE)[rng.integers(5)]
        lines.append(f"{words} {i},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_model_fit_on_raw_strings_and_keras_round_trip(tmp_path):
    texts = np.array(POSITIVE * 8 + NEGATIVE * 8)
    labels = np.array([1] * 40 + [0] * 40)
    vec = data.TextVectorizer(split="word", ngrams=(1, 2))
    vec.adapt(texts)
    model = TextClassifier(
        RecurrentBackbone(
            {"tokens": vec.vocabulary_size(1), "ngrams_2": vec.vocabulary_size(2)},
            cell="lstm",
            units=8,
            embedding_dim=8,
            bidirectional=True,
        ),
        2,
        pooling="attention",
        wide=True,
        preprocessor=vec,
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    history = model.fit(texts, labels, epochs=8, batch_size=16, verbose=0, callbacks=[keras.callbacks.History()])
    assert history.history["loss"][-1] < history.history["loss"][0]
    probabilities = model.predict(np.array(["great fun", "awful bad", ""]), verbose=0)
    assert probabilities.shape == (3, 2) and probabilities[0, 1] > 0.5 > probabilities[1, 1]
    path = tmp_path / "clf.keras"
    model.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. "compile() was not called ... custom"
        restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        restored.predict(np.array(["great fun", "awful bad"]), verbose=0), probabilities[:2], atol=1e-6
    )
    # Loaded compiled (optimizer state included): training simply continues.
    assert restored.optimizer.iterations.numpy() == model.optimizer.iterations.numpy()
    assert restored.loss == model.loss
    restored.fit(texts, labels, epochs=1, batch_size=16, verbose=0)


@pytest.mark.parametrize("pooling", ["last", "max", "mean", "max+mean", "attention"])
@pytest.mark.parametrize("head", ["binary", "multiclass", "multilabel"])
def test_heads_and_pooling_shapes(pooling, head):
    model = TextClassifier(
        RecurrentBackbone(
            {"tokens": 20}, cell="rnn", units=4, embedding_dim=4, bidirectional=pooling != "last", layers=2
        ),
        2 if head == "binary" else 3,
        head=head,
        pooling=pooling,
    )
    out = model({"tokens": np.array([[2, 3, 4, 0], [5, 0, 0, 0], [0, 0, 0, 0]])})
    assert out.shape == (3, 1 if head == "binary" else 3)
    assert np.all(np.isfinite(np.asarray(out)))


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "tfseq.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


FAST = [
    "backbone.units=8",
    "backbone.embedding_dim=8",
    "train.epochs=2",
    "train.batch_size=16",
    "train.verbose=0",
    "data.split=word",
    "data.ngrams=[1]",
    "data.min_frequency=1",
    "backbone.layers=1",
]


@pytest.mark.parametrize(
    "texts,split,layers",
    [(["a good film", "the plot was bad"] * 10, "word", 2), (["这本书很好看", "质量太差了"] * 10, "character", 1)],
)
def test_auto_chooses_what_the_benchmarks_chose_for_the_script(texts, split, layers):
    from tfseq.tasks.classify import ClassifyTask

    logged = []
    task = ClassifyTask(recipes.resolve("classify", []), run=None, log=logged.append)
    task.choose_text_defaults(texts)
    assert (task.config.data.split, task.config.backbone.layers) == (split, layers)
    assert any(line.startswith(f"auto: backbone.layers={layers} (") for line in logged)


@pytest.mark.slow
def test_cli_trains_reports_exports_and_predicts(tmp_path):
    train = tiny_table(tmp_path / "train.csv")
    # The simple form: a training file replaces the recipe's built-in dataset.
    result = run_cli("task=classify", f"data.train={train}", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "cuda drivers" not in result.stderr and "absl::InitializeLog" not in result.stderr  # quiet start
    assert "data: train.csv {'train': 48, 'validation': " in result.stdout
    runs = list((tmp_path / "runs" / "classify").iterdir())
    assert len(runs) == 1
    run = runs[0]
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["test"]["accuracy"] <= 1 and 0 <= metrics["validation"]["macro_f1"] <= 1
    assert metrics["baseline"]["test"]["accuracy"] >= 0 and metrics["train_seconds"] > 0
    for name in (
        "config.yaml",
        "classification_report.txt",
        "confusion_matrix.png",
        "learning_curves.png",
        "model.keras",
    ):
        assert (run / name).exists(), name
    assert not (run / "checkpoints").exists()  # train.keep_checkpoints: 0 (model.keras holds the weights)
    # config.yaml is the recipe as run: data.max_length was auto, and is what the data chose.
    written = (run / "config.yaml").read_text().split("model:")[0]
    assert "max_length: 50" in written and "auto" not in written
    assert "auto: data.max_length=50 (the 95th percentile of training lengths is" in result.stdout
    assert len(metrics["history"]["val_accuracy"]) == metrics["epochs"] == 2
    assert list((run / "tensorboard").rglob("events.out.tfevents*"))
    # Named after the data (train.csv: its folder's name), so a run on other data never replaces it.
    export = tmp_path / metrics["export"]
    assert export == tmp_path / "saved_models" / f"classify-{tmp_path.name}" / "1"
    assert f"export: saved_models/classify-{tmp_path.name} version 1" in result.stdout
    assert (export / "saved_model.pb").exists() and f"run folder: runs/classify/{run.name}" in result.stdout
    # The recipe's bag-of-n-grams experts were fitted, and their mix with the network on validation.
    assert "wide expert tfidf" in result.stdout and "wide expert nb" in result.stdout
    # Validation's 9 texts are too few to fit the mix of the network and the experts: equal weights.
    assert "mix of logits: equal weights (9 validation texts are too few to fit them; 50 or more are)" in result.stdout

    # The export loads in a fresh process that never imports tfseq, takes raw strings.
    script = textwrap.dedent(f"""
        import sys, tensorflow as tf
        serve = tf.saved_model.load({str(export)!r}).signatures["serving_default"]
        out = serve(text=tf.constant(["great fun movie", "", "zzz unknown words", "bad " * 5000]))
        assert "tfseq" not in sys.modules
        print(out["label"].numpy().tolist(), out["probabilities"].shape)
    """)
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert "(4, 2)" in loaded.stdout

    # The .keras model predicts what the export predicts.
    # Texts as arguments, then (--file -) one a line from standard input, blank lines skipped.
    predict = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from tfseq.cli import predict_main; sys.exit(predict_main())",
            str(export.parent),
            "great fun movie",
            "awful bad",
            "",
            "  ",
            "--file",
            "-",
        ],
        input="awful bad\n\ngreat fun movie\r\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert predict.returncode == 0, predict.stderr[-2000:]
    lines = predict.stdout.rstrip("\n").splitlines()
    assert len(lines) == 6 and lines[2].split("\t")[:2] == lines[3].split("\t")[:2]  # no tokens: the prior
    assert lines[4] == lines[1] and lines[5] == lines[0]
    # (A second run's export is version 2: tests/test_export.py checks the versioning itself.)


@pytest.mark.parametrize(
    "args,message",
    [
        (["task=nope"], "unknown task 'nope'"),
        (["task=classify", "model.celll=gru"], "unknown key 'model.celll'"),
        (["task=classify", "backbone.cell=gru", "oops"], "expected key=value"),
        (["backbone.cell=gru"], "missing task=<name>"),
        (["task=lm", "generate.prompts=[ROMEO:]"], "bad value for generate.prompts: '[ROMEO:]'"),  # YAML syntax
        (["task=classify", "train.epochs=many"], "bad value for train.epochs"),
    ],
)
def test_cli_usage_errors_are_one_line(args, message, capsys):
    assert cli.train_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_data_errors_leave_nothing_behind(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one = tmp_path / "one.csv"
    one.write_text("text,label\n" + "".join(f"t{i},a\n" for i in range(20)))
    assert cli.train_main(["task=classify", "data.name=null", f"data.train={one}"]) == 2
    assert "single class" in capsys.readouterr().err
    assert cli.train_main(["task=classify", "data.name=null", f"data.train={one}", "data.text=review"]) == 2
    assert "missing column(s) ['review']" in capsys.readouterr().err
    assert not (tmp_path / "saved_models").exists()
    # No run folder either: resume=true must not take a run that never trained for a killed one.
    assert not any((tmp_path / "runs" / "classify").iterdir())


def test_malformed_or_unknown_recipe_file(tmp_path, capsys):
    (tmp_path / "mine.yaml").write_text("task: classify\nmodel: [unclosed\n")
    assert cli.train_main([f"task={tmp_path / 'mine.yaml'}"]) == 2
    assert "mine.yaml: malformed YAML" in capsys.readouterr().err
    (tmp_path / "other.yaml").write_text("task: parse\n")
    assert cli.train_main([f"task={tmp_path / 'other.yaml'}"]) == 2
    assert "task: 'parse' is no registered task" in capsys.readouterr().err
    assert cli.train_main([f"task={tmp_path / 'missing.yaml'}"]) == 2
    assert "missing.yaml: no such recipe file" in capsys.readouterr().err


def test_a_recipe_file_of_your_own_over_a_registered_one(tmp_path):
    (tmp_path / "small.yaml").write_text("base: classify\nbackbone:\n  units: 12\n")
    config = recipes.resolve(str(tmp_path / "small.yaml"), [("train.epochs", "1")])
    assert (config.task, config.backbone.units, config.train.epochs, config.backbone.cell) == ("classify", 12, 1, "gru")
    # A key the registered recipe lacks (here one that moved from model: to backbone:) is an
    # error, not ignored.
    (tmp_path / "old.yaml").write_text("base: classify\nmodel:\n  units: 12\n")
    with pytest.raises(
        cli.UsageError, match="old.yaml: unknown key 'model.units' for task=classify; did you mean backbone.units"
    ):
        recipes.resolve(str(tmp_path / "old.yaml"), [])


def test_help_lists_tasks_and_keys(capsys):
    assert cli.train_main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "task=classify keys" in out and "backbone.cell=gru" in out and "export.dir=saved_models" in out
    # Each key with its recipe comment, continuation lines included (wrapped under the comment).
    assert "rnn | lstm | gru" in out.split("backbone.cell=gru")[1].splitlines()[0]
    wide = " ".join(line.strip() for line in out.split("model.wide=")[1].split("\n  model.")[0].splitlines())
    assert "fitted by scikit-learn, mixed by weights" in wide
    assert max(map(len, out.splitlines())) <= 100 and "task=tag keys" in out
    # task= narrows it to one task's keys.
    assert cli.train_main(["task=classify", "--help"]) == 0
    one = capsys.readouterr().out
    assert "task=classify keys" in one and "task=tag keys" not in one and "model.wide=" in one
    assert len(one.splitlines()) < len(out.splitlines()) / 4 and max(map(len, one.splitlines())) <= 100


def test_help_usage_errors_and_data_cards_do_not_wait_for_tensorflow():
    code = (
        "import sys; from tfseq import cli; cli.train_main(['--help']); cli.train_main(['task=nope']); "
        "cli.data_main(['list']); cli.data_main(['describe', 'cmudict']); "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr[-2000:]


def test_a_run_that_does_not_beat_its_bar_says_so_last():
    def run(key, mine, bar):
        return {"headline": key, "test": {key: mine}, "baseline": {"model": "TF-IDF", "test": {key: bar}}}

    assert runs.lost_to_bar(run("accuracy", 0.91, 0.90)) is None
    assert "does not beat its bar on test (accuracy 0.9000, the bar's 0.9000)" in runs.lost_to_bar(
        run("accuracy", 0.90, 0.90)
    )  # a tie has not won
    assert "(TF-IDF) is the better answer" in runs.lost_to_bar(run("f1", 0.19, 1.0))
    assert runs.lost_to_bar(run("perplexity", 3.0, 3.5)) is None  # lower is better
    assert runs.lost_to_bar(run("perplexity", 3.6, 3.5)) is not None
    assert runs.lost_to_bar({"headline": "accuracy", "test": {"accuracy": 0.5}}) is None  # no bar


def test_a_sweep_publishes_only_runs_better_on_validation_than_those_before():
    publisher = runs.SweepPublisher()

    def scored(key, value):
        return {"headline": key, "validation": {key: value}}

    assert publisher("a")(scored("accuracy", 0.80)) is None  # the first is published
    assert "validation accuracy 0.7900 is not better than a's 0.8000" in publisher("b")(scored("accuracy", 0.79))
    assert publisher("c")(scored("accuracy", 0.80)) is not None  # a tie keeps what is served
    assert publisher("d")(scored("accuracy", 0.81)) is None and publisher.best == (0.81, "d")
    lower = runs.SweepPublisher()  # perplexity: lower is better
    assert lower("x")(scored("perplexity", 5.0)) is None and lower("y")(scored("perplexity", 4.0)) is None
    assert "not better than y's 4.0000" in lower("z")(scored("perplexity", 4.5))
    assert lower("w")({"headline": "perplexity", "validation": {}}) is None  # nothing to compare: published


def test_sweep_values_split():
    assert recipes.split_sweep("rnn,lstm,gru") == ["rnn", "lstm", "gru"]
    assert recipes.split_sweep("[1,2]") == ["[1,2]"]
    # Hydra's override grammar: range (stop excluded) and choice.
    assert recipes.split_sweep("range(64,256,64)") == ["64", "128", "192"]
    assert recipes.split_sweep("range(3)") == ["0", "1", "2"]
    assert recipes.split_sweep("range(0.1, 0.4, 0.1)") == ["0.1", "0.2", "0.3"]
    assert recipes.split_sweep("range(5,1,-2)") == ["5", "3"]
    assert recipes.split_sweep("choice(rnn, gru)") == ["rnn", "gru"]
    for bad in ("range(1,5,0)", "range(a,b)", "range(5,1)", "choice(a,,b)"):
        with pytest.raises(cli.UsageError, match=r"expected|no values"):
            recipes.split_sweep(bad)
    task, overrides = recipes.parse_overrides(["task=classify", "backbone.units=range(32,96,32)"])
    assert overrides == [("backbone.units", ["32", "64"])]
    task, overrides = recipes.parse_overrides(["task=classify", "data=tfds:imdb_reviews", "backbone.cell=rnn,gru"])
    assert overrides == [("data.name", ["tfds:imdb_reviews"]), ("backbone.cell", ["rnn", "gru"])]


def test_recipes_are_found_outside_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert recipes.recipe_path("classify").is_file()  # installed with the package tfseq.tasks
    assert "classify" in recipes.available_tasks() and recipes.resolve("classify", []).task == "classify"


def test_token_dropout_only_in_training_and_never_on_padding():
    model = TextClassifier(
        RecurrentBackbone({"tokens": 50}, cell="gru", units=4, embedding_dim=4, token_dropout=0.5), 2
    )
    ids = np.array([[5, 6, 7, 8, 9, 10, 0, 0]] * 64)
    from tfseq.models.backbone import drop_tokens

    dropped = np.asarray(drop_tokens(ids, model.backbone.token_dropout, model.backbone.seed_generator))
    assert set(np.unique(dropped[:, 6:])) == {0}  # padding stays padding
    oov = dropped[:, :6] == 1
    assert 0.35 < oov.mean() < 0.65 and np.all((dropped[:, :6] == ids[:, :6]) | oov)
    x = {"tokens": ids[:2]}
    np.testing.assert_array_equal(model(x), model(x))  # inference is deterministic
    assert TextClassifier.from_config(model.get_config()).backbone.token_dropout == 0.5


def in_process_trainer(tmp_path, *extra):
    """A classify Trainer on tiny data with the FAST recipe (one epoch) and ``extra`` overrides."""
    train = tiny_table(tmp_path / "train.csv", n=80)
    return trainer_in(tmp_path, "run", f"data.train={train}", *extra)


def trainer_in(tmp_path, name, *extra, recipe=FAST):
    """A classify Trainer on the FAST recipe (one epoch) in ``tmp_path/name``, with ``extra`` overrides."""
    from tfseq.tasks.classify import ClassifyTask
    from tfseq.train.run_folder import RunFolder
    from tfseq.train.trainer import Trainer

    overrides = [
        "data.name=null",
        *recipe,
        "train.epochs=1",
        "baseline=false",
        "export.enabled=false",
        f"run.dir={tmp_path / name}",
        *extra,
    ]
    config = recipes.resolve("classify", [tuple(o.split("=", 1)) for o in overrides])
    return Trainer(
        ClassifyTask(config, RunFolder(config.run.root, "classify", path=config.run.dir), log=lambda *a: None)
    )


@pytest.mark.slow
def test_multi_label_runs_end_to_end_from_json_lists(tmp_path):
    import tensorflow as tf

    train = tmp_path / "ml.jsonl"
    with open(train, "w") as out:
        for i in range(90):
            kind, words = ("pos", POSITIVE[i % 5]) if i % 2 else ("neg", NEGATIVE[i % 5])
            labels = [kind] + (["movie"] if "movie" in words else [])
            out.write(json.dumps({"text": f"{words} {i}", "label": labels}) + "\n")
    trainer = in_process_trainer(
        tmp_path,
        f"data.train={train}",
        "train.epochs=12",
        "train.learning_rate=0.02",
        "train.ema=0",
        "train.early_stopping=0",
        "export.enabled=true",
        f"export.dir={tmp_path / 'export'}",
        "baseline=true",
    )
    metrics = trainer.execute()
    # Multi-hot targets, one sigmoid per label, the fitted (single-label) experts left out,
    # reduce_lr watching the loss, exact-set accuracy and micro F1, a one-vs-rest baseline.
    assert trainer.task.head == "multilabel" and trainer.task.class_names == ["movie", "neg", "pos"]
    assert trainer.model.experts == {} and trainer.monitor() == "val_loss"
    assert metrics["test"]["accuracy"] >= 0.9 and metrics["test"]["micro_f1"] >= 0.9
    assert metrics["baseline"]["test"]["accuracy"] >= 0.9
    assert "movie" in (tmp_path / "run" / "classification_report.txt").read_text()
    serve = tf.saved_model.load(metrics["export"]).signatures["serving_default"]
    labels = serve(text=tf.constant(["great fun movie", "hated it bad"]))["label"].numpy().tolist()
    assert labels == [b"movie,pos", b"neg"]


@pytest.mark.slow
def test_character_ngrams_reach_the_experts_not_the_network(tmp_path, monkeypatch):
    from tfseq.models import classifier

    monkeypatch.setattr(classifier, "MIX_TEXTS", 1)  # fit the mix on the tiny validation split
    trainer = in_process_trainer(tmp_path, "data.char_ngrams=[2,4]")
    metrics = trainer.execute()
    assert 0 <= metrics["test"]["accuracy"] <= 1
    model = trainer.model
    assert model.experts["nb"].vocabulary_sizes["chars"] > 2  # the words' character n-grams
    assert "chars" not in model.backbone.embeddings  # the network reads the aligned keys only
    chars = np.asarray(model.experts["nb"].coef["chars"])
    assert np.abs(chars).sum() > 0  # fitted on them
    assert not np.allclose(np.asarray(model.mix.w), 1.0)  # and mixed on validation
    # The character bag is part of the saved model: raw text in, same answers after a round trip.
    path = tmp_path / "m.keras"
    model.save(path)
    texts = np.array(["great fun movie", "awfull baad", ""])
    np.testing.assert_allclose(
        keras.saving.load_model(path).predict(texts, verbose=0), model.predict(texts, verbose=0), atol=1e-5
    )
    import tensorflow as tf

    from tfseq import export
    from tfseq.tasks.classify import classifier_serving

    model.preprocessor.prior = [0.3, 0.7]
    exported = export.save(classifier_serving(model), tmp_path / "export")
    serve = tf.saved_model.load(str(exported)).signatures["serving_default"]
    # The same answers; the text without tokens gets the prior.
    np.testing.assert_allclose(
        serve(text=tf.constant(texts))["probabilities"].numpy(),
        [*model.predict(texts[:2], verbose=0), [0.3, 0.7]],
        atol=1e-5,
    )


@pytest.mark.slow
def test_resume_after_sigkill_mid_epoch_equals_the_uninterrupted_run(tmp_path):
    import signal

    train = tiny_table(tmp_path / "train.csv")
    # Dropout, token dropout and shuffling all draw random numbers; early stopping and
    # reduce_lr carry counters from epoch to epoch.
    args = [
        f"data.train={train}",
        *FAST,
        "train.epochs=4",
        "train.verbose=2",
        "train.keep_checkpoints=1",
        "backbone.dropout=0.3",
        "backbone.token_dropout=0.2",
        "baseline=false",
        "export.enabled=false",
    ]
    # The first run kills itself (SIGKILL: no cleanup, no finally) in the middle of its third epoch.
    killer = textwrap.dedent(f"""
        import os, signal, sys, keras
        from tfseq import cli
        from tfseq.train.trainer import Trainer

        class Kill(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch

            def on_train_batch_end(self, batch, logs=None):
                if self.epoch == 2 and batch == 1:
                    os.kill(os.getpid(), signal.SIGKILL)

        callbacks = Trainer.callbacks
        Trainer.callbacks = lambda self: callbacks(self) + [Kill()]
        sys.exit(cli.train_main({["task=classify", "run.root=killed", *args]!r}))
    """)
    killed = subprocess.run([sys.executable, "-c", killer], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    (run,) = (tmp_path / "killed" / "classify").iterdir()
    assert not (run / "metrics.json").exists() and (run / "checkpoints" / "epoch-002.keras").exists()

    # README's line alone: the run continues on its own file with its own keys (its config.yaml).
    resumed = run_cli("task=classify", "run.root=killed", "resume=true", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"continuing killed/classify/{run.name} with its config.yaml data.train={train}" in resumed.stdout
    assert "restoring the training state saved after epoch-002" in resumed.stdout
    # Only the unfinished epochs are trained again; the finished two are kept.
    assert "Epoch 3/4" in resumed.stdout and "Epoch 1/4" not in resumed.stdout and "Epoch 2/4" not in resumed.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 4 and 0 <= metrics["test"]["accuracy"] <= 1
    assert not (run / "backup").exists()  # the resume state goes once the run is complete
    assert list((tmp_path / "killed" / "classify").iterdir()) == [run]

    whole = run_cli("task=classify", "run.root=whole", *args, cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr[-3000:]
    (uninterrupted,) = (tmp_path / "whole" / "classify").iterdir()
    expected = json.loads((uninterrupted / "metrics.json").read_text())
    # Every epoch after the kill, and the final scores, are those of the run that was never killed.
    assert len(metrics["history"]["loss"]) == 4
    assert metrics["history"] == expected["history"]
    assert metrics["test"] == expected["test"] and metrics["validation"] == expected["validation"]


@pytest.mark.slow
def test_experts_are_refitted_on_train_and_validation_after_validation_is_scored(tmp_path, monkeypatch):
    from tfseq.data.vectorize import concatenate_ids
    from tfseq.models.linear import BagLinear
    from tfseq.tasks.classify import EXPERT_FITS, ClassifyTask

    order = []
    for method in ("split_metrics", "refit_experts"):
        original = getattr(ClassifyTask, method)
        monkeypatch.setattr(
            ClassifyTask,
            method,
            lambda self, *a, _f=original, _m=method: (order.append(a[0] if a else _m), _f(self, *a))[1],
        )
    trainer = in_process_trainer(tmp_path, "train.refit_experts=true")
    metrics = trainer.execute()
    # Validation is scored with the experts it chose C and the mix for, then they see its texts.
    assert order == ["validation", "refit_experts", "test"]
    task = trainer.task
    assert metrics["validation"] == task.validation_metrics
    features = task.features
    both = (
        concatenate_ids(features["train"], features["validation"]),
        np.concatenate([task.targets["train"], task.targets["validation"]]),
    )
    assert len(both[1]) == len(task.targets["train"]) + len(task.targets["validation"])
    for name, expert in trainer.model.experts.items():
        fresh = BagLinear(expert.vocabulary_sizes, expert.outputs, weighting=name)
        fresh({k: v[:1] for k, v in features["train"].items()})
        EXPERT_FITS[name][0](fresh, both, None, cs=(task.expert_c[name],))
        texts = features["test"]
        np.testing.assert_allclose(np.asarray(expert(texts)), np.asarray(fresh(texts)), atol=1e-5)


def test_concatenate_ids_pads_each_key_to_the_widest():
    from tfseq.data.vectorize import concatenate_ids

    joined = concatenate_ids(
        {"tokens": np.array([[2, 3]]), "chars": np.array([[4]])},
        {"tokens": np.array([[5, 6, 7], [8, 0, 0]]), "chars": np.array([[9, 10]] * 2)},
    )
    np.testing.assert_array_equal(joined["tokens"], [[2, 3, 0], [5, 6, 7], [8, 0, 0]])
    np.testing.assert_array_equal(joined["chars"], [[4, 0], [9, 10], [9, 10]])


@pytest.mark.slow
def test_words_of_the_embedding_file_join_the_vocabulary_and_keep_their_vectors(tmp_path):
    vectors = tmp_path / "vectors.txt"  # GloVe's layout: most frequent first, no header
    rows = {
        "great": [1, 0, 0, 0, 0, 0, 0, 0],
        "superb": [0, 2, 0, 0, 0, 0, 0, 0],
        "Dull": [0, 0, 3, 0, 0, 0, 0, 0],
        "dreadful": [0, 0, 0, 4, 0, 0, 0, 0],
    }
    vectors.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in rows.items()))
    trainer = in_process_trainer(tmp_path, f"model.embeddings={vectors}", "model.embeddings_vocabulary=3")
    trainer.execute()
    vectorizer = trainer.task.preprocessor.tokenizer
    tokens = vectorizer.vocabularies[1]
    # "great" was already there; "superb" (never in training) is added; "Dull" is skipped (the
    # recipe lower-cases); "dreadful" is beyond the first 3.
    assert tokens.count("great") == 1 and tokens[-1] == "superb" and "dull" not in tokens and "dreadful" not in tokens
    ids = vectorizer(np.array(["superb"]))["tokens"].numpy()
    assert ids[0, 0] == len(tokens) + 1  # its own id, not OOV
    # Its row is not trained (no gradient, no optimizer state): it reads as its pretrained vector,
    # in the model and after a .keras round trip.
    model = trainer.model
    layer = model.backbone.embeddings["tokens"]
    assert layer.fixed_embeddings.shape == (1, 8) and not layer.fixed_embeddings.trainable
    assert layer.embeddings.shape[0] == len(tokens) + 1  # padding, OOV and training's words
    np.testing.assert_allclose(np.asarray(layer(ids))[0, 0], rows["superb"])
    np.testing.assert_allclose(np.asarray(layer(np.array([[2]])))[0, 0], np.asarray(layer.embeddings)[2])
    model.save(tmp_path / "m.keras")
    texts = np.array(["superb movie", "bad", ""])
    expected = model.predict(texts, verbose=0)
    np.testing.assert_allclose(
        keras.saving.load_model(tmp_path / "m.keras").predict(texts, verbose=0), expected, atol=1e-5
    )
    import tensorflow as tf

    from tfseq import export
    from tfseq.tasks.classify import classifier_serving

    exported = export.save(classifier_serving(model), tmp_path / "export")
    serve = tf.saved_model.load(str(exported)).signatures["serving_default"]
    np.testing.assert_allclose(serve(text=tf.constant(texts[:2]))["probabilities"].numpy(), expected[:2], atol=1e-5)


def test_vectorizer_extend_appends_new_tokens_the_rule_can_make():
    vectorizer = data.TextVectorizer(split="word")
    vectorizer.adapt(["a b b"])
    assert vectorizer.extend(["b", "c", "C", "d d", "c", ""]) == 1
    assert vectorizer.vocabularies[1] == ["b", "a", "c"]
    assert vectorizer(np.array(["c a zz"]))["tokens"].numpy().tolist() == [[4, 3, 1]]
    characters = data.TextVectorizer(split="character")
    characters.adapt(["好书"])
    assert characters.extend(["书", "看", "好看"]) == 1 and characters.vocabularies[1][-1] == "看"


@pytest.mark.slow
def test_a_range_sweep_runs_each_value_and_writes_its_table_and_hparams(tmp_path, capsys, monkeypatch):
    import tensorflow as tf

    monkeypatch.chdir(tmp_path)
    train = tiny_table(tmp_path / "train.csv")
    assert (
        cli.train_main(
            [
                "task=classify",
                f"data.train={train}",
                *FAST,
                "train.epochs=1",
                "baseline=false",
                "backbone.units=range(4,12,4)",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "=== backbone.units=4 ===" in out and "=== backbone.units=8 ===" in out
    # The first run is published; the second only if validation prefers it: the newest version
    # (what is served) is the sweep's best run by validation.
    (published,) = (tmp_path / "saved_models").iterdir()
    versions = sorted(published.iterdir(), key=lambda p: int(p.name))
    held_back = "export: not published (validation accuracy" in out
    assert len(versions) == (1 if held_back else 2)
    assert f"sweep: served: saved_models/{published.name}/{versions[-1].name} (" in out
    (sweep,) = (tmp_path / "runs" / "classify").glob("sweep-*.md")
    table = sweep.read_text()
    assert (
        "| val accuracy | test accuracy |" in table and "backbone.units=4 |" in table and "backbone.units=8 |" in table
    )
    for run in (p for p in (tmp_path / "runs" / "classify").iterdir() if p.is_dir()):
        (events,) = (run / "tensorboard" / "hparams").glob("events.out.tfevents*")
        tags = {v.tag for e in tf.compat.v1.train.summary_iterator(str(events)) for v in e.summary.value}
        assert "_hparams_/session_start_info" in tags and "test/accuracy" in tags


@pytest.mark.slow
def test_a_run_writes_a_preset_and_model_preset_fine_tunes_it(tmp_path, capsys):
    from tfseq.models import TextClassifier

    first = in_process_trainer(tmp_path)
    first.execute()
    preset = tmp_path / "run" / "preset"
    original = TextClassifier.from_preset(preset)  # the run's own preset: model.keras's weights
    texts = np.array(["good film", "bad plot 3", "unseen words"])
    x = original.preprocessor.inputs(texts)
    # Fine-tuning at a rate too small to move a weight: the run starts from the preset, reads the
    # new data through the preset's vocabulary and labels, and keeps them.
    # The first run's keys may be given again (those the preset fixes, at its values); config.yaml
    # says what ran: the preset's network and text reading, not the recipe's auto.
    other = tiny_table(tmp_path / "other.csv", n=40)
    again = [key for key in FAST if not key.startswith("data.min_frequency")]
    tuned = trainer_in(
        tmp_path,
        "tuned",
        f"data.train={other}",
        f"model.preset={preset}",
        "train.learning_rate=1e-12",
        "train.ema=0",
        "run.preset=false",
        recipe=again,
    )
    tuned.execute()
    assert (tmp_path / "tuned" / "model.keras").exists() and not (tmp_path / "tuned" / "preset").exists()
    ran = OmegaConf.load(tmp_path / "tuned" / "config.yaml")
    assert (ran.backbone.units, ran.backbone.layers, ran.data.split, list(ran.data.ngrams), ran.model.head) == (
        8,
        1,
        "word",
        [1],
        "multiclass",
    )
    saved = original.preprocessor.tokenizer
    assert (
        (ran.data.max_length, list(ran.data.char_ngrams)) == (saved.max_length, list(saved.char_ngrams)) == (50, [2, 5])
    )
    model = tuned.model
    assert model.preprocessor.tokenizer.vocabularies == original.preprocessor.tokenizer.vocabularies
    assert model.preprocessor.labels == original.preprocessor.labels
    np.testing.assert_allclose(model.network_logits(x), original.network_logits(x), atol=1e-5)
    # A label the preset does not know: one line, before training.
    # A key that would change the preset's network or vocabulary: one line, nothing ignored.
    for key, says in [
        ("backbone.units=16", "backbone.units=16 but the preset has 8"),
        ("data.ngrams=[1,2]", "data.ngrams=[1, 2] but the preset has [1]"),
        ("data.min_frequency=1", "data.min_frequency shapes a new model only"),
    ]:
        code = cli.train_main(
            [
                "task=classify",
                "data.name=null",
                f"data.train={other}",
                key,
                f"model.preset={preset}",
                f"run.root={tmp_path / 'runs'}",
            ]
        )
        err = capsys.readouterr().err
        assert code == 2 and says in err and "without model.preset" in err and len(err.strip().splitlines()) == 1, err
    odd = tiny_table(tmp_path / "odd.csv", n=40, classes=("pos", "meh"))
    code = cli.train_main(
        [
            "task=classify",
            "data.name=null",
            f"data.train={odd}",
            *again,
            f"model.preset={preset}",
            f"run.root={tmp_path / 'runs'}",
            "export.enabled=false",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "the training data has labels ['meh'] that the preset does not know" in err, err
    assert (
        cli.train_main(
            [
                "task=classify",
                *FAST,
                f"model.preset={tmp_path}",
                "export.enabled=false",
                f"run.root={tmp_path / 'runs'}",
            ]
        )
        == 2
    )
    assert "not a preset" in capsys.readouterr().err
