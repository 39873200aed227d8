"""The task-independent trainer: data -> model -> fit -> evaluate -> report -> export.

A task subclasses :class:`Trainer` and fills in four steps: ``prepare`` (data and tf.data
pipelines), ``build_model``, ``evaluate`` (metrics in the shared ``metrics.json`` shape) and
``export``. Everything else -- optimizer, clipping, callbacks, early stopping, learning-rate
schedule, TensorBoard, checkpoints, resume, NaN guard, run folder, learning curves -- lives here.
"""

from __future__ import annotations

import contextlib
import shutil

import keras
from omegaconf import OmegaConf

from tfseq.train import plots
from tfseq.train.callbacks import EpochCheckpoint, StopOnNaN, TrainingDiverged, TrainingState
from tfseq.train.run_folder import RunFolder


OPTIMIZERS = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
              "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}


class Trainer:
    """Base trainer. ``config`` is the task's resolved OmegaConf recipe (see ``tasks/``)."""

    task = "task"

    def __init__(self, config, run: RunFolder, log=print):
        self.config = config
        self.run = run
        self.log = log
        self.model = None
        self.history = None
        self.strategy = None  # the tf.distribute strategy of train.distribute, set by execute()

    # -- task steps ------------------------------------------------------------------------
    def prepare(self):  # pragma: no cover - abstract
        """Load data; set ``self.train_data`` (:class:`tfseq.data.Epochs`, or a tf.data dataset
        whose order is the same every epoch) and ``self.validation_data`` (tf.data)."""
        raise NotImplementedError

    def build_model(self) -> keras.Model:  # pragma: no cover - abstract
        raise NotImplementedError

    def evaluate(self) -> dict:  # pragma: no cover - abstract
        """``{"validation": {...}, "test": {...}, ...}`` with rates in [0, 1], losses in nats."""
        raise NotImplementedError

    def export(self):  # pragma: no cover - abstract
        return None

    def baseline(self) -> dict | None:
        return None

    def default_monitor(self) -> str:
        """What ``train.monitor=auto`` watches for this task."""
        return "val_loss"

    # -- shared machinery ------------------------------------------------------------------
    def choose(self, key: str, value, reason: str):
        """Set the recipe's ``auto`` value of ``key`` to what the data calls for: printed with the
        reason, and kept in the run's config.yaml."""
        OmegaConf.update(self.config, key, value, merge=False)
        self.log(f"auto: {key}={value if not isinstance(value, (list, tuple)) else list(value)} ({reason})")
        return value

    def auto(self, key: str) -> bool:
        """Whether the recipe leaves ``key`` to the data (``auto``)."""
        return str(OmegaConf.select(self.config, key, default=None)) == "auto"

    def auto_split(self, key: str, texts):
        """``key`` (``data.split`` and friends): the recipe's, or for ``auto`` words or characters
        by the script of ``texts`` (:func:`tfseq.data.language.detect_split`)."""
        from tfseq.data.language import detect_split

        if self.auto(key):
            self.choose(key, *detect_split(texts))
        return str(OmegaConf.select(self.config, key))

    def load_dataset(self, kind: str, described: str, **options):
        """``data=<name>`` or the ``data.train/validation/test`` files read as ``kind``; a dataset
        of another kind is an error that says it is not ``described``."""
        from tfseq import data

        cfg = self.config.data
        dataset = data.load(cfg.name or None, kind=kind, train=cfg.train, validation=cfg.validation,
                            test=cfg.test, **options)
        if dataset.kind != kind:
            raise data.DataError(f"data={dataset.name!r} is a {dataset.kind} dataset, not {described}")
        return dataset

    def make_pipelines(self, length_key="tokens"):
        """tf.data pipelines of ``self.features`` and ``self.targets`` for each non-empty split:
        train shuffled anew every epoch (:class:`tfseq.data.Epochs`), all batched by similar length of
        ``features[length_key]`` (``train.bucket``). Sets ``pipelines``, ``train_data`` and
        ``validation_data``."""
        from tfseq import data
        from tfseq.data.vectorize import lengths_of

        train = self.config.train
        boundaries = (data.bucket_boundaries(lengths_of(self.features["train"][length_key]))
                      if train.bucket else None)
        self.pipelines = {
            split: data.make_dataset(self.features[split], self.targets[split], batch_size=int(train.batch_size),
                                     shuffle=split == "train", seed=int(self.config.seed), boundaries=boundaries,
                                     length_key=length_key, epochs=split == "train")
            for split in self.features if self.features[split] is not None
        }
        self.train_data, self.validation_data = self.pipelines["train"], self.pipelines.get("validation")

    def word_vectors(self):
        """``model.embeddings`` (a word2vec/GloVe file) as the initial token embeddings of
        ``self.vectorizer``'s vocabulary, or None when unset."""
        from tfseq.models import read_word_vectors

        path, vocabulary = self.config.model.get("embeddings"), self.vectorizer.vocabularies[1]
        if not path:
            return None
        matrix, found = read_word_vectors(path, vocabulary, int(self.config.model.embedding_dim))
        self.log(f"embeddings: {found} of {len(vocabulary)} tokens found in {path}")
        return matrix

    def monitor(self) -> str:
        """The log early stopping and reduce_lr watch: ``train.monitor``, or the task's choice."""
        monitor = str(self.config.train.get("monitor", "auto"))
        return self.default_monitor() if monitor == "auto" else monitor

    def sampler(self):
        """The :mod:`tfseq.decoding` sampler of the recipe's ``generate`` section (tasks that
        generate: language models, seq2seq, captioning)."""
        from tfseq import decoding

        cfg = self.config.generate
        name = str(cfg.sampler)
        if name == "beam":
            return decoding.BeamSearch(int(cfg.get("beams", 4)))
        if name == "greedy":
            return decoding.Greedy()
        if name == "sampling":
            return decoding.Sampling(float(cfg.get("temperature", 1.0)), int(cfg.get("top_k", 0)),
                                     float(cfg.get("top_p", 1.0)), seed=int(self.config.seed))
        raise ValueError(f"generate.sampler={name!r}: expected one of greedy, sampling, beam")

    def optimizer(self):
        train = self.config.train
        name = str(train.optimizer).lower()
        kwargs = {"learning_rate": float(train.learning_rate)}
        if train.get("clipnorm"):
            kwargs["clipnorm"] = float(train.clipnorm)
        if train.get("ema"):
            # Polyak averaging: validation, checkpoints and the final model use the moving
            # average of the weights (see SwapEMAWeights in callbacks()).
            kwargs.update(use_ema=True, ema_momentum=float(train.ema))
        if name not in OPTIMIZERS:
            raise ValueError(f"train.optimizer={name!r}: expected one of {sorted(OPTIMIZERS)}")
        return OPTIMIZERS[name](**kwargs)

    def callbacks(self) -> list:
        train = self.config.train
        callbacks = [
            # First, so every later callback (early stopping, checkpoints) sees the averaged weights.
            *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if train.get("ema") else []),
            self.nan_guard,
            keras.callbacks.TensorBoard(str(self.run.file("tensorboard"))),
        ]
        if int(train.get("keep_checkpoints", 0)):
            # Off by default: model.keras holds the kept weights and backup/ the resume state.
            callbacks.append(EpochCheckpoint(self.run.file("checkpoints"), keep=int(train.keep_checkpoints)))
        monitor = self.monitor()
        if train.get("early_stopping"):
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor=monitor, patience=int(train.early_stopping), restore_best_weights=True,
                # Warm-up: epochs before keep_from_epoch are never kept (an undertrained model
                # can score best on a small, noisy validation set when other parts carry it).
                start_from_epoch=max(int(train.get("keep_from_epoch", 1)) - 1, 0)))
        if train.get("reduce_lr"):
            callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=1))
        # Last: it saves (and after a SIGKILL, resume=true restores) the state of those before it.
        self.state = TrainingState(self.run.file("backup"), watched=callbacks)
        return callbacks + [self.state]

    def jit_compile(self):
        """``train.jit_compile``: ``"auto"`` (Keras decides), or a flag."""
        value = self.config.train.get("jit_compile", "auto")
        return "auto" if str(value) == "auto" else bool(value)

    def fit(self):
        self.nan_guard = StopOnNaN()
        self.model.compile(optimizer=self.optimizer(), jit_compile=self.jit_compile())
        self.log(f"precision: {self.model.dtype_policy.name}, jit_compile: {self.model.jit_compile}")
        callbacks = self.callbacks()
        if (latest := self.state.latest()) is not None:
            self.log(f"resume: restoring the training state saved after {latest.name} ({latest})")
        from tfseq import data

        validation = self.validation_data
        if validation is not None and self.strategy is not None:
            validation = data.even_first_batch(validation, self.strategy.num_replicas_in_sync)
        epochs, train, steps = int(self.config.train.epochs), self.train_data, None
        if isinstance(train, data.Epochs):  # each epoch's order from its number: resuming is exact
            train, steps = train.dataset(self.state.first_epoch(epochs), epochs), train.steps
        self.model.fit(
            train, validation_data=validation, epochs=epochs, steps_per_epoch=steps, callbacks=callbacks,
            shuffle=False,  # the tf.data pipeline shuffles (seeded, every epoch)
            verbose=int(self.config.train.get("verbose", 1)),
        )
        # The whole run's, restored epochs included (Keras' History holds only this fit's epochs).
        self.history, self.epochs, self.train_seconds = self.state.history, self.state.epochs, self.state.seconds
        if self.nan_guard.error:
            raise TrainingDiverged(self.nan_guard.error)

    def distribution(self):
        """The ``tf.distribute`` strategy of ``train.distribute`` (None for ``none``).

        ``mirrored``: synchronous data parallelism over every local GPU (the CPU if none);
        ``cpu:N``: over N logical CPU devices, which runs the multi-device path (per-replica
        batches, all-reduced gradients) on a machine without GPUs. ``train.batch_size`` is the
        global batch, split across the replicas.
        """
        name = str(self.config.train.get("distribute", "none") or "none")
        if name == "none":
            return None
        if keras.backend.backend() != "tensorflow":
            raise ValueError(f"train.distribute={name} needs KERAS_BACKEND=tensorflow (tf.distribute)")
        import tensorflow as tf

        if name == "mirrored":
            return tf.distribute.MirroredStrategy()
        if name.startswith("cpu:") and name[4:].isdigit() and int(name[4:]) >= 1:
            count = int(name[4:])
            cpu = tf.config.list_physical_devices("CPU")[0]
            try:
                tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
            except RuntimeError:  # TensorFlow already started: fine if it has those devices
                pass
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
            if len(devices) != count:
                raise ValueError(f"train.distribute={name}: TensorFlow already runs on {len(devices)} CPU "
                                 f"device(s) in this process; start a new process for {count}")
            return tf.distribute.MirroredStrategy(devices)
        raise ValueError(f"train.distribute={name!r}: expected none, mirrored or cpu:N")

    def execute(self) -> dict:
        """The whole run; returns the metrics written to ``metrics.json``. ``train.precision``
        is Keras' dtype policy while the run builds and trains its model (restored afterwards)."""
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(str(self.config.train.get("precision", "float32")))
        try:
            return self._execute()
        finally:
            keras.config.set_dtype_policy(previous)

    def _execute(self) -> dict:
        self.strategy = strategy = self.distribution()  # first: CPU devices are split before TensorFlow starts
        if "generate" in self.config:
            self.sampler()  # a bad generate.* says so now, not after training
        keras.utils.set_random_seed(int(self.config.seed))
        self.run.write_text("config.yaml", OmegaConf.to_yaml(self.config))
        self.prepare()
        self.run.write_text("config.yaml", OmegaConf.to_yaml(self.config))  # with the auto keys chosen
        with strategy.scope() if strategy else contextlib.nullcontext():
            if strategy:
                self.log(f"distribute: {strategy.num_replicas_in_sync} replicas "
                         f"({', '.join(strategy.extended.worker_devices)})")
            self.model = self.build_model()
            baseline = self.baseline()
            self.fit()
        metrics = self.evaluate()
        metrics["train_seconds"] = round(self.train_seconds, 2)
        metrics["epochs"] = self.epochs
        metrics["history"] = self.history  # every epoch's training and validation logs
        metrics["parameters"] = int(self.model.count_params())
        if baseline is not None:
            metrics["baseline"] = baseline
        if self.history:
            self.run.save_figure("learning_curves.png", plots.learning_curves(self.history))
        self.model.save(self.run.file("model.keras"))
        exported = self.export()
        if exported is not None:
            metrics["export"] = str(exported)
        self.run.write_json("metrics.json", metrics)
        # The run is complete: the resume state (weights and optimizer, ~250 MB) is not needed.
        shutil.rmtree(self.state.folder, ignore_errors=True)
        return metrics
