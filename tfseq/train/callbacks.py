"""Callbacks every trainer uses: NaN guard with a useful message, atomic per-epoch checkpoints."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import keras


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class StopOnNaN(keras.callbacks.Callback):
    """Stop at the first non-finite loss, naming the epoch and step and what to try."""

    def __init__(self):
        super().__init__()
        self.epoch = 0
        self.error = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.error = (
                f"loss became {loss} at epoch {self.epoch + 1}, step {batch + 1}: training stopped. "
                "Try gradient clipping (train.clipnorm=1.0) or a lower learning rate "
                "(train.learning_rate=...)."
            )
            self.model.stop_training = True


class EpochCheckpoint(keras.callbacks.Callback):
    """Save the whole model (``.keras``) after every epoch, atomically (write, then rename).

    ``keep`` is how many of the newest epoch files stay (0: all of them). Older ones are
    removed only after the new one is complete, so a crash never leaves fewer than ``keep``.
    A checkpoint of a model with large n-gram tables weighs hundreds of MB (weights plus
    the optimizer's moments), so keeping every epoch fills a disk fast.
    """

    def __init__(self, folder, keep: int = 1):
        super().__init__()
        self.folder = Path(folder)
        self.keep = int(keep)

    def on_epoch_end(self, epoch, logs=None):
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"epoch-{epoch + 1:03d}.keras"
        handle, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".keras", dir=self.folder)
        os.close(handle)
        try:
            self.model.save(tmp)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        if self.keep > 0:
            for old in sorted(self.folder.glob("epoch-*.keras"))[:-self.keep]:
                old.unlink()
