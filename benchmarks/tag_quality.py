"""Tagging quality on real held-out data, against published figures.

    python benchmarks/tag_quality.py [--datasets conll2000 pos-zh seg-zh] [--embeddings auto|none|FILE] [-- key=value ...]
    python benchmarks/tag_quality.py --files eng.train eng.testa eng.testb [--embeddings auto|none|FILE]

Each dataset runs `tfseq-train task=tag` (tasks/tag/tag.yaml, whose auto keys take
tasks/tag/tag-en.yaml's values for English words) with the dataset's files and your overrides,
the files and nothing else by default, as a user would, and prints the test scores
beside the most-frequent-tag baseline fitted on the same split in the same run:
- conll2000: CoNLL-2000 chunking (../shared/data/conll2000, train.txt -> test.txt), chunk F1.
  Published: the shared task's baseline (each part-of-speech tag's most frequent chunk tag) 77.07;
  Huang, Xu and Yu (2015) BiLSTM-CRF 94.46 (Senna embeddings, spelling and context features).
  tfseq reads the words only (column 1), not the part-of-speech column.
- pos-zh: People's Daily part-of-speech tags (built in), token accuracy.
- seg-zh: People's Daily word segmentation as B/M/E/S character tags (built in), word F1.
  Published (other splits of the same newspaper): SIGHAN 2005 PKU closed track, best F1 95.0.
- ``--files TRAIN [VALIDATION] TEST``: English CoNLL column files of your own (CoNLL-2003 NER:
  ``eng.train eng.testa eng.testb``; the tag is the last column); chunk (entity) F1, IOB1 or
  IOB2, and each entity type's in the run's metrics.json (``per_type``).
English words take GloVe 6B 100-d by default (the recipe's ``model.embeddings: auto``);
``--embeddings none`` trains without.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import runs

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PUBLISHED = {
    "conll2000": "F1: POS-tag baseline 77.07, BiLSTM-CRF 94.46 (Huang et al. 2015)",
    "pos-zh": "(no published figure for this split)",
    "seg-zh": "word F1: SIGHAN 2005 PKU closed track best 95.0 (other split)",
}


def overrides(name: str, shared: Path, embeddings: str | None = "auto", files=()) -> list[str]:
    """The recipe and data of dataset ``name`` (``files``: your own), as tfseq-train arguments."""
    if name in ("pos-zh", "seg-zh"):
        return ["task=tag", f"data.name={name}"]
    if name == "conll2000":
        files = shared / "conll2000" / "train.txt", shared / "conll2000" / "test.txt"
    splits = ("train", "validation", "test") if len(files) == 3 else ("train", "test")
    return [
        "task=tag",
        *(f"data.{split}={Path(f).resolve()}" for split, f in zip(splits, files)),
        *([f"model.embeddings={embeddings or 'null'}"] if embeddings != "auto" else []),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["conll2000"], choices=sorted(PUBLISHED))
    parser.add_argument(
        "--files",
        nargs="+",
        metavar="FILE",
        default=(),
        help="your CoNLL files: TRAIN [VALIDATION] TEST (instead of --datasets)",
    )
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument(
        "--embeddings",
        default="auto",
        help="English word vectors: auto (the recipe's: GloVe 6B 100-d for English words), none, glove-6b-100d or a word2vec/GloVe file",
    )
    parser.add_argument("overrides", nargs="*", help="extra recipe overrides, e.g. backbone.units=200")
    args = parser.parse_args()
    if args.files:
        if len(args.files) not in (2, 3) or not all(Path(f).is_file() for f in args.files):
            parser.error(f"--files takes TRAIN [VALIDATION] TEST, existing CoNLL files; got {args.files}")
        args.datasets = ["files"]
        PUBLISHED["files"] = (
            "CoNLL-2003 English NER F1, LSTM-CRF (Lample et al. 2016): 83.63 random embeddings, "
            "90.94 pretrained + characters + dropout"
        )
    vectors = {"none": None, "glove": "glove-6b-100d"}.get(args.embeddings, args.embeddings)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets:
            if name == "conll2000" and not (args.shared / "conll2000").exists():
                print(f"({name} skipped: {args.shared / 'conll2000'} not found)")
                continue
            run_dir = Path(tmp) / name
            rows.append(
                (name, runs.train(run_dir, *overrides(name, args.shared, vectors, args.files), *args.overrides))
            )
    print(
        "\n| data | tfseq test accuracy | F1 (chunks / words) | validation F1 (accuracy if none; tune on it) "
        "| baseline (same split) accuracy / F1 | train s | published |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, m in rows:
        test, base, val = m["test"], m.get("baseline", {}).get("test", {}), m.get("validation", {})
        f1 = f"{test['f1']:.4f}" if "f1" in test else "-"
        val_score = f"{val.get('f1', val.get('accuracy', float('nan'))):.4f}"
        base_f1 = f" / {base['f1']:.4f}" if "f1" in base else ""
        print(
            f"| {name} | {test['accuracy']:.4f} | {f1} | {val_score} | {base.get('accuracy', float('nan')):.4f}{base_f1} "
            f"| {m['train_seconds']:.0f} | {PUBLISHED[name]} |"
        )


if __name__ == "__main__":
    main()
