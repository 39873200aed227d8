"""Training speed of `tfseq-train task=classify` against the Keras "Bidirectional LSTM on IMDB" recipe.

    python benchmarks/classify_speed.py [--datasets reviews-zh sst2] [--keras-epochs 2]

The peer is https://keras.io/examples/nlp/bidirectional_lstm_imdb/ as written there: vocabulary
20k, sequences pre-padded/truncated to 200, Embedding(128), two Bidirectional(LSTM(64)), one
sigmoid, batch 32, Adam, binary cross-entropy. Both models see the same tokens (our
TextVectorizer: characters for reviews-zh, words for SST-2) and the same train/validation/test
split (benchmarks/classify_data.py), in the same process. tfseq runs its own recipe
(tasks/classify/classify.yaml: length buckets, n-grams, BiGRU), with any overrides given after ``--``.

Speed is training examples per second, counted over the training phase of each epoch only
(validation excluded for both). Accuracy is on the test split (SST-2: the GLUE dev set).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import classify_data  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from tfseq import (
    data,  # noqa: E402
    recipes,
)
from tfseq.tasks.classify import ClassifyTask  # noqa: E402
from tfseq.train.run_folder import RunFolder  # noqa: E402
from tfseq.train.trainer import Trainer  # noqa: E402


class TrainPhaseTimer(keras.callbacks.Callback):
    """Seconds spent in the training batches of each epoch (not in validation)."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._stopped = time.perf_counter(), False

    def on_test_begin(self, logs=None):
        self._stop()

    def on_epoch_end(self, epoch, logs=None):
        self._stop()

    def _stop(self):
        if not self._stopped:
            self.seconds.append(time.perf_counter() - self._start)
            self._stopped = True


def run_tfseq(overrides, workdir):
    timer = TrainPhaseTimer()

    class Timed(Trainer):
        def callbacks(self):
            return super().callbacks() + [timer]

    task, pairs = recipes.parse_overrides(
        [
            "task=classify",
            "baseline=false",
            "export.enabled=false",
            f"run.root={workdir}",
            "train.verbose=2",
            *overrides,
        ]
    )
    config = recipes.resolve(task, [(key, values[0]) for key, values in pairs])
    task = ClassifyTask(config, RunFolder(config.run.root, task), log=print)
    metrics = Timed(task).execute()
    n = len(task.targets["train"])
    return task, {
        "examples_per_second": n * len(timer.seconds) / sum(timer.seconds),
        "accuracy": metrics["test"]["accuracy"],
        "epochs": len(timer.seconds),
        "parameters": metrics["parameters"],
    }


def run_keras_recipe(trainer, epochs):
    """The keras.io recipe on the same split and tokens as ``trainer``."""
    vectorizer = data.TextVectorizer(split=trainer.config.data.split, lowercase=trainer.config.data.lowercase)
    vectorizer.adapt(trainer.dataset.train["text"], max_tokens=20000 - 2)

    def ids(split):
        texts = np.asarray(trainer.dataset.splits[split]["text"].tolist(), dtype=object).astype(str)
        rows = [row[row != 0] for row in vectorizer(texts)["tokens"].numpy()]
        return keras.utils.pad_sequences(rows, maxlen=200)  # pre-padding and pre-truncation, as the recipe

    x_train, x_val, x_test = ids("train"), ids("validation"), ids("test")
    y_train, y_val, y_test = (trainer.targets[s] for s in ("train", "validation", "test"))
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(20000, 128)(inputs)
    x = keras.layers.Bidirectional(keras.layers.LSTM(64, return_sequences=True))(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(64))(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    timer = TrainPhaseTimer()
    model.fit(
        x_train, y_train, batch_size=32, epochs=epochs, validation_data=(x_val, y_val), callbacks=[timer], verbose=2
    )
    accuracy = float(((model.predict(x_test, batch_size=256, verbose=0)[:, 0] > 0.5) == y_test).mean())
    return {
        "examples_per_second": len(x_train) * len(timer.seconds) / sum(timer.seconds),
        "accuracy": accuracy,
        "epochs": epochs,
        "parameters": model.count_params(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["reviews-zh", "sst2"], choices=["reviews-zh", "sst2"])
    parser.add_argument("--shared", type=Path, default=classify_data.SHARED)
    parser.add_argument("--keras-epochs", type=int, default=2, help="epochs of the Keras recipe (it uses 2)")
    parser.add_argument("overrides", nargs="*", help="tfseq recipe overrides, e.g. backbone.units=96")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.datasets:
            if name == "sst2" and not (args.shared / "sst2" / "train.tsv").exists():
                print(f"(SST-2 skipped: {args.shared}/sst2 not found)")
                continue
            dataset = classify_data.overrides(name, Path(workdir) / "data", args.shared)
            trainer, ours = run_tfseq(dataset + args.overrides, workdir)
            theirs = run_keras_recipe(trainer, args.keras_epochs)
            rows.append((name, ours, theirs))
    print()
    print("| data | model | epochs | params | train examples/s | test accuracy |")
    print("|---|---|---|---|---|---|")
    for name, ours, theirs in rows:
        for label, r in (("tfseq classify recipe", ours), ("Keras BiLSTM-IMDB recipe", theirs)):
            print(
                f"| {name} | {label} | {r['epochs']} | {r['parameters']:,} | {r['examples_per_second']:.0f} "
                f"| {r['accuracy']:.4f} |"
            )
    for name, ours, theirs in rows:
        print(
            f"{name}: tfseq trains {ours['examples_per_second'] / theirs['examples_per_second']:.2f}x "
            f"the examples/s of the Keras recipe; accuracy {ours['accuracy']:.4f} vs {theirs['accuracy']:.4f}"
        )


if __name__ == "__main__":
    main()
