"""The classify recipe as shipped, on data in several languages: no overrides but the files.

    python benchmarks/classify_defaults.py [--datasets reviews-zh sst2 polarity debian-topics] [-- key=value ...]

Each dataset runs `tfseq-train task=classify data.train=<file> [data.validation=...]
[data.test=...]` and nothing else (the recipe's `auto` keys choose the split, n-grams and
truncation from the training text), and prints test accuracy beside the TF-IDF + logistic
regression bar fitted on the same split in the same run, with what `auto` chose. The default
must clear the bar on each. Data: reviews-zh (built in), SST-2 train -> GLUE dev and sentence
polarity from ../shared/data (see benchmarks/classify_data.py), and debian-topics: the one-line
descriptions of Debian packages in five archive sections (games, graphics, net, science, sound),
read from apt's package lists on this machine.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import classify_data
import runs
import yaml

NAMES = ("reviews-zh", "sst2", "polarity", "debian-topics")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(NAMES), choices=NAMES)
    parser.add_argument("--shared", type=Path, default=classify_data.SHARED)
    parser.add_argument("overrides", nargs="*", help="recipe overrides for every run, e.g. model.embeddings=null")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in args.datasets:
            run_dir = tmp / name
            files = (
                [] if name == "reviews-zh" else classify_data.overrides(name, tmp / "data", args.shared, recipe=False)
            )
            metrics = runs.train(run_dir, "task=classify", *files, *args.overrides)
            config = yaml.safe_load((run_dir / "config.yaml").read_text())
            chosen = {**config["data"], "embeddings": config["model"]["embeddings"]}
            rows.append((name, metrics, chosen))
    print(
        "\n| data | split, n-grams, max length, embeddings (auto) | tfseq test acc | TF-IDF + LR (same split) "
        "| margin | train s |"
    )
    print("|---|---|---|---|---|---|")
    for name, m, chosen in rows:
        base = m["baseline"]["test"]["accuracy"]
        print(
            f"| {name} | {chosen['split']}, {chosen['ngrams']}, {chosen['max_length']}, {chosen['embeddings']} "
            f"| {m['test']['accuracy']:.4f} "
            f"| {base:.4f} | {m['test']['accuracy'] - base:+.4f} | {m['train_seconds']:.0f} |"
        )


if __name__ == "__main__":
    main()
