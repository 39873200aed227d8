"""The default classify recipe against its printed bar over K folds: is the margin real?

    python benchmarks/classify_folds.py --datasets debian-topics polarity [--folds 5] [-- key=value ...]

One held-out test split of a few hundred texts cannot tell a margin of a few texts from noise
(the standard error of an accuracy near 0.9 on 570 texts is 1.2 points). Here each text is
tested once: the data (one file, the benchmark's train + validation + test pooled) is cut into
K folds by a hash of the text, and fold k is the test file of run k, the other folds its
training file (validation carved from it, as a user's run carves it). Each run is the files-only
command, `tfseq-train task=classify data.train=<rest> data.test=<fold>`, and prints its bar, so
the margin is paired: the same texts score both. The summary is the pooled accuracy of each and
the mean margin with its standard error over folds.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import tempfile
from pathlib import Path

import classify_data
import pandas as pd
import runs

NAMES = ("sst2", "polarity", "debian-topics")


def pooled(name: str, folder: Path, shared: Path) -> pd.DataFrame:
    """The benchmark's splits of ``name`` as one table (text, label), duplicates dropped."""
    files = classify_data.overrides(name, folder, shared, recipe=False)
    tables = [
        pd.read_csv(f.split("=", 1)[1], sep="\t", keep_default_na=False, quoting=3)
        for f in files
        if f.split("=", 1)[0] in ("data.train", "data.validation", "data.test")
    ]
    return pd.concat(tables).drop_duplicates("text").reset_index(drop=True)


def fold_of(text: str, folds: int) -> int:
    # Salted: tfseq carves validation by an unsalted hash of the text, which folds must not align with.
    return int(hashlib.sha1(f"fold:{text}".encode("utf-8")).hexdigest()[:8], 16) % folds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["debian-topics"], choices=NAMES)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--shared", type=Path, default=classify_data.SHARED)
    parser.add_argument("overrides", nargs="*", help="keys after --, given to every run")
    args = parser.parse_args()
    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in args.datasets:
            table = pooled(name, tmp / name / "data", args.shared)
            fold = table["text"].map(lambda t: fold_of(t, args.folds))
            rows = []
            for k in range(args.folds):
                train, test = tmp / name / f"train-{k}.tsv", tmp / name / f"test-{k}.tsv"
                table[fold != k].to_csv(train, sep="\t", index=False)
                table[fold == k].to_csv(test, sep="\t", index=False)
                m = runs.train(
                    tmp / name / f"run-{k}",
                    "task=classify",
                    f"data.train={train}",
                    f"data.test={test}",
                    *args.overrides,
                )
                rows.append(
                    (
                        k,
                        int((fold == k).sum()),
                        m["test"]["accuracy"],
                        m["baseline"]["test"]["accuracy"],
                        m["validation"]["accuracy"],
                        m["train_seconds"],
                    )
                )
            print(f"\n{name}: {len(table)} texts, {args.folds} folds")
            print("| fold | test texts | tfseq test acc | bar test acc | margin | tfseq val acc | train s |")
            print("|---|---|---|---|---|---|---|")
            for k, n, mine, bar, val, seconds in rows:
                print(f"| {k} | {n} | {mine:.4f} | {bar:.4f} | {mine - bar:+.4f} | {val:.4f} | {seconds:.0f} |")
            margins = [mine - bar for _, _, mine, bar, _, _ in rows]
            mean = sum(margins) / len(margins)
            se = math.sqrt(sum((m - mean) ** 2 for m in margins) / (len(margins) - 1) / len(margins))
            total = sum(n for _, n, *_ in rows)
            pooled_mine = sum(n * mine for _, n, mine, *_ in rows) / total
            pooled_bar = sum(n * bar for _, n, _, bar, *_ in rows) / total
            summary.append((name, pooled_mine, pooled_bar, mean, se, sum(m > 0 for m in margins), len(margins)))
    print("\n| data | tfseq (all texts) | bar (all texts) | mean margin +- s.e. | folds won |")
    print("|---|---|---|---|---|")
    for name, mine, bar, mean, se, won, k in summary:
        print(f"| {name} | {mine:.4f} | {bar:.4f} | {mean:+.4f} +- {se:.4f} | {won} / {k} |")


if __name__ == "__main__":
    main()
