"""Runs where teams look: TensorBoard's HParams for every run, MLflow on request.

* :func:`write_hparams`: every run writes its recipe's keys (resolved, ``auto`` values as chosen)
  and its validation and test scores to ``<run>/tensorboard/hparams``, so TensorBoard's HPARAMS
  tab (``tensorboard --logdir runs``) compares runs, sweeps or not, by what chose them
  (validation) and what they report (test).
* :class:`MLflowTracker` (``train.track=mlflow``, ``pip install 'tfseq[mlflow]'``): an MLflow run
  per tfseq run, with the recipe as params, every epoch's logs as metrics (step = epoch), the
  validation, test and bar scores, and the run folder's reports, plots, log and the export as
  artifacts. The store is ``$MLFLOW_TRACKING_URI`` if set, else a SQLite file in ``run.root``
  (``<run.root>/mlflow.db``, artifacts in ``<run.root>/mlartifacts``): ``mlflow ui
  --backend-store-uri sqlite:///runs/mlflow.db`` shows it. A resumed run continues its MLflow run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras

from tfseq import choices, recipes

TRACKERS = choices.TRACKERS  # train.track
REPORTS = ("config.yaml", "metrics.json", "log.txt", "classification_report.txt", "examples.txt", "samples.txt")


def params_of(config) -> dict:
    """The recipe's keys as flat ``{key: value}``, values as TensorBoard and MLflow take them
    (numbers, strings, booleans; lists and null written as text)."""
    flat = {}
    for key, value in recipes.flat_keys(config):
        value = recipes.plain(value)
        flat[key] = value if isinstance(value, (bool, int, float, str)) else json.dumps(value)
    return flat


def headline_scores(metrics: dict) -> dict:
    """``{"validation/<headline>": v, "test/<headline>": v}`` (and the bar's test score) of a
    run's metrics: what chose it and what it reports."""
    key = metrics.get("headline")
    scores = {}
    for split in ("validation", "test"):
        value = metrics.get(split, {}).get(key)
        if isinstance(value, (int, float)):
            scores[f"{split}/{key}"] = float(value)
    bar = metrics.get("baseline", {}).get("test", {}).get(key)
    if isinstance(bar, (int, float)):
        scores[f"baseline/test/{key}"] = float(bar)
    return scores


def write_hparams(run_folder, config, metrics: dict, trial: str) -> Path:
    """The run's recipe and scores as TensorBoard HParams in ``<run>/tensorboard/hparams``."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    folder = Path(run_folder) / "tensorboard" / "hparams"
    with tf.summary.create_file_writer(str(folder)).as_default():
        hp.hparams(params_of(config), trial_id=trial)
        for name, value in headline_scores(metrics).items():
            tf.summary.scalar(name, value, step=0)
    return folder


class MLflowTracker(keras.callbacks.Callback):
    """An MLflow run for a tfseq run (see the module docstring). ``start`` before training (the
    recipe as params), as a Keras callback every epoch's logs, ``finish`` with the metrics and
    artifacts; ``fail`` marks it failed. The MLflow run's id is kept in ``<run>/tracking.json``,
    so ``resume=true`` goes on logging into it."""

    def __init__(self, run_folder, config, task: str):
        super().__init__()
        try:
            import mlflow
        except ImportError as error:
            raise ValueError(
                "train.track=mlflow needs MLflow's client: pip install 'tfseq[mlflow]' (mlflow-skinny and "
                "SQLAlchemy, for a local SQLite store), or train.track=none"
            ) from error
        self.mlflow, self.folder, self.config, self.task = mlflow, Path(run_folder), config, task
        self.active = None

    def store(self) -> tuple[str, str | None]:
        """The tracking URI and, for the default local store, where its artifacts go."""
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"], None
        root = Path(str(self.config.run.root)).absolute()
        root.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{root / 'mlflow.db'}", (root / "mlartifacts").as_uri()

    def start(self):
        mlflow = self.mlflow
        uri, artifacts = self.store()
        mlflow.set_tracking_uri(uri)
        experiment = mlflow.get_experiment_by_name(self.task)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else mlflow.create_experiment(self.task, artifact_location=artifacts)
        )
        saved = self.folder / "tracking.json"
        run_id = json.loads(saved.read_text())["mlflow_run_id"] if saved.exists() else None
        self.active = mlflow.start_run(run_id=run_id, experiment_id=experiment_id, run_name=self.folder.name)
        if run_id is None:
            saved.write_text(json.dumps({"mlflow_run_id": self.active.info.run_id, "tracking_uri": uri}) + "\n")
            mlflow.log_params(params_of(self.config))
            mlflow.set_tags({"tfseq.task": self.task, "tfseq.run_folder": str(self.folder)})
        return self

    def on_epoch_end(self, epoch, logs=None):
        numbers = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float)) or hasattr(v, "item")}
        if numbers and self.active is not None:
            self.mlflow.log_metrics(numbers, step=epoch)

    def finish(self, metrics: dict, exports=()):
        """The run's scores and artifacts, then the MLflow run ends (FINISHED)."""
        mlflow = self.mlflow
        scores = {}
        for split in ("validation", "test"):
            for key, value in metrics.get(split, {}).items():
                if isinstance(value, (int, float)):
                    scores[f"{split}_{key}"] = float(value)
        scores.update({name.replace("/", "_"): value for name, value in headline_scores(metrics).items()})
        mlflow.log_metrics(scores)
        for name in REPORTS:
            if (self.folder / name).is_file():
                mlflow.log_artifact(str(self.folder / name))
        for plot in sorted(self.folder.glob("*.png")):
            mlflow.log_artifact(str(plot), artifact_path="plots")
        for kind, folder in exports:
            mlflow.log_artifacts(str(folder), artifact_path=f"export/{kind}")
        mlflow.end_run("FINISHED")
        self.active = None

    def fail(self):
        if self.active is not None:
            self.mlflow.end_run("FAILED")
            self.active = None


def tracker(run_folder, config, task: str):
    """The tracker of ``train.track`` (None for ``none``)."""
    name = str(config.train.track)
    if name not in TRACKERS:
        raise ValueError(f"train.track={name!r}: expected one of {', '.join(TRACKERS)}")
    return MLflowTracker(run_folder, config, task) if name == "mlflow" else None
