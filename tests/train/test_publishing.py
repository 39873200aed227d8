"""Publishing under races and faults: one name serves one kind of model; a resumed run finishes
the stage it died in, and publishes at most once."""

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tfseq import cli

TINY = [
    "backbone.units=8",
    "backbone.embedding_dim=8",
    "train.epochs=1",
    "train.batch_size=16",
    "train.verbose=0",
    "data.split=word",
    "data.ngrams=[1]",
    "backbone.layers=1",
    "baseline=false",
    "model.wide=none",
]


def table(path, labels, n=48):
    words = {label: [f"{label}{k}" for k in range(4)] for label in labels}
    rows = ["text,label"] + [
        f"{' '.join(words[label][(i + j) % 4] for j in range(3))} w{i},{label}"
        for i in range(n)
        for label in [labels[i % len(labels)]]
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.slow
def test_two_runs_started_together_publish_one_kind_under_one_name(tmp_path):
    """Both pass the check before training (nothing is published yet); at publishing, under the
    lock that numbers versions, the second sees the first's labels and is refused."""
    first = table(tmp_path / "alpha.csv", ["alpha", "beta"])
    second = table(tmp_path / "topics.csv", ["food", "sports", "tech"])
    exports = tmp_path / "saved_models"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tfseq.cli",
                "task=classify",
                f"data.train={train}",
                *TINY,
                f"run.root={tmp_path / 'runs' / train.stem}",
                f"export.dir={exports}",
                "export.name=shared",
                "run.preset=false",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for train in (first, second)
    ]
    results = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in processes]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, _, err in results if code == 2)
    assert "its newest version (1) has labels" in refused and "choose another export.name=" in refused
    (version,) = [p for p in (exports / "shared").iterdir() if p.name.isdigit()]
    published = json.loads((version / "tfseq.json").read_text())["labels"]
    winner = next(out for code, out, _ in results if code == 0)
    assert f"{exports / 'shared'} version 1" in winner and published in (["alpha", "beta"], ["food", "sports", "tech"])


@pytest.mark.slow
def test_a_resumed_run_finishes_the_stage_it_died_in(tmp_path, monkeypatch, capsys):
    from tfseq import export

    train = table(tmp_path / "mine.csv", ["alpha", "beta"])
    run_dir, exports = tmp_path / "run", tmp_path / "saved_models"
    args = [
        "task=classify",
        f"data.train={train}",
        *TINY,
        f"run.dir={run_dir}",
        f"export.dir={exports}",
        "export.tflite=true",
    ]
    save = export.save

    def full_disk(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(exports / "mine"))

    # 1. The disk fills while the SavedModel is written: preset/ is on disk, the export is not.
    monkeypatch.setattr(export, "save", full_disk)
    assert cli.train_main(args) == 2
    assert "no space left on the disk" in capsys.readouterr().err
    assert (run_dir / "preset" / "config.json").exists() and not (run_dir / "metrics.json").exists()
    monkeypatch.setattr(export, "save", save)
    # 2. Resumed: the preset is kept, the SavedModel published; now TFLite's disk is full.
    monkeypatch.setattr(export, "save_tflite", full_disk)
    assert cli.train_main([*args, "resume=true"]) == 2
    out = capsys.readouterr().out
    assert f"preset: {run_dir / 'preset'} (written by this run before it was resumed)" in out
    assert (exports / "classify-mine" / "1" / "saved_model.pb").exists()
    monkeypatch.undo()
    # 3. Resumed again: the SavedModel this run published is not published twice; TFLite is written.
    assert cli.train_main([*args, "resume=true"]) == 0
    out = capsys.readouterr().out
    assert "version 1 (published by this run before it was resumed)" in out
    assert sorted(p.name for p in (exports / "classify-mine").iterdir() if p.name.isdigit()) == ["1"]
    assert (exports / "classify-mine-tflite" / "1" / "model.tflite").exists()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert Path(metrics["export"]).name == "1" and Path(metrics["export_tflite"]).name == "1"
    assert not (run_dir / "backup").exists()  # finished: the resume state is gone


def test_the_guard_holds_at_the_moment_of_publishing(tmp_path):
    """A version of another kind appearing between the check before training and the publish is
    seen: the check runs again under the lock, just before the rename."""
    from tfseq import export

    folder = tmp_path / "shared"

    def write(tmp):
        (tmp / "saved_model.pb").write_bytes(b"x")

    export.write_atomically(
        folder,
        write,
        {"identity": {"task": "classify", "labels": ["a", "b"]}},
        identity={"task": "classify", "labels": ["a", "b"]},
    )
    with pytest.raises(export.ExportConflict, match=r"its newest version \(1\) has labels \[\"a\", \"b\"\]"):
        export.write_atomically(folder, write, {}, identity={"task": "classify", "labels": ["x", "y", "z"]})
    assert sorted(p.name for p in folder.iterdir()) == ["1"]  # (the lock is the folder's: no file)
    export.write_atomically(folder, write, {}, identity={"task": "classify", "labels": ["x", "y", "z"]}, replace=True)
    assert (folder / "2").exists()


def test_output_to_a_pipe_gets_a_line_per_epoch_and_warnings_go_to_the_run_log(tmp_path):
    train = table(tmp_path / "mine.csv", ["alpha", "beta"], n=96)
    script = (
        "import sys, warnings; from tfseq import cli\n"
        "import keras\n"
        "keras.callbacks.Callback.on_epoch_end = lambda self, *a, **k: warnings.warn('a note from a library')\n"
        "sys.exit(cli.train_main(sys.argv[1:]))"
    )
    args = [a for a in TINY if not a.startswith(("train.verbose", "train.epochs"))]
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "task=classify",
            f"data.train={train}",
            *args,
            "train.epochs=3",
            "train.batch_size=8",
            f"run.dir={tmp_path / 'run'}",
            f"export.dir={tmp_path / 'saved'}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    steps = [line for line in done.stdout.splitlines() if "step" in line]
    assert 1 <= len(steps) <= 3 and "\r" not in done.stdout  # Keras' verbose=2: a line per epoch, no bar
    assert "a note from a library" not in done.stderr  # kept off the screen ...
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "a note from a library" in log and "run folder:" in log  # ... and in the run's log


def test_a_full_disk_while_saving_the_state_names_its_folder(tmp_path, monkeypatch):
    import shutil

    import numpy as np

    from tfseq.train import callbacks

    usage = shutil.disk_usage(tmp_path)
    state = callbacks.TrainingState(tmp_path / "backup")

    class Model:
        stop_training = False

        def save_weights(self, path):
            raise RuntimeError("Unable to synchronously create file (file write failed)")  # as h5py says it

    state.set_model(Model())
    state.set_params({"epochs": 3})
    state._started, state._before = 0.0, 0.0
    monkeypatch.setattr(callbacks, "_random_states", lambda model: [np.zeros(2)])
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1000))
    with pytest.raises(OSError, match=r"No space left on device.*backup") as raised:
        state.on_epoch_end(0, {"loss": 1.0})
    assert raised.value.filename == str(tmp_path / "backup")
    from tfseq.console import one_line

    assert one_line(raised.value).startswith(f"{tmp_path / 'backup'}: no space left on the disk")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage)  # room: the error is what it was
    with pytest.raises(RuntimeError, match="file write failed"):
        state.on_epoch_end(0, {"loss": 1.0})
