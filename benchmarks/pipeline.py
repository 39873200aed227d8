"""Padding waste of bucketed vs pad-to-longest batches (padded positions / real tokens - 1).

    python benchmarks/pipeline.py [--shared ../shared/data] [--batch-size 32]

Datasets: SST-2 train (word level, from ../shared/data/sst2) and reviews-zh train (character level).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tfseq import data  # noqa: E402
from tfseq.data.vectorize import lengths_of  # noqa: E402


def waste(texts, split, batch_size):
    import numpy as np

    vec = data.TextVectorizer(split=split)
    vec.adapt(texts)
    ids = vec(np.asarray(texts, dtype=object).astype(str))["tokens"].numpy()
    lengths = lengths_of(ids)
    labels = np.zeros(len(ids), "int32")
    rows = {}
    for name, boundaries in (("pad-to-longest", None), ("bucketed", data.bucket_boundaries(lengths))):
        ds = data.make_dataset({"tokens": ids}, labels, batch_size=batch_size, shuffle=True, boundaries=boundaries)
        padded, real = data.padding_ratio(ds)
        rows[name] = padded / real - 1
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    sets = [("reviews-zh", data.load("reviews-zh").train["text"].tolist(), "character")]
    sst = Path(args.shared) / "sst2" / "train.tsv"
    if sst.exists():
        sets.append(("SST-2", data.read_table(sst, "sentence", "label")["text"].tolist(), "word"))
    else:
        print(f"(SST-2 skipped: {sst} not found)")
    print(f"{'dataset':<12}{'pad-to-longest waste':>22}{'bucketed waste':>16}")
    for name, texts, split in sets:
        rows = waste(texts, split, args.batch_size)
        print(f"{name:<12}{rows['pad-to-longest']:>21.1%}{rows['bucketed']:>16.1%}")


if __name__ == "__main__":
    main()
