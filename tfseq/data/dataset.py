"""The one shape every data source returns: named splits of a pandas DataFrame, plus a card."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pandas as pd

SPLITS = ("train", "validation", "test")

# Columns each kind of task reads.
COLUMNS = {
    "classification": ("text", "label"),
    "tagging": ("tokens", "tags"),
    "language-model": ("text",),
    "seq2seq": ("source", "target"),
    "captioning": ("image", "caption"),
}


def label_set(value) -> tuple:
    """A classification label cell as a tuple of labels: multi-label cells already are tuples,
    a single label is a set of one."""
    return value if isinstance(value, tuple) else (value,)


class DataError(ValueError):
    """Bad input data; the message names the file, line and field and what was expected."""


def content_bucket(key: str) -> int:
    """A stable bucket 0..9 from the text itself (not its position in a file)."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % 10


def split_of(key: str) -> str:
    """bucket 0 -> test, 1 -> validation, 2..9 -> train: an 80/10/10 split by content."""
    bucket = content_bucket(key)
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


def split_by_content(frame: pd.DataFrame, key: str) -> dict[str, pd.DataFrame]:
    """Split rows by hashing ``frame[key]``; rows with the same key always share a split."""
    names = frame[key].map(lambda value: split_of(str(value)))
    return {s: frame[names == s].reset_index(drop=True) for s in SPLITS}


@dataclass
class Dataset:
    """Named splits of one dataset.

    Attributes:
        name: what the user asked for (``reviews-zh``, ``tfds:imdb_reviews``, a file path).
        kind: one of ``COLUMNS``'s keys; fixes the columns of every split.
        splits: ``{"train": DataFrame, "validation": DataFrame, "test": DataFrame}``.
        card: source, license, description: what :func:`tfseq.data.describe` prints.
    """

    name: str
    kind: str
    splits: dict[str, pd.DataFrame]
    card: dict = field(default_factory=dict)

    def __post_init__(self):
        missing = [s for s in SPLITS if s not in self.splits]
        if missing:
            raise DataError(f"dataset {self.name!r} lacks split(s) {missing}")
        for split, frame in self.splits.items():
            absent = [c for c in COLUMNS[self.kind] if c not in frame.columns]
            if absent:
                raise DataError(f"dataset {self.name!r} split {split!r} lacks column(s) {absent}")

    @property
    def train(self) -> pd.DataFrame:
        return self.splits["train"]

    @property
    def validation(self) -> pd.DataFrame:
        return self.splits["validation"]

    @property
    def test(self) -> pd.DataFrame:
        return self.splits["test"]

    @property
    def multilabel(self) -> bool:
        """Classification whose label cells are tuples of labels (any number per text)."""
        return self.kind == "classification" and any(isinstance(v, tuple) for v in self.train["label"])

    @property
    def labels(self) -> list[str]:
        """Sorted label (or tag) inventory of the training split."""
        if self.multilabel:
            return sorted({label for labels in self.train["label"] for label in label_set(labels)})
        if self.kind == "classification":
            return sorted({str(v) for v in self.train["label"]})
        if self.kind == "tagging":
            return sorted({t for tags in self.train["tags"] for t in tags})
        return []

    def sizes(self) -> dict[str, int]:
        return {s: len(f) for s, f in self.splits.items()}

    def describe(self) -> dict:
        """The dataset's card with sizes and label inventory filled in."""
        card = {"name": self.name, "kind": self.kind, **self.card, "splits": self.sizes()}
        if self.kind == "classification":
            labels = self.train["label"].explode().dropna() if self.multilabel else self.train["label"]
            counts = labels.astype(str).value_counts().sort_index()
            card["labels"] = {str(k): int(v) for k, v in counts.items()}
        elif self.kind == "tagging":
            card["tags"] = self.labels
            card["tokens"] = {s: int(f["tokens"].map(len).sum()) for s, f in self.splits.items()}
        return card
