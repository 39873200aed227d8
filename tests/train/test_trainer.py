"""The task-independent training machinery: checkpoints, NaN guard, resumable training state."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from tfseq import console, recipes
from tfseq.train.callbacks import EpochCheckpoint, StopOnNaN, TrainingState


def test_checkpoints_are_written_every_epoch_and_only_the_newest_kept(tmp_path):
    x, y = np.zeros((8, 3), "float32"), np.zeros((8, 1), "float32")
    for keep, expected in (
        (1, ["epoch-003.keras"]),
        (2, ["epoch-002.keras", "epoch-003.keras"]),
        (-1, ["epoch-001.keras", "epoch-002.keras", "epoch-003.keras"]),
    ):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        folder = tmp_path / f"keep-{keep}"
        model.fit(x, y, epochs=3, verbose=0, callbacks=[EpochCheckpoint(folder, keep=keep)])
        assert sorted(p.name for p in folder.iterdir()) == expected  # no temporary files left
        assert keras.saving.load_model(folder / expected[-1]).count_params() == 4


def test_nan_loss_stops_training_naming_epoch_and_step(tmp_path):
    x = np.ones((8, 2), "float32")
    y = np.array([[0.0]] * 4 + [[np.nan]] * 4, "float32")  # the second batch's loss is NaN
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    guard, state = StopOnNaN(), TrainingState(tmp_path / "backup")
    history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=[guard, state])
    assert len(history.epoch) == 1  # stopped in the first epoch
    assert state.latest() is None  # NaN weights are no state to resume from
    assert guard.error.startswith("loss became nan at epoch 1, step 2")
    assert "train.clipnorm" in guard.error and "train.learning_rate" in guard.error


class Crash(keras.callbacks.Callback):
    """Stands in for a SIGKILL after an epoch: fit ends there, no on_train_end runs."""

    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after_epoch:
            raise KeyboardInterrupt


def stateful_fit(folder, epochs=5, crash_after=None, early_stopping=True):
    """Fit a tiny model with every stateful callback the trainer uses; returns model and state."""
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.1, use_ema=True, ema_momentum=0.5), loss="mse")
    # min_delta so large that no epoch after the first improves: early stopping keeps epoch 1's
    # weights and ReduceLROnPlateau halves the rate every epoch -- state a resume must carry.
    watched = [
        keras.callbacks.SwapEMAWeights(swap_on_epoch=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", min_delta=1e9, patience=0, factor=0.5),
    ]
    if early_stopping:
        watched.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e9, patience=9, restore_best_weights=True)
        )
    state = TrainingState(folder, watched=watched)
    callbacks = watched + [state] + ([Crash(crash_after)] if crash_after else [])
    try:
        model.fit(
            x, y, validation_data=(x, y), epochs=epochs, batch_size=8, shuffle=False, verbose=0, callbacks=callbacks
        )
    except KeyboardInterrupt:
        pass
    return model, state


@pytest.mark.parametrize("early_stopping", [True, False])
def test_a_resumed_run_ends_where_an_uninterrupted_run_ends(tmp_path, early_stopping):
    whole, whole_state = stateful_fit(tmp_path / "whole", early_stopping=early_stopping)
    stopped, _ = stateful_fit(tmp_path / "resumed", crash_after=2, early_stopping=early_stopping)
    assert [p.name for p in (tmp_path / "resumed").iterdir()] == ["epoch-002"]
    resumed, state = stateful_fit(tmp_path / "resumed", early_stopping=early_stopping)

    assert state.restored_from.name == "epoch-002" and state.epochs == 5
    # Same weights (early stopping's best epoch, or the moving average), optimizer state,
    # learning rate after four halvings, and the history of all five epochs.
    for a, b in zip(
        whole.get_weights() + [v.numpy() for v in whole.optimizer.variables],
        resumed.get_weights() + [v.numpy() for v in resumed.optimizer.variables],
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    assert float(resumed.optimizer.learning_rate.numpy()) == pytest.approx(0.1 / 2**4)
    assert state.history.keys() == whole_state.history.keys() and len(state.history["loss"]) == 5
    np.testing.assert_allclose(state.history["val_loss"], whole_state.history["val_loss"], rtol=1e-5)
    assert state.seconds > 0

    # A run killed after its fit (while evaluating) resumes with nothing left to train.
    again, again_state = stateful_fit(tmp_path / "resumed", early_stopping=early_stopping)
    assert again_state.epochs == 5 and len(again_state.history["loss"]) == 5
    for a, b in zip(whole.get_weights(), again.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    saved = json.loads((tmp_path / "resumed" / "epoch-005" / "state.json").read_text())
    assert saved["finished"] and saved["epochs"] == 5


DISTRIBUTED_FIT = """
import sys, contextlib, numpy as np, keras
from tfseq.models import LanguageModel, RecurrentBackbone
from tfseq.train.trainer import distribution
import tensorflow as tf

strategy = distribution(sys.argv[1])
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x, y = (rng.integers(2, 20, size=(96, 20)).astype("int32") for _ in range(2))
data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
with strategy.scope() if strategy else contextlib.nullcontext():
    model = LanguageModel(RecurrentBackbone(22, units=16, embedding_dim=8), 2)
    model(np.zeros((1, 2), "int32"))
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.fit(data, epochs=2, verbose=0)
np.save(sys.argv[2], np.concatenate([w.ravel() for w in model.get_weights()]))
print("replicas", strategy.num_replicas_in_sync if strategy else 1)
"""


@pytest.mark.slow
def test_two_cpu_replicas_train_the_same_weights_as_one_device(tmp_path):
    """train.distribute=cpu:2 (MirroredStrategy over two logical CPUs): each replica takes half
    of every batch; with plain SGD the summed gradients must equal one device's, which checks the
    models' own loss scaling (tfseq.models.losses.total_loss) exactly. (The trainer's shuffled
    pipelines are read in another order under a strategy, so this fits unshuffled data.)"""
    import subprocess
    import sys

    weights = {}
    for name in ("none", "cpu:2"):
        out = tmp_path / f"{name.replace(':', '')}.npy"
        done = subprocess.run([sys.executable, "-c", DISTRIBUTED_FIT, name, str(out)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"replicas {2 if name == 'cpu:2' else 1}" in done.stdout
        weights[name] = np.load(out)
    np.testing.assert_allclose(weights["cpu:2"], weights["none"], atol=1e-6)


def two_replica_lm(tmp_path):
    text = tmp_path / "t.txt"
    # 45 validation windows, fewer than a batch: an uneven first batch, which Keras' evaluate()
    # cannot split across the replicas unless the trainer cuts it (data.even_first_batch).
    text.write_text("".join(f"the {'cat' if i % 3 else 'dog'} sat on the mat\n" for i in range(400)))
    args = [
        "task=lm",
        "data.name=null",
        f"data.train={text}",
        "backbone.units=16",
        "backbone.embedding_dim=8",
        "train.batch_size=64",
        "data.steps=20",
        "train.epochs=2",
        "train.learning_rate=0.05",
        "baseline=false",
        "generate.prompts=[the]",
        "generate.length=5",
    ]
    return args, lambda metrics: metrics["test"]["perplexity"] < 3


def two_replica_classify(tmp_path):
    from test_classify import FAST, tiny_table

    # The wide experts are fitted and the mix is set inside the strategy's scope.
    args = ["task=classify", "data.name=null", f"data.train={tiny_table(tmp_path / 'train.csv', n=400)}", *FAST]
    return args, lambda metrics: metrics["test"]["accuracy"] > 0.9


@pytest.mark.slow
# classify under a strategy (experts fitted and the mix set in its scope) is the multi-worker test's run
@pytest.mark.parametrize("task", ["lm"])
def test_a_task_trains_on_two_cpu_replicas(tmp_path, task):
    import subprocess
    import sys

    args, good = {"lm": two_replica_lm, "classify": two_replica_classify}[task](tmp_path)
    args += [
        "train.verbose=0",
        "train.distribute=cpu:2",
        f"run.dir={tmp_path / 'run'}",
        f"export.dir={tmp_path / 'saved_models'}",
    ]
    done = subprocess.run([sys.executable, "-m", "tfseq.cli", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "distribute: 2 replicas" in done.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert good(metrics) and (tmp_path / "saved_models" / f"{task}-t" / "1" / "saved_model.pb").exists()


def free_ports(count):
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_train_in_sync_and_only_the_chief_writes(tmp_path):
    import os
    import re
    import subprocess
    import sys

    args, good = two_replica_classify(tmp_path)
    args += [
        "train.verbose=0",
        "train.distribute=multi_worker",
        "train.epochs=2",
        f"run.root={tmp_path / 'runs'}",
        f"export.dir={tmp_path / 'saved_models'}",
    ]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tfseq.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env={
                **os.environ,
                "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            },
        )
        for index in range(2)
    ]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]
    digests = [re.findall(r"multi_worker: weights sha256 (\w+)", out) for out, _ in outputs]
    assert len(digests[0]) == 1 and digests[0] == digests[1]  # the same weights on both
    assert "not the chief" in outputs[1][0] and "not the chief" not in outputs[0][0]
    (run,) = (tmp_path / "runs" / "classify").iterdir()  # one run folder, one export: the chief's
    assert good(json.loads((run / "metrics.json").read_text()))
    (published,) = (tmp_path / "saved_models").iterdir()
    assert [p.name for p in published.iterdir()] == ["1"]


def test_the_multi_worker_build_draws_no_batch_and_needs_the_model_built_first():
    import tensorflow as tf

    from tfseq.train.trainer import build_before_fit, patch_model_for_multi_worker

    class NeverDrawn:
        def __iter__(self):
            raise AssertionError("a batch was drawn")

    class Tiny(keras.Model):  # subclassed: unbuilt until its first call or build
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, inputs):
            return self.dense(keras.ops.cast(inputs["ids"], "float32"))

    data = tf.data.Dataset.from_tensor_slices(({"ids": np.ones((4, 3), "int32")}, np.zeros((4, 1), "float32")))
    model = Tiny()
    model.compile(optimizer="adam", loss="mse")
    patch_model_for_multi_worker(model)
    with pytest.raises(RuntimeError, match="must be built before fit"):
        model._maybe_symbolic_build(iterator=NeverDrawn())
    build_before_fit(model, data.batch(2))
    assert model.optimizer.built
    model._maybe_symbolic_build(iterator=NeverDrawn())  # fit's and evaluate's call: nothing drawn


def test_multi_worker_needs_a_cluster_in_tf_config(monkeypatch):
    from tfseq.train.trainer import chief

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs \\$TF_CONFIG"):
        chief()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not a cluster and task"):
        chief()
    cluster = {"worker": ["a:1", "b:1"]}
    for task, expected in [({"type": "worker", "index": 0}, True), ({"type": "worker", "index": 1}, False)]:
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
        assert chief() is expected
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": {**cluster, "chief": ["c:1"]}, "task": {"type": "worker", "index": 0}})
    )
    assert chief() is False


def test_even_first_batch_cuts_the_first_batch_to_a_multiple_of_the_replicas():
    import tensorflow as tf

    from tfseq import data

    x = np.arange(21, dtype="int32")
    ds = tf.data.Dataset.from_tensor_slices(({"tokens": x}, x * 10)).batch(5)
    cut = data.even_first_batch(ds, 2)
    batches = [(b[0]["tokens"].numpy().tolist(), b[1].numpy().tolist()) for b in cut]
    assert [len(rows) for rows, _ in batches] == [4, 1, 5, 5, 5, 1]
    assert sum((rows for rows, _ in batches), []) == x.tolist()  # every row once, in order
    assert all(np.array_equal(np.array(t), np.array(rows) * 10) for rows, t in batches)
    assert data.even_first_batch(ds, 5) is ds  # already even: untouched
    with pytest.raises(ValueError, match="first batch has 1 row"):
        data.even_first_batch(tf.data.Dataset.from_tensor_slices(x[:1]).batch(4), 2)


def small_run(tmp_path, task):
    """Overrides for a seconds-long run of ``task`` on the test files' tiny data."""
    if task == "classify":
        from test_classify import FAST, tiny_table

        return [f"data.train={tiny_table(tmp_path / 'train.csv')}", *FAST, "train.epochs=1"]
    if task == "tag":
        from test_tag import FAST, conll

        return [f"data.train={conll(tmp_path / 'train.txt', n=60)}", *FAST, "train.epochs=1"]
    from test_lm import FAST, lines

    return [f"data.train={lines(tmp_path / 'train.txt', n=80)}", *FAST, "train.epochs=1", "generate.length=3"]


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classify", "tag", "lm"])
def test_mixed_bfloat16_computes_in_16_bits_and_keeps_float32_weights_and_outputs(tmp_path, task):
    from tfseq import tasks
    from tfseq.train.run_folder import RunFolder
    from tfseq.train.trainer import Trainer

    overrides = [
        *small_run(tmp_path, task),
        "train.precision=mixed_bfloat16",
        "baseline=false",
        f"export.dir={tmp_path / 'export'}",
        f"run.dir={tmp_path / 'run'}",
    ]
    config = recipes.resolve(task, [tuple(o.split("=", 1)) for o in overrides])
    logged = []
    trainer = Trainer(tasks.task_class(task)(config, RunFolder(path=config.run.dir), log=logged.append))
    metrics = trainer.execute()
    assert keras.config.dtype_policy().name == "float32"  # the run's policy does not leak
    model = trainer.model
    assert "precision: mixed_bfloat16, jit_compile: False" in logged
    # the tagger's English auto recipe is an LSTM, the others GRUs
    recurrent = [layer for layer in model._flatten_layers() if any(c in layer.name.lower() for c in ("gru", "lstm"))]
    assert recurrent and all(layer.compute_dtype == "bfloat16" for layer in recurrent)
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    assert all(np.isfinite(v) for v in metrics["history"]["loss"])
    headline = {"classify": "accuracy", "tag": "accuracy", "lm": "perplexity"}[task]
    assert np.isfinite(metrics["test"][headline])
    import tensorflow as tf

    serve = tf.saved_model.load(metrics["export"]).signatures["serving_default"]
    out = serve(text=tf.constant(["the big dog", ""]))
    floats = [v for v in out.values() if v.dtype.is_floating]
    assert all(v.dtype == tf.float32 and np.all(np.isfinite(v.numpy())) for v in floats)


def test_cells_that_may_take_cudnn_are_not_jit_compiled_under_tensorflow():
    from tfseq.layers import GRU, LSTM, SimpleRNN

    assert not LSTM(4).supports_jit and not GRU(4).supports_jit  # as keras.layers.LSTM/GRU
    assert SimpleRNN(4).supports_jit and GRU(4, use_cudnn=False).supports_jit
    assert GRU(4, activation="relu").supports_jit  # not cuDNN's: always the loop


@pytest.mark.slow
def test_callbacks_of_your_own_see_every_epoch_with_the_averaged_weights(tmp_path):
    """Trainer(task, callbacks=[...]): yours run after the trainer's, so under train.ema they see the
    averaged weights (those saved and scored), with the task's data at hand."""
    from tfseq import tasks
    from tfseq.train.run_folder import RunFolder
    from tfseq.train.trainer import Trainer

    overrides = [
        *small_run(tmp_path, "classify"),
        "train.epochs=2",
        "train.ema=0.5",
        "train.early_stopping=0",
        "baseline=false",
        "export.enabled=false",
        f"run.dir={tmp_path / 'run'}",
    ]
    config = recipes.resolve("classify", [tuple(o.split("=", 1)) for o in overrides])
    seen = []

    traces = []

    class Watch(keras.callbacks.Callback):
        def set_model(self, model):  # before fit makes its training step
            super().set_model(model)
            if "train_step" not in vars(model):  # its Python runs once per trace of the step
                model.train_step = lambda data, step=model.train_step: traces.append(1) or step(data)

        def on_epoch_end(self, epoch, logs=None):
            seen.append(
                (epoch, len(trainer.task.targets["validation"]), [np.array(v) for v in self.model.trainable_weights])
            )

    trainer = Trainer(tasks.task_class("classify")(config, RunFolder(path=config.run.dir), log=print), [Watch()])
    trainer.execute()
    assert [epoch for epoch, _, _ in seen] == [0, 1] and seen[0][1] > 0
    final = [np.array(v) for v in trainer.model.trainable_weights]
    assert all(np.array_equal(a, b) for a, b in zip(seen[-1][2], final))  # the averaged weights, as kept
    # Built before fit (optimizer slots and metrics): one trace, not a second for new variables.
    assert len(traces) == 1


@pytest.mark.slow
def test_a_cosine_schedule_falls_from_the_rate_to_zero_over_the_run(tmp_path):
    from tfseq import tasks
    from tfseq.train.run_folder import RunFolder
    from tfseq.train.trainer import Trainer

    overrides = [
        *small_run(tmp_path, "classify"),
        "train.epochs=2",
        "train.early_stopping=0",
        "train.reduce_lr=true",
        "train.schedule=cosine",
        "train.learning_rate=0.01",
        "baseline=false",
        "export.enabled=false",
        f"run.dir={tmp_path / 'run'}",
    ]
    config = recipes.resolve("classify", [tuple(o.split("=", 1)) for o in overrides])
    logged = []
    trainer = Trainer(tasks.task_class("classify")(config, RunFolder(path=config.run.dir), log=logged.append))
    metrics = trainer.execute()
    # The rate each epoch ended at: half way down the cosine, then 0 (no plateau halving on top).
    assert np.allclose(metrics["history"]["learning_rate"], [0.005, 0.0], atol=1e-7)
    assert "reduce_lr: off (train.schedule=cosine sets the rate at every step)" in logged
    assert not any(isinstance(c, keras.callbacks.ReduceLROnPlateau) for c in trainer.callbacks())
    with pytest.raises(Exception, match="train.schedule='linear': expected one of constant, cosine"):
        recipes.resolve("classify", [("train.schedule", "linear")])


def test_a_disk_too_small_for_the_run_is_said_before_training(tmp_path, monkeypatch):
    import shutil

    from tfseq.train import trainer

    usage = shutil.disk_usage(tmp_path)
    small = trainer.run_writes(4_000_000, 4_000_000, 10_000)
    trainer.check_disk(tmp_path / "run", tmp_path / "saved" / "classify-x", small)  # room enough
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=50_000_000))
    big = trainer.run_writes(68_000_000, 68_000_000, 10_000)  # 17M parameters
    with pytest.raises(
        trainer.DiskFull,
        match=r"50 MB free on its disk, and this run writes about [\d,]+ MB there "
        r"\(backup/ [\d.,]+ MB, model.keras [\d.,]+ MB, preset/ [\d.,]+ MB, "
        r"logs and plots [\d.,]+ MB, the SavedModel [\d.,]+ MB\)",
    ):
        trainer.check_disk(tmp_path, tmp_path / "saved" / "classify-x", big)
    # Only what goes to a disk is named there: the export's disk is short, the run's is not.
    devices = {str(tmp_path / "run"): 1, str(tmp_path / "saved"): 2}
    real_stat = Path.stat

    class Stat:
        def __init__(self, st_dev):
            self.st_dev = st_dev

    monkeypatch.setattr(
        Path,
        "stat",
        lambda self, **k: Stat(devices.get(str(self), 0)) if str(self) in devices else real_stat(self, **k),
    )
    (tmp_path / "run").mkdir()
    (tmp_path / "saved").mkdir()
    monkeypatch.setattr(
        shutil, "disk_usage", lambda path: usage._replace(free=10**12 if str(path).endswith("run") else 1_000_000)
    )
    with pytest.raises(
        trainer.DiskFull,
        match=r"saved: 1 MB free on its disk, and this run writes about [\d,]+ MB there "
        r"\(the SavedModel [\d.,]+ MB\)",
    ):
        trainer.check_disk(tmp_path / "run", tmp_path / "saved" / "classify-x", small)


@pytest.mark.slow
def test_the_disk_estimate_is_within_half_again_of_what_a_run_writes(tmp_path, monkeypatch):
    """The estimate beside the bytes a run (and its export) wrote at their peak."""
    import shutil

    from test_classify import tiny_table

    from tfseq import cli
    from tfseq.train import trainer

    estimates = []
    real_check = trainer.check_disk
    monkeypatch.setattr(
        trainer, "check_disk", lambda run, export, writes: estimates.append(writes) or real_check(run, export, writes)
    )
    kept, rmtree = [], shutil.rmtree  # backup/ is removed when the run ends: measured first
    monkeypatch.setattr(shutil, "rmtree", lambda path, **k: kept.append(size_of(Path(path))) or rmtree(path, **k))

    def size_of(path):
        path = Path(path)
        return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

    train = tiny_table(tmp_path / "mine.csv", n=200)
    assert (
        cli.train_main(
            [
                "task=classify",
                f"data.train={train}",
                "train.epochs=2",
                "train.verbose=0",
                f"run.dir={tmp_path / 'run'}",
                f"export.dir={tmp_path / 'saved'}",
            ]
        )
        == 0
    )
    (writes,) = estimates
    run = tmp_path / "run"
    state = kept[0]  # one epoch's state (backup/ holds one, two while the next is written)
    written = {
        "run": max(2 * state, state + size_of(run / "model.keras") + size_of(run / "preset"))
        + size_of(run)
        - size_of(run / "model.keras")
        - size_of(run / "preset"),
        "export": size_of(tmp_path / "saved"),
    }
    parts = {
        "state": state,
        "model.keras": size_of(run / "model.keras"),
        "preset": size_of(run / "preset"),
        "rest": size_of(run) - size_of(run / "model.keras") - size_of(run / "preset"),
    }
    for disk in ("run", "export"):
        estimate = sum(size for _, size in writes[disk])
        assert 1 / 1.5 <= estimate / written[disk] <= 1.5, (disk, estimate, written[disk], writes[disk], parts)


def test_a_full_disk_while_writing_is_one_line():
    import errno

    line = console.one_line(OSError(errno.ENOSPC, "No space left on device", "runs/classify/1/model.keras"))
    assert line == (
        "runs/classify/1/model.keras: no space left on the disk: free some space, or set run.root= "
        "and export.dir= to a larger disk"
    )


@pytest.mark.slow
def test_a_run_on_a_full_disk_stops_in_one_line_before_training(tmp_path):
    """A real 1 MB disk (tmpfs, where this user may mount one): before, the run trained, then Keras'
    weights file met the full disk with an h5py error storm and a segfault (rc 139)."""
    import subprocess
    import sys

    from test_classify import FAST, tiny_table

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        train = tiny_table(tmp_path / "train.csv")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tfseq.cli",
                "task=classify",
                f"data.train={train}",
                *FAST,
                f"run.root={disk / 'runs'}",
                f"export.dir={disk / 'saved'}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 2, done.stderr[-3000:]
        err = done.stderr.strip()
        assert len(err.splitlines()) == 1 and "MB free on its disk" in err and str(disk) in err, err
        assert not any((disk / "runs" / "classify").iterdir())  # no half run left for resume=true to take
    finally:
        subprocess.run(["umount", str(disk)])


@pytest.mark.slow
def test_the_command_lines_start_quietly_unless_verbose():
    import subprocess
    import sys

    def stderr_of(code):
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stderr

    loud = stderr_of("import tensorflow")
    quiet = stderr_of("from tfseq import cli, console; console.start_tensorflow(); import tensorflow, keras")
    assert quiet == "", quiet
    if loud:  # what TensorFlow prints on this machine ("Could not find cuda drivers", twice) is kept with --verbose
        kept = stderr_of("from tfseq import cli, console; console.start_tensorflow(verbose=True)")
        assert (
            len(kept.splitlines()) == len(loud.splitlines())
            and kept.splitlines()[-1][-40:] == loud.splitlines()[-1][-40:]
        )


def test_a_new_version_says_how_it_compares_with_the_one_it_replaces(tmp_path):
    from omegaconf import OmegaConf

    from tfseq.train.trainer import served_before

    published = tmp_path / "saved_models" / "classify-mine"
    config = OmegaConf.create({"data": {"name": None, "train": "mine.csv", "validation": None, "test": None}})
    mine = {"headline": "accuracy", "test": {"accuracy": 0.80}}
    assert served_before(published, config, mine) == ""  # nothing served yet

    run = tmp_path / "runs" / "old"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(OmegaConf.to_yaml(config))
    (run / "metrics.json").write_text(json.dumps({"headline": "accuracy", "test": {"accuracy": 0.85}}))
    (published / "3").mkdir(parents=True)
    (published / "3" / "saved_model.pb").write_bytes(b"")
    (published / "3" / "tfseq.json").write_text(json.dumps({"run": str(run)}))
    said = served_before(published, config, mine)
    assert said == (
        f", now the one served (test accuracy 0.8000; version 3's 0.8500 on the same data: WORSE; "
        f"version 3 stays on disk: tfseq-predict {published}/3 answers with it)"
    )
    assert served_before(published, config, {"headline": "accuracy", "test": {"accuracy": 0.9}}).endswith(": better)")
    other = OmegaConf.merge(config, {"data": {"train": "other.csv"}})
    assert served_before(published, other, mine) == ""  # other data: scores not comparable
    (run / "metrics.json").unlink()
    assert served_before(published, config, mine) == ""  # its run folder is gone


def test_early_stopping_and_rate_cuts_wait_until_the_network_beats_the_bar():
    """A small file's validation F1 sits near 0 for epochs (the tagger still answers O): no patience
    is counted and no rate cut until the score beats the bar; the best epoch is still kept."""
    from tfseq.train.callbacks import PatientEarlyStopping, PatientReduceLROnPlateau

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    stop = PatientEarlyStopping(monitor="val_f1", mode="max", patience=1, restore_best_weights=True, bar=0.5)
    cut = PatientReduceLROnPlateau(monitor="val_f1", mode="max", factor=0.5, patience=1, bar=0.5)
    plain = keras.callbacks.EarlyStopping(monitor="val_f1", mode="max", patience=1)
    for callback in (stop, cut, plain):
        callback.set_model(model)
        callback.on_train_begin()
    scores = [0.0, 0.02, 0.01, 0.02, 0.3, 0.6, 0.6, 0.6]
    stopped_at = {}
    for epoch, score in enumerate(scores):
        for name, callback in (("patient", stop), ("plain", plain)):
            model.stop_training = False
            callback.on_epoch_end(epoch, {"val_f1": score})
            if model.stop_training:
                stopped_at.setdefault(name, epoch)
        cut.on_epoch_end(epoch, {"val_f1": score})
        if epoch == 4:  # below the bar all along: the rate is untouched
            assert float(model.optimizer.learning_rate) == pytest.approx(0.1) and not stop.beaten
    assert stopped_at == {"plain": 2, "patient": 6}  # patience counted from the epoch that beat 0.5
    assert stop.beaten and stop.best == 0.6 and stop.best_epoch == 5
    # Halved at each epoch without improvement once the bar was beaten (epochs 7 and 8), not before.
    assert float(model.optimizer.learning_rate) == pytest.approx(0.025)
    # No bar: Keras' own behaviour.
    keras_like = PatientEarlyStopping(monitor="val_f1", mode="max", patience=1)
    keras_like.set_model(model)
    keras_like.on_train_begin()
    model.stop_training = False
    for epoch, score in enumerate(scores[:3]):
        keras_like.on_epoch_end(epoch, {"val_f1": score})
    assert model.stop_training and keras_like.stopped_epoch == 2


def test_a_saved_figure_is_written_whole_and_closed(tmp_path):
    import matplotlib.pyplot as plt

    from tfseq.train import plots
    from tfseq.train.run_folder import RunFolder

    run = RunFolder(path=tmp_path / "run")
    before = len(plt.get_fignums())
    for _ in range(3):  # a sweep's runs: the figures must not pile up in pyplot
        path = run.save_figure(
            "learning_curves.png", plots.learning_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
        )
    assert path.read_bytes().startswith(b"\x89PNG") and len(plt.get_fignums()) == before
