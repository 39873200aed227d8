"""The command line checks a recipe before any work: files replace the built-in dataset, unknown
keys and choices fail at once with a suggestion."""

import subprocess
import sys
import time

import pytest

from tfseq import cli, predict, recipes
from tfseq.train import runs

# Each task's file keys (one of them is enough to mean "my files").
FILES = {
    "classify": "data.train",
    "tag": "data.train",
    "lm": "data.train",
    "seq2seq": "data.train",
    "word2vec": "data.train",
    "caption": "data.images",
}


@pytest.mark.parametrize("task,key", sorted(FILES.items()))
def test_files_given_replace_the_builtin_dataset(task, key):
    assert recipes.resolve(task, []).data.name  # every recipe defaults to a built-in dataset
    assert recipes.resolve(task, [(key, "mine.txt")]).data.name is None
    # data=<name> as well is a contradiction: an error, never one of the two silently.
    with pytest.raises(cli.UsageError, match="both given.*not both"):
        recipes.resolve(task, [("data.name", "reviews-zh"), (key, "mine.txt")])
    # Naming the built-in dataset null, as before, still works.
    assert recipes.resolve(task, [("data.name", "null"), (key, "mine.txt")]).data.name is None


def test_the_data_layer_refuses_a_name_and_files_too(tmp_path):
    from tfseq import data

    with pytest.raises(data.DataError, match="both given"):
        data.load("reviews-zh", train=str(tmp_path / "mine.csv"))


@pytest.mark.parametrize(
    "task,override,message",
    [
        (
            "classify",
            "backbone.cell=lstmm",
            "backbone.cell='lstmm': expected one of rnn, lstm, gru (did you mean lstm?)",
        ),
        ("classify", "model.pooling=null", "model.pooling=None: expected one of last, max, mean, max+mean, attention"),
        ("classify", "model.pooling=maxmean", "(did you mean max+mean?)"),
        ("lm", "generate.sampler=null", "generate.sampler=None: expected one of greedy, sampling, beam"),
        # An empty value (an unset shell variable) is never "the default": it trained on the built-in set.
        ("classify", "data.train=", "data.train= is empty (an unset shell variable?)"),
        ("tag", "data.test=  ", "data.test= is empty"),
        ("classify", "model.pooling=", "model.pooling= is empty"),
        # Paths that cannot work are found before any data is read, not after the training.
        ("classify", "data.train=.", "data.train=. is a folder; expected a file"),
        ("classify", "data.train=nothere.csv", "data.train=nothere.csv: no such file"),
        ("caption", "data.images=/dev/null", "data.images=/dev/null is a file; expected a folder of images"),
        ("classify", "export.dir=/dev/null", "export.dir=/dev/null: /dev/null is a file, not a folder"),
        ("classify", "run.root=/dev/null/runs", "run.root=/dev/null/runs: /dev/null is a file, not a folder"),
        ("classify", "backbone.cell=gru,lstm resume=true", "resume=true continues one run"),
        ("seq2seq", "generate.sampler=topk", "generate.sampler='topk': expected one of"),
        ("tag", "train.optimizer=adamm", "train.optimizer='adamm': expected one of adam, adamw, sgd, rmsprop"),
        (
            "classify",
            "data.split=words",
            "data.split='words': expected one of auto, word, wordpunct, character (did you mean word?)",
        ),
        (
            "seq2seq",
            "data.source_split=char",
            "data.source_split='char': expected one of auto, word, wordpunct, subword, character",
        ),
        ("classify", "model.head=binaryy", "model.head='binaryy'"),
        (
            "classify",
            "train.distribute=cpu:0",
            "train.distribute='cpu:0': expected none, mirrored, multi_worker or cpu:N",
        ),
        ("classify", "model.celll=gru", "unknown key 'model.celll' for task=classify; did you mean backbone.cell?"),
        ("lm", "train.learning_rat=1", "did you mean train.learning_rate?"),
        ("tag", "data.tag_colum=2", "did you mean data.tag_column?"),
        ("tag", "backbone.dropout=1.5", "backbone.dropout=1.5: expected auto, a number in [0, 1)"),
        ("classify", "backbone.dropout=1.5", "backbone.dropout=1.5: expected a number in [0, 1)"),
        ("lm", "backbone.weight_dropout=1", "backbone.weight_dropout=1: expected auto, a number in [0, 1)"),
        ("lm-classic", "backbone.weight_dropout=1", "backbone.weight_dropout=1: expected a number in [0, 1)"),
        ("classify", "backbone.units=auto", "bad value for backbone.units: 'auto': expected a number (default 64)"),
        ("tag-en", "backbone.cell=auto", "backbone.cell='auto': expected one of"),
        ("tag", "backbone.char_cnn=-3", "backbone.char_cnn=-3: expected auto, a whole number >= 0"),
        ("classify", "train.epochs=2.5", "train.epochs=2.5: expected a whole number >= 1"),
        ("lm", "generate.top_p=0", "generate.top_p=0: expected a number in (0, 1]"),
        ("seq2seq", "generate.n_best=5", "generate.n_best=5: needs generate.sampler=beam with generate.beams >= 5"),
    ],
)
def test_bad_choices_and_keys_fail_in_under_two_seconds_before_any_data(task, override, message, tmp_path):
    started = time.perf_counter()
    code = (
        "import sys; from tfseq import cli; code = cli.train_main(sys.argv[1:]); "
        "print(code, sorted(m for m in ('tensorflow', 'keras', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, f"task={task}", *override.split(" ")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )
    elapsed = time.perf_counter() - started
    assert out.stdout.strip() == "2 []", out.stderr[-2000:]  # no TensorFlow, no data library loaded
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert elapsed < 2.0, f"{elapsed:.2f} s"
    assert not (tmp_path / "runs").exists()


def test_every_recipe_default_is_a_valid_choice():
    for task in recipes.available_tasks():
        recipes.check_choices(recipes.load_recipe(task))


def test_choices_are_read_from_the_modules_that_own_them():
    # recipes.owned reads each list from its owner's source (no TensorFlow at parse time): the
    # same values the imported modules hold.
    from tfseq.data.vectorize import SPLITS
    from tfseq.decoding import SAMPLERS
    from tfseq.layers import CELLS
    from tfseq.layers.pooling import MODES
    from tfseq.models.classifier import HEADS
    from tfseq.models.seq2seq import ATTENTION
    from tfseq.models.word2vec import ARCHITECTURES
    from tfseq.train.task import Task
    from tfseq.train.trainer import OPTIMIZERS, PRECISIONS, SCHEDULES

    assert recipes.CHOICES["backbone.cell"] == tuple(CELLS) == recipes.CHOICES["model.cell"]
    assert recipes.CHOICES["model.pooling"] == ("last", *MODES)
    assert recipes.CHOICES["model.head"] == ("auto", *HEADS)
    assert recipes.CHOICES["train.optimizer"] == tuple(OPTIMIZERS)
    assert (recipes.CHOICES["train.schedule"], recipes.CHOICES["train.precision"]) == (SCHEDULES, PRECISIONS)
    assert recipes.CHOICES["model.attention"] == ATTENTION
    assert recipes.CHOICES["model.architecture"] == ARCHITECTURES
    assert recipes.CHOICES["generate.sampler"] == tuple(SAMPLERS)
    assert recipes.CHOICES["data.source_split"] == ("auto", *SPLITS)
    assert set(recipes.CHOICES["model.wide"]) == {"tfidf+nb", "nb+tfidf", "tfidf", "nb", "learned", "none"}
    # One list each, in a module that imports nothing (read at parse time without TensorFlow).
    import ast
    from pathlib import Path

    from tfseq import choices

    assert not [
        node
        for node in ast.parse(Path(choices.__file__).read_text()).body
        if isinstance(node, (ast.Import, ast.ImportFrom))
    ]
    assert tuple(CELLS) == choices.CELLS and tuple(OPTIMIZERS) == choices.OPTIMIZERS
    for sampler in recipes.CHOICES["generate.sampler"]:  # each builds a sampler
        task = Task(recipes.resolve("lm", [("generate.sampler", sampler)]), run=None)
        assert (
            type(task.sampler()).__name__ == {"greedy": "Greedy", "sampling": "Sampling", "beam": "BeamSearch"}[sampler]
        )
    for recipe in ("seq2seq", "caption"):  # the beam's options come from the recipe's generate section
        task = Task(recipes.resolve(recipe, [("generate.length_penalty", 0.6), ("generate.beams", 3)]), run=None)
        assert task.sampler().get_config() == {
            "beams": 3,
            "length_penalty": 0.6,
            "no_repeat_ngram_size": 0,
            "repetition_penalty": 1.0,
        }


def test_predict_names_its_own_flag_for_a_missing_column(tmp_path, capsys):
    table = tmp_path / "x.csv"
    table.write_text("review\nfine\n")
    (tmp_path / "saved_model.pb").write_bytes(b"")  # the column is checked before the model loads
    assert cli.predict_main([str(tmp_path), "--file", str(table)]) == 2
    err = capsys.readouterr().err
    assert "missing column(s) ['text']" in err and "--column" in err and "data.text" not in err


def test_lm_classic_is_the_notes_recipe_over_the_lm_one():
    from tfseq import tasks

    config = recipes.resolve("lm-classic", [])
    assert "lm-classic" in recipes.available_tasks() and config.task == "lm" and "base" not in config
    assert (config.backbone.cell, config.backbone.units, config.data.steps, config.train.batch_size) == (
        "gru",
        256,
        35,
        32,
    )
    assert (config.train.optimizer, config.train.learning_rate, config.train.clipnorm) == ("sgd", 1.0, 1.0)
    assert not config.train.reduce_lr and list(config.generate.prompts) == [""]
    # Trained until validation stops improving, with dropout (a fixed 10 epochs left it undertrained).
    assert (config.train.epochs, config.train.early_stopping, config.backbone.dropout) == (150, 10, 0.3)
    assert config.backbone.weight_dropout == 0.25 and config.backbone.layers == 1
    assert tasks.task_class(config.task).__name__ == "LanguageModelTask"
    assert recipes.resolve("lm-classic", [("train.epochs", "2")]).train.epochs == 2


def test_tag_en_reads_characters_through_a_cnn_and_asks_for_files():
    config = recipes.resolve("tag-en", [])
    assert config.task == "tag" and config.data.name is None and list(config.data.token_chars) == [1, 1]
    assert (config.backbone.char_cnn, list(config.data.ngrams), config.model.crf) == (50, [1], True)
    given = recipes.resolve("tag-en", [("data.train", "train.txt")])
    assert given.data.train == "train.txt" and given.data.name is None


def saved_run(root, task="classify", **keys):
    """A run folder as a killed run leaves it: config.yaml (the run's own keys), no metrics.json."""
    from omegaconf import OmegaConf

    config = recipes.resolve(task, list(keys.items()))
    run = root / task / "20260101-000000"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(OmegaConf.to_yaml(config))
    return run


def test_resume_continues_the_run_with_its_own_config(tmp_path, capsys):
    mine = tmp_path / "mine.csv"
    mine.write_text("text,label\na,x\nb,y\n")
    run = saved_run(tmp_path / "runs", **{"data.train": str(mine), "train.epochs": "7"})
    given = [("run.root", str(tmp_path / "runs")), ("resume", "true")]
    config = runs.continue_run("classify", recipes.resolve("classify", given), given)
    # README's line (tfseq-train task=classify resume=true) resumes on the user's file, not reviews-zh.
    assert (config.data.train, config.data.name, config.train.epochs) == (str(mine), None, 7)
    assert config.resume and config.run.dir == str(run)
    assert f"resume: continuing {run} with its config.yaml data.train={mine}" in capsys.readouterr().out
    # The same keys again are fine; another value is another run: refused, before any work.
    same = given + [("data.train", str(mine)), ("train.verbose", "0")]
    assert runs.continue_run("classify", recipes.resolve("classify", same), same).train.verbose == 0
    code = cli.train_main(["task=classify", f"run.root={tmp_path / 'runs'}", "resume=true", "train.epochs=3"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"resume=true continues {run} as it was started, with train.epochs=7; train.epochs=3 was given" in err
    assert f"train: {mine}" in (run / "config.yaml").read_text() and not (run / "metrics.json").exists()


def test_resume_refuses_a_complete_run_and_a_run_dir_holding_one(tmp_path, capsys):
    run = saved_run(tmp_path / "runs")
    (run / "metrics.json").write_text("{}")
    assert cli.train_main(["task=classify", f"run.dir={run}", "resume=true"]) == 2
    assert "is complete (it has metrics.json)" in capsys.readouterr().err
    # A new run never writes into a folder that holds one (its record would be rewritten).
    assert cli.train_main(["task=classify", f"run.dir={run}"]) == 2
    assert f"run.dir={run} holds a run already: resume=true continues it" in capsys.readouterr().err


def test_resume_without_an_unfinished_run(tmp_path, capsys):
    root = tmp_path / "runs"
    bare = [("run.root", str(root)), ("resume", "true")]
    with pytest.raises(cli.UsageError, match=r"no unfinished run of classify under .*runs; start a new run"):
        runs.continue_run("classify", recipes.resolve("classify", bare), bare)
    done = saved_run(root)
    (done / "metrics.json").write_text("{}")
    code = cli.train_main(["task=classify", f"run.root={root}", "resume=true"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"(the newest, {done}, is complete: see its metrics.json); start a new run without resume=true" in err
    # A command that describes its run (a job script rerun until it ends) starts it anew.
    described = bare + [("data.train", "mine.csv")]
    config = runs.continue_run("classify", recipes.resolve("classify", described), described)
    assert config.data.train == "mine.csv" and "starting anew" in capsys.readouterr().out


def test_a_run_begun_before_the_backbone_keys_moved_resumes_with_its_own_values(tmp_path):
    from omegaconf import OmegaConf

    run = saved_run(tmp_path / "runs", **{"backbone.units": "12", "backbone.cell": "lstm"})
    old = OmegaConf.load(run / "config.yaml")  # as session 24 wrote it: model.units, no backbone:
    for key in ("units", "cell"):
        old.model[key] = old.backbone[key]
    del old["backbone"]
    (run / "config.yaml").write_text(OmegaConf.to_yaml(old))
    given = [("run.root", str(tmp_path / "runs")), ("resume", "true")]
    config = runs.continue_run("classify", recipes.resolve("classify", given), given)
    assert (config.backbone.units, config.backbone.cell) == (12, "lstm") and "units" not in config.model


def test_predict_shows_each_answer_by_its_pattern_leaving_out_empty_later_lines():
    tagger = "{tagged}\n  {entities}"
    assert predict.shown(tagger, {"tagged": "John/B-PER", "entities": "John/PER"}) == "John/B-PER\n  John/PER"
    assert predict.shown(tagger, {"tagged": "ran/O", "entities": ""}) == "ran/O"  # no "  " line
    assert predict.shown(tagger, {"tagged": "", "entities": ""}) == ""  # an empty text: one empty line
    lm = "{text}{continuation}\n(perplexity of the text as a line: {perplexity:.3f})\n"
    # A continuation keeps its blank lines; the pattern's closing blank line separates answers.
    assert predict.shown(lm, {"text": "a", "continuation": "b\n\nc", "perplexity": 2.0}) == (
        "ab\n\nc\n(perplexity of the text as a line: 2.000)\n"
    )


def test_auto_values_live_in_data_once_and_defaults_in_yaml_only():
    """Each task's auto values are in its auto.yaml (tag's spaced words: tag-en.yaml), every key
    there is auto in its recipe, and no task module writes a recipe key with a value of its own;
    Python reads the recipe's defaults rather than restating them."""
    import re
    from pathlib import Path

    from omegaconf import OmegaConf

    from tfseq import tasks

    root = Path(tasks.__file__).parent
    tables = sorted(root.glob("*/auto.yaml"))
    assert {p.parent.name for p in tables} == {"classify", "tag", "lm", "seq2seq", "word2vec"}
    for table in tables:
        recipe = recipes.load_recipe(table.parent.name)
        for case, values in recipes.auto_values(table).items():
            for key, (value, reason) in values.items():
                if case != "rule":
                    assert str(OmegaConf.select(recipe, key)) == "auto", (table, case, key)
    literal = re.compile(r'"(data|backbone|model|train|generate)\.[a-z_]+":\s*[-\d\[\(TF]')
    # (the recipe keys that were read with a default of their own, four of them not the recipe's)
    restated = re.compile(
        r'(config|cfg|model|train)\.get\("(baseline|baseline_order|refit_experts|interpolate|dynamic|'
        r'distribute|label_separator|char_ngrams)"|select\((self\.)?config, "(run|export|train)\.'
        r'[a-z_.]*", default='
    )
    for module in [*root.glob("*/__init__.py"), *(root.parent / "tfseq").rglob("*.py")]:
        code = module.read_text(encoding="utf-8")
        if module.parent.parent == root:  # a task's code: its auto values are its auto.yaml's
            assert not literal.search(code), (module, literal.search(code).group(0))
        assert not restated.search(code), (module, restated.search(code).group(0))
