"""The benchmark datasets as `tfseq-train task=classify` overrides: one table for every script.

- reviews-zh: the built-in split (content hash), character level (the recipe as shipped).
- sst2: ../shared/data/sst2 train.tsv -> dev.tsv (GLUE). GLUE's train file holds the 6.9k SST
  training sentences *and* all their sub-phrases (67k rows). Validation is 10% of the whole
  sentences (a row that is no other row's sub-phrase), chosen by content hash, and every
  sub-phrase of a validation sentence leaves train: model selection then sees sentences it has
  never seen a piece of, like the dev set (a random 10% of rows would score ~0.92 on phrases
  whose sentences are in train, and pick the wrong epoch and C).
- polarity: ../shared/data/rt-polarity (Pang & Lee sentence polarity, Latin-1). X = the .pos
  lines then the .neg lines; idx = list(range(len(X))); random.Random(0).shuffle(idx); the first
  10% of idx are the test set (issue 4's split); validation is carved from the rest by tfseq.

English sets are split into words with word bigrams, read by two recurrent layers, and the
bag-of-n-grams experts also see the words' character 2-5-grams; ``embeddings`` (``auto``, the recipe's:
GloVe for English words; ``null``; named vectors or a word2vec/GloVe file) the word embeddings.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NAMES = ("reviews-zh", "sst2", "polarity")

# Two recurrent layers: chosen on validation (SST-2 mean 0.8400 -> 0.8470, polarity 0.8054 -> 0.8132).
WORD_LEVEL = [
    "data.split=word",
    "data.ngrams=[1,2]",
    "data.max_length=100",
    "data.char_ngrams=[2,5]",
    "backbone.layers=2",
]


def _write_tsv(path: Path, rows) -> str:
    """TSV as tfseq reads it (no quoting, so quotes stay as they are)."""
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("text\tlabel\n")
        for text, label in rows:
            handle.write(f"{' '.join(text.split())}\t{label}\n")
    return str(path)


def sst2_files(shared: Path, folder: Path) -> list[str]:
    import csv

    import pandas as pd

    frame = pd.read_csv(shared / "sst2" / "train.tsv", sep="\t", quoting=csv.QUOTE_NONE, dtype={"label": str})
    rows = {" ".join(str(t).split()): label for t, label in zip(frame["sentence"], frame["label"])}
    # Whole sentences: rows that are no other row's contiguous sub-phrase.
    contained = set()
    for text in sorted(rows, key=len, reverse=True):
        if text in contained:
            continue  # its spans were marked by the row that contains it
        words = text.split()
        for i in range(len(words)):
            for j in range(i + 1, len(words) + 1):
                span = " ".join(words[i:j])
                if span != text and span in rows:
                    contained.add(span)
    sentences = [t for t in rows if t not in contained]
    held = {t for t in sentences if hashlib.sha1(t.encode()).digest()[0] < 26}  # ~10%
    pieces = set()
    for text in held:
        words = text.split()
        pieces.update(" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1))
    train = [(t, label) for t, label in rows.items() if t not in pieces]
    validation = [(t, rows[t]) for t in sorted(held)]
    test = pd.read_csv(shared / "sst2" / "dev.tsv", sep="\t", quoting=csv.QUOTE_NONE, dtype={"label": str})
    return [
        f"data.train={_write_tsv(folder / 'sst2-train.tsv', train)}",
        f"data.validation={_write_tsv(folder / 'sst2-validation.tsv', validation)}",
        f"data.test={_write_tsv(folder / 'sst2-dev.tsv', zip(test['sentence'], test['label']))}",
    ]


def polarity_files(shared: Path, folder: Path) -> list[str]:
    source = shared / "rt-polarity"
    pos = sorted(source.glob("*.pos"))[0].read_text(encoding="latin-1").splitlines()
    neg = sorted(source.glob("*.neg"))[0].read_text(encoding="latin-1").splitlines()
    texts, labels = pos + neg, ["positive"] * len(pos) + ["negative"] * len(neg)
    idx = list(range(len(texts)))
    random.Random(0).shuffle(idx)
    cut = len(idx) // 10
    return [
        f"data.train={_write_tsv(folder / 'polarity-train.tsv', ((texts[i], labels[i]) for i in idx[cut:]))}",
        f"data.test={_write_tsv(folder / 'polarity-test.tsv', ((texts[i], labels[i]) for i in idx[:cut]))}",
    ]


# Debian's package archive: each package's one-line description and its archive section. The
# package lists apt keeps (/var/lib/apt/lists, after apt-get update) hold them offline.
DEBIAN_SECTIONS = ("games", "graphics", "net", "science", "sound")


def debian_files(folder: Path, lists: Path = Path("/var/lib/apt/lists")) -> list[str]:
    """``debian-topics``: short English texts in five topics (packages' descriptions by section).

    Every distinct description of a package in one of :data:`DEBIAN_SECTIONS` (a description
    found in two sections is dropped); tfseq carves validation and test by content hash.
    """
    import subprocess

    found = sorted(lists.glob("*_main_binary-amd64_Packages*"))
    if not found:
        raise FileNotFoundError(f"no Debian package lists in {lists}: run apt-get update first")
    text = subprocess.run(
        ["/usr/lib/apt/apt-helper", "cat-file", str(found[0])], capture_output=True, text=True, check=True
    ).stdout
    sections: dict[str, set] = {}
    for stanza in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line[0].isspace())
        section = fields.get("Section", "").rsplit("/", 1)[-1]
        if section in DEBIAN_SECTIONS and fields.get("Description"):
            sections.setdefault(" ".join(fields["Description"].split()), set()).add(section)
    rows = [(description, next(iter(names))) for description, names in sorted(sections.items()) if len(names) == 1]
    folder.mkdir(parents=True, exist_ok=True)
    return [f"data.train={_write_tsv(folder / 'debian-topics.tsv', rows)}"]


def overrides(
    name: str, folder: Path, shared: Path = SHARED, embeddings: str = "auto", recipe: bool = True
) -> list[str]:
    """Recipe overrides for ``name``; files it needs are written into ``folder``. ``recipe``: also
    the benchmark's recipe overrides for English sets (WORD_LEVEL); without them, the files and
    nothing else (the shipped defaults)."""
    if name == "reviews-zh":
        return ["data=reviews-zh"]
    if name == "debian-topics":
        return debian_files(folder)
    if not shared.exists():
        raise FileNotFoundError(f"{name} needs {shared} (the shared datasets folder)")
    folder.mkdir(parents=True, exist_ok=True)
    found = sst2_files(shared, folder) if name == "sst2" else polarity_files(shared, folder)
    found += WORD_LEVEL if recipe else []
    if embeddings != "auto":  # the recipe's auto: GloVe for English words
        found.append(f"model.embeddings={embeddings or 'null'}")
    return found
