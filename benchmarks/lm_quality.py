"""Character language model quality on Tiny Shakespeare, against published figures.

    python benchmarks/lm_quality.py [--recipes classic adam] [-- key=value ...]

Splits ../shared/data/tinyshakespeare/input.txt as nanoGPT does (the first 90% of the characters
train, the last 10% are held out) and holds out the last 5% of the training part again for early
stopping: train 0-85%, validation 85-90%, test 90-100% (each cut at a line break). Each recipe
runs `tfseq-train task=lm` and prints the test cross-entropy (nats per character), perplexity and
bits per character beside an interpolated Kneser-Ney 5-gram fitted on the same split in the same
run, and the two mixed (``model.interpolate``, the recipe's default: the model users get).
tfseq drops blank lines (a line end follows every line), so it scores about 3% fewer,
mostly easy, characters than nanoGPT's split does.

Recipes:
- classic: the notes' character GRU recipe: GRU(256), 35 steps, batch 32, SGD at rate 1,
  gradient norm clipped to 1.
- adam: the same network trained with Adam at 0.003 (tasks/lm/lm.yaml's default optimizer).

Published (same text, the last 10% as validation): nanoGPT's character transformer 1.4697 nats
(6 layers, 10.7M parameters, A100); its CPU configuration (4 layers of 128, 2,000 iterations)
about 1.88.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import runs

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RECIPES = {
    "classic": ["train.optimizer=sgd", "train.learning_rate=1.0"],
    "adam": ["train.optimizer=adam", "train.learning_rate=0.003"],
}
PUBLISHED = "nanoGPT char transformer 1.4697 nats (GPU); its CPU config ~1.88"


def split_text(text: str, cuts=(0.85, 0.90)) -> list[str]:
    """The text cut at the first line break after each fraction of its characters."""
    points = [0] + [text.index("\n", int(len(text) * c)) + 1 for c in cuts] + [len(text)]
    return [text[a:b] for a, b in zip(points, points[1:])]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", default=["classic", "adam"], choices=sorted(RECIPES))
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("overrides", nargs="*", help="extra recipe overrides, e.g. backbone.units=512")
    args = parser.parse_args()
    source = args.shared / "tinyshakespeare" / "input.txt"
    if not source.exists():
        sys.exit(f"{source} not found (../shared/data beside the checkout)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, part in zip(("train", "validation", "test"), split_text(source.read_text(encoding="utf-8"))):
            files.append(Path(tmp) / f"{name}.txt")
            files[-1].write_text(part, encoding="utf-8")
        for recipe in args.recipes:
            run_dir = Path(tmp) / recipe
            splits = (f"data.{n}={f}" for n, f in zip(("train", "validation", "test"), files))
            rows.append(
                (
                    recipe,
                    runs.train(
                        run_dir,
                        "task=lm",
                        "data.name=null",
                        *splits,
                        f"train.epochs={args.epochs}",
                        'generate.prompts=["ROMEO:"]',
                        "generate.length=300",
                        *RECIPES[recipe],
                        *args.overrides,
                    ),
                )
            )
    print(
        "\n| recipe | network test nats/char | perplexity | bits/char | interpolated with the 5-gram (weight) "
        "| Kneser-Ney 5-gram nats/char (same split) | epochs | train s | published |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for recipe, m in rows:
        network = m.get("network", {}).get("test", m["test"])  # the network alone
        base = m.get("baseline", {}).get("test", {})
        mixed = f"{m['test']['loss']:.4f} ({m['interpolation']['weight']:.2f})" if "interpolation" in m else "-"
        print(
            f"| {recipe} | {network['loss']:.4f} | {network['perplexity']:.3f} | {network['bits_per_token']:.3f} "
            f"| {mixed} | {base.get('loss', float('nan')):.4f} | {m['epochs']} | {m['train_seconds']:.0f} "
            f"| {PUBLISHED} |"
        )


if __name__ == "__main__":
    main()
