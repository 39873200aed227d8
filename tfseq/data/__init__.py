"""The data layer: built-in offline corpora, users' files, TFDS, vectorizers, tf.data pipelines.

>>> from tfseq import data
>>> ds = data.load("reviews-zh")
>>> ds.train.head()          # pandas: text, label
>>> data.describe("reviews-zh")
"""

from __future__ import annotations

import importlib
from pathlib import Path

from tfseq.data.builtin import BUILTIN
from tfseq.data.dataset import DataError, Dataset, label_set, split_of
from tfseq.data.files import (
    is_conllu,
    read_conll,
    read_image_captions,
    read_parallel,
    read_plain_text,
    read_table,
)

# Imported on first use (they import TensorFlow and Keras, seconds of start-up that listing or
# reading data does not need): name -> module of tfseq.data.
_LAZY = {
    **dict.fromkeys(
        [
            "Epochs",
            "bucket_boundaries",
            "epoch_seed",
            "even_first_batch",
            "make_dataset",
            "padding_ratio",
            "shuffled_epochs",
        ],
        "pipeline",
    ),
    **dict.fromkeys(
        [
            "CausalLMPreprocessor",
            "Preprocessor",
            "Seq2SeqPreprocessor",
            "TextClassifierPreprocessor",
            "TokenTaggerPreprocessor",
        ],
        "preprocessors",
    ),
    "load_tfds": "tfds_source",
    "TextVectorizer": "vectorize",
}

__all__ = [
    "BUILTIN",
    "DataError",
    "Dataset",
    "describe",
    "label_set",
    "load",
    "load_files",
    "read_conll",
    "read_image_captions",
    "read_parallel",
    "read_plain_text",
    "read_table",
    *_LAZY,
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


READERS = {
    "classification": lambda path, opts: read_table(
        path, opts.get("text", "text"), opts.get("label", "label"), opts.get("label_separator")
    ),
    "tagging": lambda path, opts: read_conll(path, tag_column=opts.get("tag_column", -1)),
    "seq2seq": lambda path, opts: read_parallel(path),
    "language-model": lambda path, opts: read_plain_text(path),
}


def load(name: str | None = None, kind: str = "classification", **options) -> Dataset:
    """Load a dataset by name (built-in or ``tfds:<name>``) or from files.

    Args:
        name: a built-in name (see :data:`BUILTIN`), ``"tfds:<name>"``, or ``None`` for files.
        kind: the task kind of users' files (``classification``, ``tagging``, ``seq2seq``,
            ``language-model``).
        options: ``train=``, ``validation=``, ``test=`` file paths; ``text=``/``label=`` column
            names for tables; ``tag_column=`` for CoNLL; ``data_dir=`` for TFDS.
    """
    files = [split for split in ("train", "validation", "test") if options.get(split)]
    if name and files:
        raise DataError(
            f"dataset {name!r} and data.{files[0]}={options[files[0]]} were both given: use the "
            f"built-in dataset or your files, not both (name=None to use the files)"
        )
    if name and name.startswith("tfds:"):
        from tfseq.data.tfds_source import load_tfds

        return load_tfds(name[5:], data_dir=options.get("data_dir"))
    if name:
        if name not in BUILTIN:
            raise DataError(
                f"unknown dataset {name!r}: built-in datasets are {sorted(BUILTIN)}; use "
                f"'tfds:<name>' for TensorFlow Datasets or data.train=<file> for your own files"
            )
        return BUILTIN[name]()
    return load_files(kind=kind, **options)


def load_files(kind="classification", train=None, validation=None, test=None, **options) -> Dataset:
    """Users' files; a missing validation or test split is carved from train by content hash
    (plain text for language models: the last 10% of its lines, test after validation)."""
    if not train:
        raise DataError("no training data: set data=<name> or data.train=<file>")
    if kind not in READERS:
        raise DataError(f"files of kind {kind!r} are not supported; kinds: {sorted(READERS)}")
    read = READERS[kind]
    frames = {"train": read(train, options)}
    if kind == "tagging":
        tags = {tag for row in frames["train"]["tags"] for tag in row}
        if len(tags) < 2:
            column = options.get("tag_column", -1)
            conllu = is_conllu(Path(train).read_text(encoding="utf-8", errors="replace").split("\n")[:200])
            raise DataError(
                f"{train}: every token is tagged {sorted(tags)[0]!r} in column {column} "
                f"(data.tag_column; -1: the last), so a tagger has nothing to learn; choose the "
                f"column that holds the tags with data.tag_column=<number, counting from 0>"
                + (" or, in this CoNLL-U file, its name (data.tag_column=upos)" if conllu else "")
            )
    for split, path in (("validation", validation), ("test", test)):
        if path:
            frames[split] = read(path, options)
    key = {"classification": "text", "tagging": "tokens", "seq2seq": "source", "language-model": "text"}[kind]
    carved_how = "10% by content hash"
    if kind == "language-model" and len(frames) < 3:
        # Text order matters to a language model (a hash split would scatter the lines of one
        # passage over all splits): a missing split is the last 10% of the training lines.
        carved_how = "a tail block of 10% of the lines"
        rows = len(frames["train"])
        missing = [split for split in ("test", "validation") if split not in frames]
        for index, split in enumerate(missing):
            start, end = rows - (index + 1) * rows // 10, rows - index * rows // 10
            frames[split] = frames["train"].iloc[start:end].reset_index(drop=True)
        frames["train"] = frames["train"].iloc[: rows - len(missing) * rows // 10].reset_index(drop=True)
    if len(frames) < 3:
        names = frames["train"][key].map(lambda v: split_of(" ".join(v) if isinstance(v, list) else str(v)))
        carved = {"validation": names == "validation", "test": names == "test"}
        taken = None
        for split in ("validation", "test"):
            if split not in frames:
                frames[split] = frames["train"][carved[split]].reset_index(drop=True)
                taken = carved[split] if taken is None else taken | carved[split]
        frames["train"] = frames["train"][~taken].reset_index(drop=True)
    notes = []
    if kind == "classification":
        notes = _keep_rare_labels_in_train(
            frames, [s for s, p in (("validation", validation), ("test", test)) if not p]
        )
    sources = {
        "train": train,
        "validation": validation or f"{train} ({carved_how})",
        "test": test or f"{train} ({carved_how})",
    }
    card = {"source": {s: str(p) for s, p in sources.items()}, **({"notes": notes} if notes else {})}
    dataset = Dataset(str(Path(train).name), kind, frames, card)
    if kind == "classification":
        _check_labels(dataset, train, validation, test, options.get("label", "label"))
    for split, path, use in (
        ("validation", validation, "chooses its best epoch and settings on it"),
        ("test", test, "is scored on it"),
    ):
        if len(frames[split]):
            continue
        if path:
            why = "the file has no rows"
        else:
            why = f"{carved_how} of the training rows left none"
            if notes:
                why += " once the texts of labels found nowhere else went back to train"
            if len(frames["train"]) >= 100 and carved_how.startswith("10%"):
                why += (
                    f" of {len(frames['train'])} rows: the file looks already cut by this hash, as the "
                    f"training part of a split tfseq carved is"
                )
        raise DataError(
            f"{path or train}: the {split} split is empty ({why}); a run {use}: give data.{split}=<file> or more rows"
        )
    return dataset


def _keep_rare_labels_in_train(frames, carved) -> list[str]:
    """A label whose every text the hash carved into validation or test would be a class the
    model never learns (and a target it cannot score): those texts go back to train. Returns
    what was moved, as notes for the run's log."""
    import pandas as pd

    moved = {}
    for split in carved:
        known = {label for value in frames["train"]["label"] for label in label_set(value)}
        back = frames[split]["label"].map(lambda value: not set(label_set(value)) <= known)
        if back.any():
            for value in frames[split]["label"][back]:
                for label in set(label_set(value)) - known:
                    moved[label] = moved.get(label, 0) + 1
            frames["train"] = pd.concat([frames["train"], frames[split][back]], ignore_index=True)
            frames[split] = frames[split][~back].reset_index(drop=True)
    if not moved:
        return []
    shown = ", ".join(f"{label!r} ({n})" for label, n in sorted(moved.items(), key=lambda kv: (-kv[1], str(kv[0])))[:5])
    return [
        f"{sum(moved.values())} texts of {len(moved)} label(s) that only the carved {' and '.join(carved)} held "
        f"({shown}{', ...' if len(moved) > 5 else ''}) went back to train, so every label is learnt"
    ]


def _check_labels(dataset, train, validation, test, label_column):
    known = dataset.labels
    if len(known) < (1 if dataset.multilabel else 2):
        raise DataError(
            f"{train}: field {label_column!r} has "
            + (f"a single class {known}; a classifier needs at least two" if known else "no labels at all")
        )
    for split, path in (("validation", validation), ("test", test)):
        if not path:
            continue
        labels, inventory = dataset.splits[split]["label"], set(known)
        unseen = labels.map(lambda value: not set(label_set(value)) <= inventory)
        if unseen.any():
            row = int(unseen.to_numpy().nonzero()[0][0])
            line = row + (1 if str(path).endswith((".jsonl", ".json")) else 2)
            raise DataError(
                f"{path}:{line}: field {label_column!r} has label "
                f"{labels.iloc[row]!r}, never seen in training (known: {known})"
            )


def describe(name: str, **options) -> dict:
    """The card of a dataset: source, license, sizes, split sizes, label or tag inventory."""
    return load(name, **options).describe()
