"""The trainer: a task's data -> model -> fit -> evaluate -> report -> export, for every task.

A task (:class:`~tfseq.train.task.Task`) fills in its steps: ``prepare``, ``build_model``,
``evaluate``, ``serving``. Everything else -- optimizer, clipping, callbacks, early stopping,
learning-rate schedule, TensorBoard, checkpoints, resume, NaN guard, precision, distribution,
run folder, learning curves, the export's writing -- lives here, once.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
from pathlib import Path

import keras
from omegaconf import OmegaConf

from tfseq import choices, export
from tfseq.atomic import disk_full_error, written_to
from tfseq.recipes import FILE_KEYS
from tfseq.train import plots, tracking
from tfseq.train.callbacks import (
    EpochCheckpoint,
    LearningRate,
    PatientEarlyStopping,
    PatientReduceLROnPlateau,
    StopOnNaN,
    TrainingDiverged,
    TrainingState,
    ValidationScores,
)
from tfseq.train.scores import better
from tfseq.train.task import Task

SCHEDULES = choices.SCHEDULES  # train.schedule
PRECISIONS = choices.PRECISIONS  # train.precision: Keras dtype policies
OPTIMIZERS = dict(
    zip(
        choices.OPTIMIZERS,
        (keras.optimizers.Adam, keras.optimizers.AdamW, keras.optimizers.SGD, keras.optimizers.RMSprop),
    )
)


class Trainer:
    """Runs a :class:`~tfseq.train.task.Task` from data to export; the same for every task.

    >>> Trainer(ClassifyTask(config, run)).execute()   # what tfseq-train does

    ``callbacks``: Keras callbacks of your own, run after the trainer's (so they see the averaged
    weights under ``train.ema``, and the epoch's early-stopping decision) and before the resume
    state is saved; the trainer's ``task`` holds the data (``trainer.task.features``).
    ``publish``: called with the run's metrics before the export; a reason (a string) keeps the
    export back (a sweep publishes only a run better on validation than those before it).
    """

    def __init__(self, task: Task, callbacks=(), publish=None):
        self.task = task
        self.extra_callbacks = list(callbacks)
        self.publish = publish
        self.config, self.run, self.log = task.config, task.run, task.log
        self.model = None
        self.history = None
        self.strategy = None  # the tf.distribute strategy of train.distribute, set by execute()
        self.tracker = None  # train.track's tracker (MLflow), started once the recipe is resolved
        self.bar = None  # the task's printed bar (its baseline()), which early stopping waits for the network to beat

    @property
    def writes_preset(self) -> bool:
        """``run.preset``: the run also writes ``preset/``."""
        return bool(self.config.run.preset)

    def write_preset(self) -> None:
        """``preset/`` of the run: kept when an earlier attempt of this run wrote it whole (a preset
        of this model, with its metadata); one that is not whole is written again."""
        from tfseq import presets

        folder = self.run.file("preset")
        if folder.exists():
            try:
                meta = json.loads((folder / presets.METADATA).read_text(encoding="utf-8"))
                whole = presets.is_preset(folder) and meta.get("parameter_count") == int(self.model.count_params())
            except (OSError, ValueError):
                whole = False
            if whole:
                self.log(f"preset: {folder} (written by this run before it was resumed)")
                return
            shutil.rmtree(folder)  # not whole: this run's own folder, written again
        self.model.save_to_preset(folder)

    def monitor(self) -> str:
        """The log early stopping and reduce_lr watch: ``train.monitor``, or the task's choice."""
        monitor = str(self.config.train.monitor)
        return self.task.default_monitor() if monitor == "auto" else monitor

    def optimizer(self):
        train = self.config.train
        name = str(train.optimizer).lower()
        kwargs = {"learning_rate": self.learning_rate()}
        if train.clipnorm:
            kwargs["clipnorm"] = float(train.clipnorm)
        if train.ema:
            # Polyak averaging: validation, checkpoints and the final model use the moving
            # average of the weights (see SwapEMAWeights in callbacks()).
            kwargs.update(use_ema=True, ema_momentum=float(train.ema))
        if name not in OPTIMIZERS:
            raise ValueError(f"train.optimizer={name!r}: expected one of {sorted(OPTIMIZERS)}")
        return OPTIMIZERS[name](**kwargs)

    def learning_rate(self):
        """``train.learning_rate``, constant (``reduce_lr`` may halve it), or under
        ``train.schedule=cosine`` falling along a half cosine from it to 0 at the last step of
        ``train.epochs`` (SGDR without restarts, Loshchilov & Hutter 2017): a run of a fixed length
        gets a full range of rates, large to explore, small to settle."""
        train = self.config.train
        rate = float(train.learning_rate)
        schedule = str(train.schedule)
        if schedule == "constant":
            return rate
        if schedule not in SCHEDULES:
            raise ValueError(f"train.schedule={schedule!r}: expected one of {', '.join(SCHEDULES)}")
        steps = self.steps_per_epoch()
        if steps is None:
            raise ValueError(
                "train.schedule=cosine needs the number of steps in an epoch: the task's "
                "training data is a dataset of unknown length (give it a known cardinality)"
            )
        return keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(int(train.epochs) * steps, 1))

    def steps_per_epoch(self) -> int | None:
        """Training steps in an epoch, or None if the training data does not say."""
        from tfseq import data

        train = self.task.train_data
        if isinstance(train, data.Epochs):
            return int(train.steps)
        cardinality = int(train.cardinality()) if hasattr(train, "cardinality") else -1
        return cardinality if cardinality > 0 else None

    def callbacks(self) -> list:
        train = self.config.train
        callbacks = [
            # First, so every later callback (early stopping, checkpoints) sees the averaged weights.
            *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if train.ema else []),
            self.nan_guard,
            *([ValidationScores(score)] if (score := self.task.validation_scores()) else []),
            LearningRate(),
            keras.callbacks.TensorBoard(str(self.run.file("tensorboard"))),
        ]
        if int(train.keep_checkpoints):
            # Off by default: model.keras holds the kept weights and backup/ the resume state.
            callbacks.append(EpochCheckpoint(self.run.file("checkpoints"), keep=int(train.keep_checkpoints)))
        monitor = self.monitor()
        mode = "min" if monitor.endswith("loss") else "max"  # accuracy, F1: higher is better
        bar = self.bar_on_validation(monitor)
        if train.early_stopping:
            callbacks.append(
                PatientEarlyStopping(
                    monitor=monitor,
                    mode=mode,
                    patience=int(train.early_stopping),
                    restore_best_weights=True,
                    # Warm-up: epochs before keep_from_epoch are never kept (an undertrained model
                    # can score best on a small, noisy validation set when other parts carry it).
                    start_from_epoch=max(int(train.keep_from_epoch) - 1, 0),
                    bar=bar,
                )
            )
        if train.reduce_lr and str(train.schedule) != "constant":
            self.log(f"reduce_lr: off (train.schedule={train.schedule} sets the rate at every step)")
        elif train.reduce_lr:
            # Half early stopping's patience (2: 1), so the rate is halved before a run is stopped.
            patience = max(1, int(train.early_stopping) // 2)
            callbacks.append(
                PatientReduceLROnPlateau(monitor=monitor, mode=mode, factor=0.5, patience=patience, bar=bar)
            )
        if bar is not None and (train.early_stopping or (train.reduce_lr and str(train.schedule) == "constant")):
            self.log(
                f"early stopping and reduce_lr count patience once {monitor} beats the bar's {bar:.4f} "
                f"({self.bar.get('model', 'baseline')} on validation)"
            )
        # Last: it saves (and after a SIGKILL, resume=true restores) the state of those before it.
        self.state = TrainingState(self.run.file("backup"), watched=callbacks)
        tracker = [self.tracker] if self.tracker is not None else []
        return callbacks + self.task.fit_callbacks() + self.extra_callbacks + tracker + [self.state]

    def bar_on_validation(self, monitor: str) -> float | None:
        """The printed bar's validation score of what ``monitor`` watches (``val_f1`` -> its ``f1``),
        which early stopping and reduce_lr wait for the network to beat; None without one."""
        scores = (self.bar or {}).get("validation", {})
        value = scores.get(monitor.removeprefix("val_"))
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    def jit_compile(self):
        """``train.jit_compile``: ``"auto"`` (Keras decides), or a flag."""
        value = self.config.train.jit_compile
        return "auto" if str(value) == "auto" else bool(value)

    def fit(self):
        self.nan_guard = StopOnNaN()
        self.model.compile(optimizer=self.optimizer(), jit_compile=self.jit_compile(), **self.task.compile_options())
        self.log(f"precision: {self.model.dtype_policy.name}, jit_compile: {self.model.jit_compile}")
        multi_worker = str(self.config.train.distribute) == "multi_worker"
        if multi_worker:
            patch_model_for_multi_worker(self.model)
        callbacks = self.callbacks()
        if (latest := self.state.latest()) is not None:
            self.log(f"resume: restoring the training state saved after {latest.name} ({latest})")
        from tfseq import data

        validation = self.task.validation_data
        if validation is not None and self.strategy is not None:
            validation = data.even_first_batch(validation, self.strategy.num_replicas_in_sync)
        epochs, train, steps = int(self.config.train.epochs), self.task.train_data, None
        if isinstance(train, data.Epochs):  # each epoch's order from its number: resuming is exact
            train, steps = train.dataset(self.state.first_epoch(epochs), epochs), train.steps
        build_before_fit(self.model, train)
        try:
            self.model.fit(
                train,
                validation_data=validation,
                epochs=epochs,
                steps_per_epoch=steps,
                callbacks=callbacks,
                shuffle=False,  # the tf.data pipeline shuffles (seeded, every epoch)
                verbose=progress_bar(int(self.config.train.verbose)),
            )
        except Exception as error:  # a full disk (TensorBoard, checkpoints) said without a file: named
            full = disk_full_error(self.run.path, error)
            if full is None:
                raise
            raise full from error
        # The whole run's, restored epochs included (Keras' History holds only this fit's epochs).
        self.history, self.epochs, self.train_seconds = self.state.history, self.state.epochs, self.state.seconds
        if self.nan_guard.error:
            raise TrainingDiverged(self.nan_guard.error)
        if multi_worker:  # every worker must say the same
            self.log(f"multi_worker: weights sha256 {weights_digest(self.model)}")
        self.task.after_fit()

    def execute(self) -> dict:
        """The whole run; returns the metrics written to ``metrics.json``. ``train.precision``
        is Keras' dtype policy while the run builds and trains its model (restored afterwards)."""
        previous = keras.config.dtype_policy()
        if str(self.config.train.precision) not in PRECISIONS:
            raise ValueError(
                f"train.precision={self.config.train.precision!r}: expected one of {', '.join(PRECISIONS)}"
            )
        keras.config.set_dtype_policy(str(self.config.train.precision))
        try:
            return self._execute()
        except BaseException:
            if self.tracker is not None:  # the MLflow run says FAILED (interrupted, diverged, bad data)
                self.tracker.fail()
            raise
        finally:
            keras.config.set_dtype_policy(previous)

    def _execute(self) -> dict:
        # First: CPU devices are split, and workers joined, before TensorFlow starts.
        self.strategy = strategy = distribution(str(self.config.train.distribute or "none"))
        task = self.task
        if "generate" in self.config:
            task.sampler()  # a bad generate.* says so now, not after training
        keras.utils.set_random_seed(int(self.config.seed))
        exporting = bool(self.config.export.enabled) and type(task).serving is not Task.serving  # word2vec: none
        if exporting and export.name_is_auto(self.config):
            task.choose(
                "export.name", export.default_name(self.config), "the task and its data; export.name= to choose"
            )
        task.use_embeddings()  # named vectors fetched (or their absence said) before any data is read
        self.run.write_text("config.yaml", OmegaConf.to_yaml(self.config))
        task.prepare()
        self.run.write_text("config.yaml", OmegaConf.to_yaml(self.config))  # with the auto keys chosen
        tracker = tracking.tracker(self.run.path, self.config, task.name)
        if tracker is not None and (str(self.config.train.distribute) != "multi_worker" or chief()):
            self.tracker = tracker.start()  # the recipe as resolved, auto keys chosen
        published = export.folder(self.config) if exporting else None  # <export.dir>/<export.name>
        identity = task.export_identity()
        if exporting:  # a model of another kind never becomes the next version of what is served
            export.check_next_version(published, identity, replace=bool(self.config.export.replace))
        with strategy.scope() if strategy else contextlib.nullcontext():
            if strategy:
                self.log(
                    f"distribute: {strategy.num_replicas_in_sync} replicas "
                    f"({', '.join(strategy.extended.worker_devices)})"
                )
            if strategy and task.preset() is not None:
                raise ValueError(
                    "model.preset with train.distribute: not supported yet (the preset's weights are "
                    "made outside the strategy); fine-tune on one device"
                )
            self.model = task.model = task.preset() or task.build_model()
            check_disk(
                self.run.path,
                published,
                model_writes(
                    self.model,
                    getattr(self.model, "preprocessor", None),
                    self.config,
                    preset=self.writes_preset,
                    tflite=bool(self.config.export.tflite),
                ),
            )
            baseline = self.bar = task.baseline()
            self.fit()
        metrics = task.evaluate()
        metrics["train_seconds"] = round(self.train_seconds, 2)
        metrics["epochs"] = self.epochs
        metrics["history"] = self.history  # every epoch's training and validation logs
        metrics["parameters"] = int(self.model.count_params())
        if baseline is not None:
            metrics["baseline"] = baseline
        metrics["headline"] = task.headline_of(metrics)
        if self.history:
            self.run.save_figure("learning_curves.png", plots.learning_curves(self.history))
        # The stages after training each keep what an earlier attempt of this run (killed, or out
        # of disk, then resume=true) wrote whole, and write what it did not.
        with written_to(self.run.file("model.keras")) as tmp:
            self.model.save(tmp)
        if hasattr(self.model, "save_to_preset") and self.writes_preset:  # for model.preset= and from_preset
            self.write_preset()
        held_back = self.publish(metrics) if exporting and self.publish is not None else None
        if held_back:
            exporting = False
            metrics["export_held_back"] = held_back
            self.log(f"export: not published ({held_back})")
        written_by = {"task": task.name, "run": str(self.run), "identity": identity}
        replace = bool(self.config.export.replace)
        if exporting and (earlier := published_by(published, self.run)) is not None:
            metrics["export"] = str(earlier)
            self.log(f"export: {published} version {earlier.name} (published by this run before it was resumed)")
        elif exporting and (serving := task.serving()) is not None:
            serving.metadata = {**written_by, **serving.metadata}
            before = served_before(published, self.config, metrics)
            metrics["export"] = str(export.save(serving, published, identity=identity, replace=replace))
            self.log(f"export: {published} version {Path(metrics['export']).name}{before}")
        if exporting and self.config.export.tflite:
            folder = export.folder(self.config, suffix="-tflite")
            if (earlier := published_by(folder, self.run)) is not None:
                metrics["export_tflite"] = str(earlier)
                self.log(
                    f"export: {folder} version {earlier.name} (TFLite, published by this run before it was resumed)"
                )
            elif (on_device := task.tflite_serving()) is not None:
                on_device.metadata = {**written_by, **on_device.metadata}
                quantize = bool(self.config.export.tflite_quantize)
                metrics["export_tflite"] = str(
                    export.save_tflite(on_device, folder, quantize=quantize, identity=identity, replace=replace)
                )
                self.log(f"export: {folder} version {Path(metrics['export_tflite']).name} (TFLite)")
            else:
                self.log(f"export.tflite: task {task.name} has no TFLite export (classify, tag, lm and seq2seq have)")
        self.run.write_json("metrics.json", metrics)
        tracking.write_hparams(self.run.path, self.config, metrics, trial=self.run.path.name)
        if self.tracker is not None:
            exports = [("savedmodel", metrics.get("export")), ("tflite", metrics.get("export_tflite"))]
            self.tracker.finish(metrics, [(kind, Path(folder)) for kind, folder in exports if folder])
            self.tracker = None
        # The run is complete: the resume state (weights and optimizer, ~250 MB) is not needed.
        shutil.rmtree(self.state.folder, ignore_errors=True)
        return metrics


def progress_bar(verbose: int) -> int:
    """Keras' ``verbose`` for ``train.verbose``: its progress bar (1) on a terminal, one line per
    epoch (2) when the output goes to a file or a pipe (the bar wrote a line per step there: 984
    lines for the main job's log)."""
    import sys

    return 2 if verbose == 1 and not sys.stdout.isatty() else verbose


def published_by(task_dir, run) -> Path | None:
    """The version of ``task_dir`` that ``run`` published (a resumed run does not publish twice);
    None if it published none. Versions are renamed into place whole, so one that is there is
    complete."""
    for version in reversed(export.versions(task_dir) if task_dir is not None else []):
        try:
            if export.metadata(version).get("run") == str(run):
                return version
        except (OSError, ValueError):
            continue
    return None


def served_before(published, config, metrics) -> str:
    """How this run compares with the version it is about to replace as the one served: its test
    headline against that version's run's, when both runs read the same data (the same dataset
    name and files); else nothing. Printed, so a worse model is never published silently."""
    found = export.versions(published)  # none yet: nothing to compare with
    if not found:
        return ""
    try:
        run = Path(export.metadata(found[-1])["run"])
        theirs = json.loads((run / "metrics.json").read_text())
        their_config = OmegaConf.load(run / "config.yaml")
    except (OSError, ValueError, KeyError, TypeError):
        return ""  # its run folder moved or was removed: nothing to compare with
    same_data = all(
        str(OmegaConf.select(config, key, default=None)) == str(OmegaConf.select(their_config, key, default=None))
        for key in ("data.name", *FILE_KEYS)
    )
    key = metrics.get("headline")
    mine, old = metrics.get("test", {}).get(key), theirs.get("test", {}).get(key)
    if not same_data or mine is None or old is None or key != theirs.get("headline"):
        return ""
    version = found[-1].name
    verdict = (
        "better"
        if better(key, mine, old)
        else "a tie"
        if mine == old
        else f"WORSE; version {version} stays on disk: tfseq-predict {published}/{version} answers with it"
    )
    return f", now the one served (test {key} {mine:.4f}; version {version}'s {old:.4f} on the same data: {verdict})"


# Copies of the trainable weights an optimizer keeps beside them (Adam's two moments, ...).
OPTIMIZER_SLOTS = {"adam": 2, "adamw": 2, "rmsprop": 1, "sgd": 0}
# A SavedModel's graph beyond its weights and vocabulary (saved_model.pb, fingerprint, tfseq.json):
# 0.9 MB for a small classifier's (tests/train/test_trainer.py measures the whole estimate).
EXPORT_GRAPH = 1.0e6
FILE_OVERHEAD = 50e3  # a .keras zip's or a preset's configs and metadata, beyond the vocabulary


class DiskFull(OSError):
    """Not enough free disk for what a run will write; raised before training."""


def run_writes(weights: int, trainable: int, vocabulary: int, config=None, tflite=False, preset=True) -> dict:
    """What a run writes at its peak, by item: ``{"run": [(item, bytes)], "export": [...]}``, from
    the bytes of the model's weights (all of them, and the trainable ones), of its vocabulary
    (the preprocessor's config, as the .keras file, the preset and the export hold it) and the
    recipe: its optimizer's copies of the weights (and the moving average, ``train.ema``),
    early stopping's best weights, ``train.keep_checkpoints``. ``backup/`` holds two epochs' state
    while the newer one is written; model.keras and preset/ are written while one is still there."""
    train = config.train if config is not None else None
    slots = OPTIMIZER_SLOTS.get(str(train.optimizer).lower(), 2) if train is not None else 2
    averaged = bool(train is not None and train.ema)
    optimizer = trainable * (slots + averaged)
    model_keras = weights + optimizer + vocabulary + FILE_OVERHEAD
    state = weights + optimizer + FILE_OVERHEAD  # an epoch's state in backup/ (its weights and optimizer)
    preset_size = (weights + 2 * vocabulary + FILE_OVERHEAD) if preset else 0
    keep = int(train.keep_checkpoints) if train is not None else 0
    checkpoints = model_keras * (int(train.epochs) if keep < 0 else keep) if keep else 0
    # The peak: one state and either the next one being written or model.keras and preset/.
    run = [("backup/", state + max(0, state - model_keras - preset_size)), ("model.keras", model_keras)]
    if preset:
        run.append(("preset/", preset_size))
    if checkpoints:
        run.append(("checkpoints/", checkpoints))
    run.append(("logs and plots", 0.5e6))
    export = [("the SavedModel", weights + 2 * vocabulary + EXPORT_GRAPH)]
    if tflite:
        export.append(("the TFLite model", weights + vocabulary + FILE_OVERHEAD))
    return {"run": run, "export": export}


def check_disk(run_folder, export_folder, writes: dict) -> None:
    """Refuse to train when a disk cannot hold what the run will write there (a full disk while
    Keras writes its weights has ended in h5py errors and a segfault): one line per disk that is
    short, naming its folder and only what goes to that disk, before any training."""

    def existing(folder):  # what will be written under it lands on the disk of its nearest existing folder
        folder = Path(folder).absolute()
        while not folder.exists():
            folder = folder.parent
        return folder

    by_disk = {}
    for folder, items in ((run_folder, writes["run"]), (export_folder, writes["export"])):
        if folder is None:
            continue
        folder = existing(folder)
        first, listed = by_disk.get(folder.stat().st_dev, (folder, []))
        by_disk[folder.stat().st_dev] = (first, listed + list(items))
    for folder, items in by_disk.values():
        need, free = sum(size for _, size in items), shutil.disk_usage(folder).free
        if free < need:
            what = ", ".join(f"{name} {size / 1e6:,.1f} MB" for name, size in items)
            raise DiskFull(
                f"{folder}: {free / 1e6:,.0f} MB free on its disk, and this run writes about "
                f"{need / 1e6:,.0f} MB there ({what}): free some space, or set run.root= and "
                f"export.dir= to a larger disk"
            )


def model_writes(model, preprocessor, config, tflite=False, preset=True) -> dict:
    """:func:`run_writes` of a built model and its preprocessor."""
    import numpy as np

    from tfseq.data.preprocessors import serialize_layer

    def size(variables):
        return int(sum(np.prod(v.shape) * np.dtype(v.dtype).itemsize for v in variables))

    vocabulary = (
        len(json.dumps(serialize_layer(preprocessor), ensure_ascii=False).encode("utf-8"))
        if preprocessor is not None
        else 0
    )
    return run_writes(size(model.weights), size(model.trainable_weights), vocabulary, config, tflite, preset)


def distribution(name: str):
    """The ``tf.distribute`` strategy of ``train.distribute=<name>`` (None for ``none``).

    ``mirrored``: synchronous data parallelism over every local GPU (the CPU if none);
    ``multi_worker``: the same over several machines (``MultiWorkerMirroredStrategy``; each
    worker runs the same command with its own ``TF_CONFIG``, see :func:`chief`);
    ``cpu:N``: over N logical CPU devices, which runs the multi-device path (per-replica
    batches, all-reduced gradients) on a machine without GPUs. ``train.batch_size`` is the
    global batch, split across the replicas.
    """
    if name == "none":
        return None
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"train.distribute={name} needs KERAS_BACKEND=tensorflow (tf.distribute)")
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        chief()  # a missing or malformed TF_CONFIG says so before TensorFlow waits for workers
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name.startswith("cpu:") and name[4:].isdigit() and int(name[4:]) >= 1:
        count = int(name[4:])
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
        except RuntimeError:  # TensorFlow already started: fine if it has those devices
            pass
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        if len(devices) != count:
            raise ValueError(
                f"train.distribute={name}: TensorFlow already runs on {len(devices)} CPU "
                f"device(s) in this process; start a new process for {count}"
            )
        return tf.distribute.MirroredStrategy(devices)
    raise ValueError(f"train.distribute={name!r}: expected none, mirrored, multi_worker or cpu:N")


def build_before_fit(model, train):
    """Build the model, its metrics and its optimizer from the shapes of ``train``'s batches.

    Without a distribution strategy, Keras 3.15 defers these builds into the first trace of the
    training step; the optimizer's slots are then variables created inside a ``tf.function``,
    which makes TensorFlow trace the whole step a second time (seen: 2 traces of 11-12 s each
    for a tiny seq2seq model, most of its first epoch). Built here, the step is traced once.
    Under a strategy this is the build Keras would do itself (from a batch's shapes, which is
    all the build reads)."""
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow" or not isinstance(train, tf.data.Dataset):
        return
    model._symbolic_build(data_batch=train.element_spec)


def patch_model_for_multi_worker(model):
    """Replace two of ``model``'s Keras internals so that ``fit`` and ``evaluate`` run under
    ``MultiWorkerMirroredStrategy``: its symbolic build hook and its train/test steps' logs.

    Keras 3.15 builds a distributed model's metrics and optimizer from the first batch
    averaged across replicas, in one ``strategy.reduce`` of the whole batch, which
    ``MultiWorkerMirroredStrategy`` cannot do for a nest (a dict of ids): it raises "Attempt to
    convert a value ({'tokens': PerReplica...". The build needs only the batch's shapes and
    dtypes: :func:`build_before_fit` builds from the dataset's, so ``fit`` and ``evaluate`` here
    draw no batch and reduce nothing."""

    def build(iterator=None, data_batch=None):
        if not model.built:
            raise RuntimeError(
                "multi_worker: the model must be built before fit (build_before_fit "
                "builds it from a tf.data dataset's element_spec)"
            )
        with model.distribute_strategy.scope():
            model._symbolic_build(data_batch=data_batch)  # built already: only Keras' _post_build runs

    model._maybe_symbolic_build = build
    # And it averages each step's logs with strategy.reduce("MEAN", value, axis=0), which fails
    # on a scalar ("Invalid reduction dimension 0 ...", tensorflow/tensorflow#72388): one-element
    # logs average to the same scalar.
    for name in ("train_step", "test_step"):
        step = getattr(model, name)
        setattr(
            model,
            name,
            lambda data, step=step: keras.tree.map_structure(lambda value: keras.ops.reshape(value, (1,)), step(data)),
        )


def weights_digest(model) -> str:
    """A SHA-256 of every weight's bytes: equal on workers that trained in sync."""
    import hashlib

    digest = hashlib.sha256()
    for variable in model.weights:
        digest.update(keras.ops.convert_to_numpy(variable).tobytes())
    return digest.hexdigest()


def chief() -> bool:
    """Whether this process writes the run folder and the export of a ``train.distribute=
    multi_worker`` run: the ``chief`` of ``$TF_CONFIG``'s cluster, or worker 0 if it names none.
    Every worker trains, evaluates and saves alike (their collective operations must match);
    the others write into a scratch folder that is removed at the end."""
    import json
    import os

    text = os.environ.get("TF_CONFIG")
    if not text:
        raise ValueError(
            'train.distribute=multi_worker needs $TF_CONFIG, e.g. {"cluster": {"worker": '
            '["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
        )
    try:
        config = json.loads(text)
        kind, index, cluster = config["task"]["type"], int(config["task"]["index"]), config["cluster"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"$TF_CONFIG is not a cluster and task ({error!r}): {text[:200]}") from None
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)
