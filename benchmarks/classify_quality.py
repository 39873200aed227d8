"""Classification quality on real held-out data, against published figures.

    python benchmarks/classify_quality.py [--datasets reviews-zh sst2 polarity] [-- key=value ...]

Each dataset runs `tfseq-train task=classify` (the recipe in tasks/classify.yaml plus the
dataset's overrides below and yours) and prints test accuracy beside the TF-IDF + logistic
regression baseline fitted on the same split in the same run, and the published figures.

- reviews-zh: the built-in split (content hash); bar: TF-IDF + LR.
- sst2: ../shared/data/sst2 train.tsv -> dev.tsv (GLUE; validation carved from train by
  content hash). Published: LSTM 0.849, BiLSTM + GloVe 0.875 (GLUE baselines).
- polarity: ../shared/data/rt-polarity (Pang & Lee sentence polarity, Latin-1). X = the .pos
  lines then the .neg lines; idx = list(range(len(X))); random.Random(0).shuffle(idx); the first
  10% of idx are the test set. Published: Kim (2014) CNN-rand 0.761, CNN-static 0.81.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

PUBLISHED = {
    "reviews-zh": "TF-IDF char 1-3 + LR 0.864 (issue 4)",
    "sst2": "LSTM 0.849, BiLSTM+GloVe 0.875",
    "polarity": "CNN-rand 0.761, CNN-static 0.81 (Kim 2014)",
}

# Per-dataset recipe overrides: English is split into words; character n-grams stay for Chinese.
WORD_LEVEL = ["data.split=word", "data.ngrams=[1,2]", "data.max_length=100"]


def polarity_files(shared: Path, folder: Path) -> list[str]:
    source = shared / "rt-polarity"
    pos = sorted(source.glob("*.pos"))[0].read_text(encoding="latin-1").splitlines()
    neg = sorted(source.glob("*.neg"))[0].read_text(encoding="latin-1").splitlines()
    texts, labels = pos + neg, ["positive"] * len(pos) + ["negative"] * len(neg)
    idx = list(range(len(texts)))
    random.Random(0).shuffle(idx)
    cut = len(idx) // 10
    for name, rows in (("test.tsv", idx[:cut]), ("train.tsv", idx[cut:])):
        with open(folder / name, "w", encoding="utf-8", newline="\n") as handle:
            handle.write("text\tlabel\n")  # TSV as tfseq reads it: no quoting, so quotes stay as they are
            for i in rows:
                handle.write(f"{' '.join(texts[i].split())}\t{labels[i]}\n")
    return ["data.name=null", f"data.train={folder / 'train.tsv'}", f"data.test={folder / 'test.tsv'}", *WORD_LEVEL]


def overrides_for(name: str, shared: Path, folder: Path) -> list[str]:
    if name == "reviews-zh":
        return ["data=reviews-zh"]
    if name == "sst2":
        return ["data.name=null", f"data.train={shared / 'sst2' / 'train.tsv'}",
                f"data.test={shared / 'sst2' / 'dev.tsv'}", "data.text=sentence", *WORD_LEVEL]
    return polarity_files(shared, folder)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["reviews-zh", "sst2", "polarity"],
                        choices=sorted(PUBLISHED))
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("overrides", nargs="*", help="extra recipe overrides, e.g. model.units=96")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in args.datasets:
            if name != "reviews-zh" and not args.shared.exists():
                print(f"({name} skipped: {args.shared} not found)")
                continue
            run_dir = tmp / name
            command = ["tfseq-train", "task=classify", "export.enabled=false", f"run.dir={run_dir}",
                       "train.verbose=2", *overrides_for(name, args.shared, tmp), *args.overrides]
            print("$", " ".join(command), flush=True)
            subprocess.run([sys.executable, "-m", "tfseq.cli", *command[1:]], check=True)
            metrics = json.loads((run_dir / "metrics.json").read_text())
            rows.append((name, metrics, command))
    print("\n| data | tfseq test acc | macro F1 | TF-IDF+LR (same run) | train s | published |")
    print("|---|---|---|---|---|---|")
    for name, m, _ in rows:
        base = m.get("baseline", {}).get("test", {}).get("accuracy", float("nan"))
        print(f"| {name} | {m['test']['accuracy']:.4f} | {m['test']['macro_f1']:.4f} | {base:.4f} "
              f"| {m['train_seconds']:.0f} | {PUBLISHED[name]} |")


if __name__ == "__main__":
    main()
