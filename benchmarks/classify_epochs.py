"""Each epoch of a classify run, part by part: the network alone, each expert, the fitted mix.

    python benchmarks/classify_epochs.py [--datasets sst2] [--embeddings auto|none|FILE] [--seeds 0 1 2]
                                         [-- key=value ...]

Trains the benchmark's recipe (benchmarks/classify_data.py) in this process with a callback of
its own (``Trainer(task, callbacks=...)``) and, after every epoch, scores the model's parts on
validation and test with the averaged weights (``train.ema``) and the experts as fitted on train:
the network alone, each expert alone, and their mix fitted on validation as the trainer fits it
after training (``fit_expert_weights``). It shows what validation can and cannot see: which
epoch, and whether the experts help, on held-out text of the test set's kind. Example (the
benchmarks/RESULTS.md's table): ``--datasets sst2 -- train.epochs=6 train.early_stopping=0``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import classify_data
import numpy as np

from tfseq import recipes


def parts_callback(task, rows, seed):
    import keras

    from tfseq import data
    from tfseq.models.linear import fit_expert_weights

    class Parts(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            def logits(split):
                batches = data.make_dataset(task.features[split], batch_size=256)
                return np.concatenate([np.asarray(self.model.logit_parts(x)) for x in batches])

            scores = {}
            parts = {split: logits(split) for split in ("validation", "test")}
            w, b = fit_expert_weights(parts["validation"], task.targets["validation"], head=self.model.head)
            names = ["network", *self.model.experts]
            for split, p in parts.items():
                y = task.targets[split]
                for j, name in enumerate(names):
                    scores[(name, split)] = float(np.mean(p[:, j].argmax(-1) == y))
                mixed = (p * np.asarray(w)[None, :, None]).sum(1) + np.asarray(b)
                scores[("mix", split)] = float(np.mean(mixed.argmax(-1) == y))
            rows.append((seed, epoch + 1, scores))
            print(
                f"seed {seed} epoch {epoch + 1}: "
                + ", ".join(
                    f"{name} {scores[(name, 'validation')]:.4f} / {scores[(name, 'test')]:.4f}"
                    for name in [*names, "mix"]
                )
                + " (validation / test)",
                flush=True,
            )

    return Parts()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["sst2"], choices=["reviews-zh", "sst2", "polarity"])
    parser.add_argument("--shared", type=Path, default=classify_data.SHARED)
    parser.add_argument(
        "--embeddings",
        default="auto",
        help="English word vectors: auto (the recipe's: GloVe 6B 100-d for English words), none, glove-6b-100d or a word2vec/GloVe file",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("overrides", nargs="*", help="extra recipe overrides, e.g. train.epochs=6")
    args = parser.parse_args()
    vectors = {"none": None, "glove": "glove-6b-100d"}.get(args.embeddings, args.embeddings)
    from tfseq import tasks
    from tfseq.train.run_folder import RunFolder
    from tfseq.train.trainer import Trainer

    for name in args.datasets:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            files = classify_data.overrides(name, tmp / "data", args.shared, embeddings=vectors)
            for seed in args.seeds:
                overrides = [
                    "export.enabled=false",
                    "train.verbose=2",
                    f"run.dir={tmp / f'run{seed}'}",
                    *files,
                    f"seed={seed}",
                    *args.overrides,
                ]
                print("$ tfseq-train task=classify", " ".join(overrides), flush=True)
                task, pairs = recipes.parse_overrides(["task=classify", *overrides])
                config = recipes.resolve(task, [(key, values[0]) for key, values in pairs])
                task = tasks.task_class(task)(config, RunFolder(path=config.run.dir), log=print)
                Trainer(task, callbacks=[parts_callback(task, rows, seed)]).execute()
        names = list(dict.fromkeys(part for _, _, scores in rows for part, _ in scores))
        print(f"\n{name}, seeds {args.seeds}: accuracy validation / test, mean over the seeds\n")
        print("| epoch | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
        for epoch in sorted({e for _, e, _ in rows}):
            at = [scores for _, e, scores in rows if e == epoch]
            print(
                f"| {epoch} | "
                + " | ".join(
                    f"{np.mean([s[(n, 'validation')] for s in at]):.4f} / {np.mean([s[(n, 'test')] for s in at]):.4f}"
                    for n in names
                )
                + " |"
            )


if __name__ == "__main__":
    main()
