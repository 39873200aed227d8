"""Classification quality on real held-out data, against published figures.

    python benchmarks/classify_quality.py [--datasets reviews-zh sst2 polarity] [--embeddings auto|none|FILE]
                                          [-- key=value ...]

Each dataset runs `tfseq-train task=classify` (the recipe in tasks/classify/classify.yaml plus the
dataset's overrides in benchmarks/classify_data.py and yours) and prints test accuracy beside the
TF-IDF + logistic regression baseline fitted on the same split in the same run, and published
figures: reviews-zh, TF-IDF + LR (issue 4); SST-2 (GLUE dev), LSTM 0.849 and BiLSTM + GloVe
0.875 (Tai et al. 2015); sentence polarity (issue 4's 10% test split), Kim (2014) CNN-rand
0.761 and CNN-static (word2vec) 0.81. English words take GloVe 6B 100-d by default (the recipe's
``model.embeddings: auto``); ``--embeddings none`` trains without.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import classify_data
import runs

PUBLISHED = {
    "reviews-zh": "TF-IDF char 1-3 + LR 0.864 (issue 4)",
    "sst2": "LSTM 0.849, BiLSTM+GloVe 0.875 (Tai et al. 2015)",
    "polarity": "CNN-rand 0.761, CNN-static 0.81 (Kim 2014)",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["reviews-zh", "sst2", "polarity"], choices=sorted(PUBLISHED))
    parser.add_argument("--shared", type=Path, default=classify_data.SHARED)
    parser.add_argument(
        "--embeddings",
        default="auto",
        help="English word vectors: auto (the recipe's: GloVe 6B 100-d for English words), none, glove-6b-100d or a word2vec/GloVe file",
    )
    parser.add_argument("overrides", nargs="*", help="extra recipe overrides, e.g. backbone.units=96")
    args = parser.parse_args()
    vectors = {"none": None, "glove": "glove-6b-100d"}.get(args.embeddings, args.embeddings)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in args.datasets:
            if name != "reviews-zh" and not args.shared.exists():
                print(f"({name} skipped: {args.shared} not found)")
                continue
            run_dir = tmp / name
            dataset = classify_data.overrides(name, tmp / "data", args.shared, embeddings=vectors)
            rows.append((name, runs.train(run_dir, "task=classify", *dataset, *args.overrides)))
    print("\n| data | tfseq test acc | macro F1 | val acc | TF-IDF+LR (same run) | train s | published |")
    print("|---|---|---|---|---|---|---|")
    for name, m in rows:
        base = m.get("baseline", {}).get("test", {}).get("accuracy", float("nan"))
        val = m.get("validation", {}).get("accuracy", float("nan"))
        print(
            f"| {name} | {m['test']['accuracy']:.4f} | {m['test']['macro_f1']:.4f} | {val:.4f} | {base:.4f} "
            f"| {m['train_seconds']:.0f} | {PUBLISHED[name]} |"
        )


if __name__ == "__main__":
    main()
