"""A seventh task, written and registered from this file alone, trains, exports and answers
raw text through ``tfseq-train`` and ``tfseq-predict`` (docs/adding-a-task.md)."""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfseq import cli, data, export, recipes, tasks
from tfseq.layers import GRU
from tfseq.train.task import Task

# Only the task's own keys: seed, resume, the other train.* keys, run.* and export.* come from
# tasks/base.yaml, as for every recipe.
RECIPE = """\
task: negation         # the registered task this recipe runs
data:
  sentences: 600       # how many sentences to make
backbone: null         # its own GRU (model.units), not a RecurrentBackbone
model:
  units: 16
train:
  epochs: 12
  batch_size: 32
  learning_rate: 0.02
  verbose: 0
"""


class Negation(Task):
    """Toy many-to-one task: is a sentence negated (does it hold "not")? A GRU over word ids."""

    WORDS = ["the", "film", "plot", "was", "is", "good", "fun", "long", "very", "a"]

    def sentences(self):
        rng = np.random.default_rng(int(self.config.seed))
        texts, labels = [], []
        for _ in range(int(self.config.data.sentences)):
            words = list(rng.choice(self.WORDS, size=rng.integers(2, 8)))
            negated = int(rng.integers(2))
            if negated:
                words.insert(int(rng.integers(len(words) + 1)), "not")
            texts.append(" ".join(words))
            labels.append(("plain", "negated")[negated])
        return texts, labels

    def prepare(self):
        texts, names = self.sentences()
        # Text <-> ids both ways: the vocabulary, labels -> ids, the prior, answers -> names.
        self.preprocessor = data.TextClassifierPreprocessor(
            data.TextVectorizer(split="word"), ["plain", "negated"], head="binary"
        ).adapt(texts[:400], names[:400])
        ids, labels = self.preprocessor.inputs(texts)["tokens"], self.preprocessor.targets(names).astype("float32")
        batch = int(self.config.train.batch_size)
        self.splits = {
            "train": (ids[:400], labels[:400]),
            "validation": (ids[400:500], labels[400:500]),
            "test": (ids[500:], labels[500:]),
        }
        self.pipelines = {
            name: tf.data.Dataset.from_tensor_slices(split).batch(batch) for name, split in self.splits.items()
        }
        self.train_data, self.validation_data = self.pipelines["train"], self.pipelines["validation"]

    def build_model(self):
        inputs = keras.Input((None,), dtype="int32")
        x = keras.layers.Embedding(self.preprocessor.tokenizer.vocabulary_size(), 8, mask_zero=True)(inputs)
        x = GRU(int(self.config.model.units))(x)
        return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))

    def compile_options(self):
        return {"loss": "binary_crossentropy", "metrics": ["accuracy"]}

    def evaluate(self):
        return {
            name: dict(zip(["loss", "accuracy"], self.model.evaluate(self.pipelines[name], verbose=0)))
            for name in ("validation", "test")
        }

    def serving(self):
        model = self.model

        def answer(module, text):
            pre = module.preprocessor
            ids, _ = export.at_least_one_step(pre(text))
            return pre.postprocess(pre.probabilities(model(ids["tokens"], training=False), ids["tokens"]))

        return export.Serving(
            answer,
            model.variables,
            self.preprocessor,
            show="{label}\t{confidence:.2f}\t{text}",
            columns=("label", "confidence"),
        )


@pytest.mark.slow
def test_a_task_registered_from_a_test_file_trains_exports_and_predicts(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tasks, "TASKS", dict(tasks.TASKS))
    monkeypatch.setattr(tasks, "RECIPES", dict(tasks.RECIPES))
    (tmp_path / "negation.yaml").write_text(RECIPE)
    tasks.register("negation", Negation, recipe=tmp_path / "negation.yaml")  # the one line

    assert "negation" in recipes.available_tasks()
    assert cli.train_main(["--help"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "data.sentences=600" in line]
    assert line.endswith("how many sentences to make")
    assert cli.train_main(["task=negation", "model.unit=4"]) == 2  # recipe keys are checked like any task's
    assert "did you mean model.units?" in capsys.readouterr().err

    code = cli.train_main(["task=negation", f"run.root={tmp_path / 'runs'}", f"export.dir={tmp_path / 'saved'}"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "test: loss=" in out and "exported: " in out
    (run,) = (tmp_path / "runs" / "negation").iterdir()
    assert {"config.yaml", "metrics.json", "model.keras", "learning_curves.png"} <= {p.name for p in run.iterdir()}
    assert export.metadata(tmp_path / "saved" / "negation")["task"] == "negation"

    assert (
        cli.predict_main([str(tmp_path / "saved" / "negation"), "the film was not good", "the film was good", ""]) == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines[:2]] == ["negated", "plain"]
    assert lines[2].startswith(("negated", "plain"))  # an empty text gets an answer too


def test_outside_its_folder_a_task_is_one_register_line():
    # The one-folder rule, for the tasks tfseq ships: the package's own code imports no task and
    # names no task's folder, the wheel finds every folder of tasks/ (setup.py), and the parse-time
    # checks know no task. A task that needs more than its folder and its line fails here.
    root = Path(__file__).resolve().parents[2]
    names = set(tasks.TASKS) | set(tasks.RECIPES)
    for path in sorted((root / "tfseq").rglob("*.py")):
        code = path.read_text(encoding="utf-8")
        for name in names:
            assert f"tfseq.tasks.{name}" not in code and f"tasks/{name}/" not in code, (path, name)
    for name in names:
        assert f"tfseq.tasks.{name}" not in (root / "pyproject.toml").read_text(), name
        for rules in (root / "tfseq" / "recipes").glob("*.py"):
            assert f'"{name}"' not in rules.read_text(), (rules, name)
    lines = [line for line in (root / "tasks" / "__init__.py").read_text().splitlines() if line.startswith("register(")]
    folders = {p.parent.name for p in (root / "tasks").glob("*/__init__.py")}
    assert len(lines) == len(folders) and all(any(f"tfseq.tasks.{f}:" in line for line in lines) for f in folders)
    setup = (root / "setup.py").read_text()
    assert 'find_packages("tasks")' in setup  # every folder ships, none named
