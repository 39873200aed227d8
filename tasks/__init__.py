"""The tasks: one folder each (its :class:`~tfseq.train.task.Task`, evaluation, baseline, export
answer and recipes), registered here in one line each. Installed with tfseq as ``tfseq.tasks``.

A task's recipes are the ``*.yaml`` files of its folder (``tfseq-train task=<file stem>``; its
``auto.yaml``, if any, holds the values of their ``auto`` keys instead); a
recipe names its task with ``task:`` and may start from another recipe with ``base:``; every
recipe starts from ``base.yaml``, the keys all tasks share. Nothing
here imports TensorFlow: ``tfseq-train --help`` and a bad command line answer at once.

Add a task from anywhere (a test, a notebook) with :func:`register`::

    register("parity", ParityTask, recipe="parity.yaml")
"""

from __future__ import annotations

import importlib.util
import inspect
from importlib import import_module
from pathlib import Path

BASE = Path(__file__).with_name("base.yaml")  # the keys every recipe shares (seed, train, run, export)
AUTO = "auto.yaml"  # in a task's folder: the values its recipes' auto keys take (tfseq.recipes.auto_values)
TASKS: dict[str, str | type] = {}  # task -> its Task subclass, or "module:Class" (imported on first use)
RECIPES: dict[str, Path] = {}  # recipe name (task=<name>) -> its YAML file


def register(name: str, task, recipe=None):
    """Make ``tfseq-train task=<name>`` run ``task`` (a :class:`~tfseq.train.task.Task` subclass,
    or ``"module:Class"``). ``recipe``: its YAML (whose ``task:`` is ``name``); default: every
    ``*.yaml`` in the folder of the task's module."""
    TASKS[name] = task
    if recipe is not None:
        RECIPES[Path(recipe).stem] = Path(recipe)
        return
    if isinstance(task, str):  # the module's file, found without running it
        folder = Path(importlib.util.find_spec(task.split(":")[0]).origin).parent
    else:
        folder = Path(inspect.getfile(task)).parent
    for path in sorted(folder.glob("*.yaml")):
        if path.name != AUTO:  # the values of the recipes' auto keys, not a recipe
            RECIPES[path.stem] = path


def task_class(name: str):
    """The Task subclass registered as ``name``."""
    task = TASKS[name]
    if isinstance(task, str):
        module, attribute = task.split(":")
        TASKS[name] = task = getattr(import_module(module), attribute)
    return task


register("classify", "tfseq.tasks.classify:ClassifyTask")  # many-to-one: text classification
register("tag", "tfseq.tasks.tag:TagTask")  # synchronous many-to-many: a tag per token
register("lm", "tfseq.tasks.lm:LanguageModelTask")  # next token: score and generate text
register("seq2seq", "tfseq.tasks.seq2seq:Seq2SeqTask")  # asynchronous many-to-many: teacher forcing
register("caption", "tfseq.tasks.caption:CaptionTask")  # one-to-many: image captioning
register("word2vec", "tfseq.tasks.word2vec:Word2VecTask")  # word vectors: skip-gram, CBOW
