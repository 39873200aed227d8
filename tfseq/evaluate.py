"""``tfseq-evaluate EXPORT FILE``: score an export on a labelled file in its training format.

The file is read as training reads it (a table with a text and a label column; CoNLL columns;
``source<TAB>target`` pairs; plain text; a folder of images and their captions) and scored with
the metrics the training run printed for its test split, by the same functions, through the
export's own answers (and, where training scores something the answer does not hold, a function
the export carries for it: a tagger's ``tag_tokens``, a seq2seq model's ``target_tokens``, a
language model's ``stream_log_probabilities``). On the run's own test file the figures are the
run's test scores (the training losses aside, which need the training graph).
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import numpy as np

from tfseq.console import UsageError, one_line, start_tensorflow

DESCRIPTION = """\
Score an export (a SavedModel, or its folder of versions, whose newest is used) on a labelled file
in the format its task trains on, with the metrics its training run printed:

  classify   CSV/TSV/JSON lines with a text and a label column    accuracy, macro F1, the report
  tag        CoNLL columns (CoNLL-U too)                           accuracy; chunk/entity F1 per type
  lm         plain text, one line per line                         perplexity, bits per token
  seq2seq    source<TAB>target per line                            exact match, token error rate, BLEU
  caption    a captions CSV (image,caption) with --images FOLDER   exact match, word error rate, BLEU

On the file a run was tested on, the figures are that run's test scores."""

BATCH = 256


def parser():
    import argparse

    parser = argparse.ArgumentParser(
        prog="tfseq-evaluate", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("export", help="a SavedModel export, or its folder of versions (saved_models/<name>)")
    parser.add_argument("file", help="the labelled file, in the task's training format")
    parser.add_argument("--text", default="text", help="classify: the text column (default: text)")
    parser.add_argument("--label", default="label", help="classify: the label column (default: label)")
    parser.add_argument("--label-separator", help="classify, multi-label tables: the separator of a cell's labels")
    parser.add_argument(
        "--tag-column",
        default="-1",
        help="tag: the tag's column, counting from 0 (-1: the last), or a CoNLL-U column's name (upos)",
    )
    parser.add_argument("--images", help="caption: the folder of the images the captions file names")
    parser.add_argument("--output", help="also write the scores to this .json file")
    parser.add_argument("--overwrite", action="store_true", help="replace an --output file that exists")
    parser.add_argument("--verbose", action="store_true", help="keep TensorFlow's start-up log lines")
    return parser


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        from tfseq.export import latest_version
        from tfseq.predict import export_metadata

        if args.output:
            output = Path(args.output)
            if output.suffix.lower() != ".json" or output.is_dir():
                raise UsageError(f"--output {output}: expected a file ending in .json")
            if output.exists() and not args.overwrite:
                raise UsageError(f"--output {output} exists; pass --overwrite to replace it, or name another file")
        folder = latest_version(args.export)
        if (folder / "model.tflite").exists():
            raise UsageError(
                f"{folder} is a TFLite export: evaluate its SavedModel (saved_models/<name>), which answers the same"
            )
        declared = export_metadata(folder)
        name, task = task_of(declared, folder)
        options = {key: getattr(args, key) for key in ("text", "label", "label_separator", "tag_column", "images")}
        examples = task.evaluation_data(Path(args.file), options)
        if examples is None:
            raise UsageError(f"{folder}: task {name} has no evaluation of its exports")
    except (UsageError, FileNotFoundError, ValueError) as error:  # DataError is a ValueError
        print(f"tfseq-evaluate: error: {one_line(error)}", file=sys.stderr)
        return 2
    start_tensorflow(args.verbose)
    try:
        loaded = load(folder, declared)
        result = task.score_export(loaded, examples, declared)
    except (UsageError, OSError, ValueError) as error:
        print(f"tfseq-evaluate: error: {one_line(error)}", file=sys.stderr)
        return 2
    show(result, args.file)
    if args.output:
        from tfseq.atomic import atomic_write

        payload = {"export": str(folder), "file": str(args.file), "task": name, **result}
        atomic_write(args.output, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote the scores to {args.output}")
    return 0


def task_of(declared: dict, folder):
    """``(name, task class)`` of the task an export was trained by, as its ``tfseq.json`` says (exports before tfseq
    0.2 by what they answer), if it evaluates exports."""
    from tfseq import tasks

    name = declared.get("task") or declared.get("identity", {}).get("task")
    if name is None:
        name = (
            "classify"
            if "labels" in declared
            else "tag"
            if "tags" in declared
            else "caption"
            if declared.get("inputs") == ["image"]
            else None
        )
    if name not in tasks.TASKS:
        raise UsageError(f"{folder}: cannot tell which task trained this export (its tfseq.json says {name!r})")
    return name, tasks.task_class(name)


def load(folder, declared):
    import importlib

    import tensorflow as tf

    from tfseq.predict import damaged

    for module in declared.get("requires", []):
        importlib.import_module(module)
    try:
        return tf.saved_model.load(str(folder))
    except Exception as error:  # a damaged export: one line
        raise damaged(folder, error) from None


def needs(loaded, name: str) -> None:
    """Refuse an export without the function ``name`` (one written before tfseq 0.2)."""
    if name not in loaded.signatures:
        raise UsageError(f"this export has no {name} (written before tfseq 0.2): export the model again to evaluate it")


# -- what the tasks' scorers share ---------------------------------------------------------------
def in_batches(function, values, key="text"):
    """``function(**{key: batch})``'s outputs over ``values`` in batches, as NumPy arrays."""
    import tensorflow as tf

    parts = collections.defaultdict(list)
    for start in range(0, len(values), BATCH):
        chunk = values[start : start + BATCH]
        out = function(**{key: tf.constant(chunk)})
        for name, value in out.items():
            parts[name].append(value.numpy())
    width = {name: max(p.shape[1] for p in pieces) if pieces[0].ndim > 1 else None for name, pieces in parts.items()}
    return {
        name: np.concatenate(
            [
                np.pad(
                    p,
                    [(0, 0), (0, width[name] - p.shape[1])] + [(0, 0)] * (p.ndim - 2),
                    constant_values=b"" if p.dtype.kind in "OS" else 0,
                )
                if width[name]
                else p
                for p in pieces
            ]
        )
        for name, pieces in parts.items()
    }


def joiner(split: str):
    """How a target split's tokens join back into text (:meth:`TextVectorizer.join`)."""
    from tfseq.data.vectorize import MARKED, SPACE_MARK

    if split == "character":
        return "".join
    if split in MARKED:
        return lambda tokens: "".join(tokens).replace(SPACE_MARK, " ").strip()
    return " ".join


def token_rows(loaded, texts, key) -> list[list[str]]:
    """Target texts split by an export's ``target_tokens`` (``key``: ``tokens``, cut at its
    ``max_length`` as references are; ``all_tokens``, as outputs are)."""
    rows = in_batches(loaded.signatures["target_tokens"], list(texts))[key]
    return [[token.decode("utf-8") for token in row if token] for row in rows]


def show(result: dict, file) -> None:
    test = result["test"]
    print(f"{file}: {result['examples']} examples")
    print("test: " + ", ".join(f"{k}={v}" if isinstance(v, int) else f"{k}={v:.4f}" for k, v in test.items()))
    for kind, row in result.get("per_type", {}).items():
        print(
            f"test {kind}: precision {row['precision']:.4f} recall {row['recall']:.4f} F1 {row['f1']:.4f} "
            f"({row['support']} in the reference)"
        )
    if "report" in result:
        print(result["report"].rstrip())
