"""Callbacks every trainer uses: NaN guard with a useful message, atomic per-epoch checkpoints,
and the training state a killed run resumes from."""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from tfseq.atomic import disk_full_error, publish, temporary_folder, written_to


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


def beats(monitor: str, score: float, bar: float) -> bool:
    """Whether a validation ``score`` of ``monitor`` (``val_loss``, ``val_f1``, ...) is better than ``bar``."""
    return score < bar if monitor.endswith("loss") else score > bar


class UntilBarBeaten:
    """Early stopping and learning-rate cuts that wait until the network has beaten the bar.

    On a small file the validation score can sit still for epochs (F1 near 0 while a tagger still
    answers ``O``; accuracy 1.0 from the first epoch) and a callback that counts patience then
    stops the run or halves its rate before the network has learnt anything. Until the monitored
    validation score beats ``bar`` (the printed bar's own validation score; None: no wait), the
    best epoch is still tracked (:meth:`while_waiting`), but no patience is counted. Mixed in
    before the Keras callback it changes.
    """

    def __init__(self, *args, bar=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.bar, self.beaten = bar, bar is None

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if not self.beaten and current is not None and beats(self.monitor, float(current), self.bar):
            self.beaten = True
        if self.beaten:
            return super().on_epoch_end(epoch, logs)
        if self.monitor_op is None:
            self._set_monitor_op()
        if current is not None:
            self.while_waiting(epoch, current)

    def while_waiting(self, epoch, current):
        """An epoch before the bar is beaten: keep track of the best, count nothing."""
        raise NotImplementedError


class PatientEarlyStopping(UntilBarBeaten, keras.callbacks.EarlyStopping):
    """``keras.callbacks.EarlyStopping`` that counts patience only once the bar is beaten (:class:`UntilBarBeaten`)."""

    def while_waiting(self, epoch, current):
        if epoch >= self.start_from_epoch and self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()


class PatientReduceLROnPlateau(UntilBarBeaten, keras.callbacks.ReduceLROnPlateau):
    """``keras.callbacks.ReduceLROnPlateau`` that cuts the rate only once the bar is beaten (:class:`UntilBarBeaten`)."""

    def while_waiting(self, epoch, current):
        if self._is_improvement(current, self.best):
            self.best = current  # what it must improve on once it counts


class ValidationScores(keras.callbacks.Callback):
    """Adds ``val_<name>`` to each epoch's logs from ``score()``: a task's scores of its
    validation split that no Keras metric computes batch by batch (CoNLL chunk F1), so early
    stopping, reduce_lr, TensorBoard and the history see them as any other."""

    def __init__(self, score):
        super().__init__()
        self.score = score

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update({f"val_{name}": float(value) for name, value in self.score().items()})


class LearningRate(keras.callbacks.Callback):
    """Adds the optimizer's current ``learning_rate`` to each epoch's logs (history, TensorBoard),
    as ``ReduceLROnPlateau`` does, also when a schedule sets it at every step."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class CarryState(keras.callbacks.Callback):
    """Carry a :class:`~tfseq.models.LanguageModel`'s state from training batch to training
    batch during ``fit`` (``model.carry_state(rows)``), zeroed at the start of every epoch: the
    notes' sequential partitioning, for batches of ``rows`` rows each of which goes on where the
    same row of the batch before stopped (`task=lm`'s `data.sampling=sequential` makes them). Training
    then reads every window with the context before it, as scoring does. The carrying stops
    when training ends.

    Example:
        >>> model.fit(sequential_windows(ids, 35, batch_size=32).dataset(0, 10), epochs=10,
        ...           steps_per_epoch=steps, callbacks=[CarryState(rows=32)])
    """

    def __init__(self, rows: int):
        super().__init__()
        self.rows = int(rows)

    def on_train_begin(self, logs=None):
        self.model.carry_state(self.rows)

    def on_epoch_begin(self, epoch, logs=None):
        self.model.reset_state()

    def on_train_end(self, logs=None):
        self.model.carry_state(None)


class EpochCheckpoint(keras.callbacks.Callback):
    """Save the whole model (``.keras``) after every epoch, atomically (write, then rename).

    ``keep`` is how many of the newest epoch files stay (-1: all of them). Older ones are
    removed only after the new one is complete, so a crash never leaves fewer than ``keep``.
    A checkpoint of a model with large n-gram tables weighs hundreds of MB (weights plus
    the optimizer's moments), so keeping every epoch fills a disk fast.
    """

    def __init__(self, folder, keep: int = 1):
        super().__init__()
        self.folder = Path(folder)
        self.keep = int(keep)

    def on_epoch_end(self, epoch, logs=None):
        target = self.folder / f"epoch-{epoch + 1:03d}.keras"
        with written_to(target) as tmp:
            self.model.save(tmp)
        if self.keep > 0:
            for old in _by_epoch(self.folder.glob("epoch-*.keras"))[: -self.keep]:
                old.unlink()


def _by_epoch(paths) -> list[Path]:
    """``epoch-NNN*`` paths in epoch order (numeric: epoch-1000 comes after epoch-999)."""
    numbered = [(int(m.group(1)), p) for p in paths if (m := re.match(r"epoch-(\d+)", p.name))]
    return [p for _, p in sorted(numbered)]


class TrainingState(keras.callbacks.Callback):
    """Everything a killed run needs to go on as if it had not stopped, saved after every epoch.

    Keras' ``BackupAndRestore`` keeps the weights, the optimizer and the epoch, but rewrites them
    in place (a kill during the write leaves a backup that cannot be read) and forgets the state
    other callbacks carry. This callback also keeps early stopping's best score, patience count
    and best weights, ReduceLROnPlateau's counters, which weights ``SwapEMAWeights`` has swapped
    into the model, the history of every epoch and the training time so far. Each epoch's state
    is written to a temporary folder and renamed to ``<folder>/epoch-NNN/``; older ones are
    removed after that, so the newest complete state is always whole.

    Put it after the callbacks it watches: its ``on_epoch_end`` then sees their state after the
    epoch, and its ``on_train_begin`` restores them after they have reset themselves. A run that
    had finished (last epoch, or stopped early) resumes with no epochs left to train.
    """

    FIELDS = {
        keras.callbacks.EarlyStopping: ("wait", "stopped_epoch", "best", "best_epoch"),
        keras.callbacks.ReduceLROnPlateau: ("wait", "cooldown_counter", "best"),
        PatientEarlyStopping: ("wait", "stopped_epoch", "best", "best_epoch", "beaten"),
        PatientReduceLROnPlateau: ("wait", "cooldown_counter", "best", "beaten"),
        keras.callbacks.SwapEMAWeights: ("_ema_weights_in_model",),
    }

    def __init__(self, folder, watched=()):
        super().__init__()
        self.folder = Path(folder)
        self.watched = [c for c in watched if type(c) in self.FIELDS]
        self.history: dict[str, list[float]] = {}  # every epoch's logs, restored ones included
        self.epochs = 0  # epochs finished, restored ones included
        self.seconds = 0.0  # training time, restored epochs included
        self.restored_from = None

    # -- restore ---------------------------------------------------------------------------
    def latest(self) -> Path | None:
        states = [p for p in _by_epoch(self.folder.glob("epoch-*")) if (p / "state.json").exists()]
        return states[-1] if states else None

    def first_epoch(self, epochs: int) -> int:
        """The epoch (from 0) that training starts with: 0, or where the saved state ends (``epochs``
        if that run had finished training)."""
        latest = self.latest()
        return 0 if latest is None else _next_epoch(json.loads((latest / "state.json").read_text()), epochs)

    def on_train_begin(self, logs=None):
        self._started, self._before = time.perf_counter(), 0.0
        for partial in self.folder.glob(".tmp-*"):  # a state being written when the run was killed
            shutil.rmtree(partial, ignore_errors=True)
        latest = self.latest()
        if latest is None:
            return
        state = json.loads((latest / "state.json").read_text())
        if not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(latest / "model.weights.h5")  # weights and optimizer state
        with np.load(latest / "random-states.npz") as saved:  # dropout's and token dropout's seeds
            for variable, value in zip(_random_states(self.model), (saved[k] for k in saved.files)):
                variable.assign(value)
        for callback, values in zip(self.watched, state["callbacks"]):
            # (A state saved by Keras' own class, before the patient ones, resumes into them: the bar counts as beaten.)
            if values["class"] not in [kind.__name__ for kind in type(callback).__mro__ if kind in self.FIELDS]:
                raise ValueError(
                    f"{latest}: saved with callback {values['class']}, "
                    f"this run has {type(callback).__name__}; resume with the same recipe"
                )
            for name in self.FIELDS[type(callback)]:
                setattr(callback, name, values.get(name, True if name == "beaten" else values[name]))
            if values.get("best_weights"):
                with np.load(latest / values["best_weights"]) as saved:
                    callback.best_weights = [saved[f"w{i}"] for i in range(len(saved.files))]
        self.history, self.epochs, self._before = state["history"], state["epochs"], state["seconds"]
        self.seconds = self._before
        self.model._initial_epoch = _next_epoch(state, self.params["epochs"])
        self.restored_from = latest

    # -- save ------------------------------------------------------------------------------
    def on_epoch_end(self, epoch, logs=None):
        if not all(math.isfinite(float(v)) for v in (logs or {}).values()):
            return  # a diverged epoch (NaN weights) is never a state to resume from
        try:
            self._save(epoch, logs)
        except Exception as error:  # a full disk, as h5py or numpy says it: name where
            full = disk_full_error(self.folder, error)
            if full is None:
                raise
            raise full from error

    def _save(self, epoch, logs):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.epochs = epoch + 1
        self.seconds = self._before + time.perf_counter() - self._started
        with temporary_folder(self.folder) as tmp:
            self.model.save_weights(tmp / "model.weights.h5")
            np.savez(tmp / "random-states.npz", *[np.asarray(v) for v in _random_states(self.model)])
            callbacks = []
            for i, callback in enumerate(self.watched):
                values = {
                    "class": type(callback).__name__,
                    **{name: _plain(getattr(callback, name)) for name in self.FIELDS[type(callback)]},
                }
                if getattr(callback, "best_weights", None) is not None:
                    values["best_weights"] = f"best-weights-{i}.npz"
                    np.savez(tmp / values["best_weights"], **{f"w{j}": w for j, w in enumerate(callback.best_weights)})
                callbacks.append(values)
            finished = bool(self.model.stop_training) or self.epochs >= self.params["epochs"]
            (tmp / "state.json").write_text(
                json.dumps(
                    {
                        "epochs": self.epochs,
                        "finished": finished,
                        "seconds": self.seconds,
                        "history": self.history,
                        "callbacks": callbacks,
                    },
                    indent=1,
                )
            )
            target = publish(tmp, self.folder / f"epoch-{self.epochs:03d}")
        for old in _by_epoch(p for p in self.folder.glob("epoch-*") if p != target):
            shutil.rmtree(old)

    def on_train_end(self, logs=None):
        self.seconds = self._before + time.perf_counter() - self._started


def _next_epoch(state: dict, epochs: int) -> int:
    """The epoch (from 0) a saved ``state`` resumes with; none left (``epochs``) when that run
    had finished its fit (killed while evaluating)."""
    return epochs if state["finished"] else state["epochs"]


def _random_states(model) -> list:
    """The states of the model's random seed generators (dropout, token dropout): Keras keeps
    them beside the weights, not in them, so a weights file alone would restart them."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights and "seed_generator" in v.path]


def _plain(value):
    """A JSON value: numpy and backend scalars become Python numbers."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return float(np.asarray(value))
