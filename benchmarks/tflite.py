"""TFLite export against the SavedModel: size on disk and latency of one text, same model.

Trains a classifier (``tfseq-train task=classify`` with ``export.tflite=true``; any data and
overrides after ``--``), then answers the same texts one at a time through

- the SavedModel: ``serving_default(text=[...])`` (TensorFlow, raw text in), and
- the TFLite model: ``preprocess.py`` (plain Python) + ``tf.lite.Interpreter`` (ids in),

checks that their probabilities agree, and prints sizes, median and 90th-percentile latency,
and the ratio. Runs on CPU (this machine: 2 cores)::

    python benchmarks/tflite.py                      # reviews-zh, the shipped recipe
    python benchmarks/tflite.py -- data.train=../shared/data/sst2/train.tsv train.epochs=2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import runs


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def timed(answer, texts, repeats=3) -> np.ndarray:
    """Milliseconds per text, each text answered alone (the warm-up call not counted)."""
    answer(texts[0])
    seconds = []
    for _ in range(repeats):
        for text in texts:
            started = time.perf_counter()
            answer(text)
            seconds.append(time.perf_counter() - started)
    return np.array(seconds) * 1000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=100, help="texts to answer, one at a time (default 100)")
    parser.add_argument("--quantize", action="store_true", help="export.tflite_quantize=true (8-bit weights)")
    parser.add_argument("overrides", nargs="*", help="tfseq-train overrides (after --)")
    args = parser.parse_args(argv)
    import tensorflow as tf
    from omegaconf import OmegaConf

    from tfseq.data import load
    from tfseq.tflite_app import Preprocessor

    with tempfile.TemporaryDirectory() as tmp:
        metrics = runs.train(
            f"{tmp}/run",
            "task=classify",
            "export.enabled=true",
            "export.tflite=true",
            f"export.dir={tmp}/saved",
            "baseline=false",
            *(["export.tflite_quantize=true"] if args.quantize else []),
            *args.overrides,
        )
        saved, lite = Path(metrics["export"]), Path(metrics["export_tflite"])
        cfg = OmegaConf.load(f"{tmp}/run/config.yaml").data  # the run's data, and so its test split
        dataset = load(
            cfg.name or None,
            kind="classification",
            train=cfg.train,
            validation=cfg.validation,
            test=cfg.test,
            text=cfg.text,
            label=cfg.label,
        )
        texts = [str(t) for t in dataset.splits["test"]["text"][: args.texts]]

        serve = tf.saved_model.load(str(saved)).signatures["serving_default"]
        pre, interpreter = Preprocessor.load(lite), tf.lite.Interpreter(model_path=str(lite / "model.tflite"))
        gap = max(
            float(np.abs(pre.predict(interpreter, t) - serve(text=tf.constant([t]))["probabilities"]).max())
            for t in texts
        )
        saved_ms = timed(lambda t: serve(text=tf.constant([t])), texts)
        lite_ms = timed(lambda t: pre.predict(interpreter, t), texts)
        rows = [
            ("SavedModel (raw text, TensorFlow)", folder_size(saved), saved_ms),
            ("TFLite (preprocess.py + interpreter)", folder_size(lite), lite_ms),
        ]
        agree = np.mean(
            [
                pre.predict(interpreter, t).argmax() == serve(text=tf.constant([t]))["probabilities"].numpy().argmax()
                for t in texts
            ]
        )
        print(
            f"\n{len(texts)} test texts of {dataset.name}, one at a time; largest probability gap {gap:.2e}, "
            f"same label for {agree:.0%}{' (8-bit weights)' if args.quantize else ''}"
        )
        print("export | size MB | median ms | p90 ms")
        print("--- | --- | --- | ---")
        for label, size, ms in rows:
            print(f"{label} | {size / 1e6:.1f} | {np.median(ms):.2f} | {np.percentile(ms, 90):.2f}")
        print(
            f"TFLite / SavedModel: size {rows[1][1] / rows[0][1]:.2f}x, median latency "
            f"{np.median(lite_ms) / np.median(saved_ms):.2f}x"
        )


if __name__ == "__main__":
    sys.exit(main())
