"""train.track=mlflow against a real local MLflow store, and TensorBoard HParams for every run."""

import json

import pytest


def test_a_tracker_outside_the_choices_is_refused_when_the_recipe_is_read():
    from tfseq import recipes
    from tfseq.console import UsageError

    with pytest.raises(UsageError, match="train.track.*mlflow"):
        recipes.resolve("classify", [("train.track", "wandb")])


@pytest.mark.slow
def test_an_mlflow_run_holds_the_recipe_epochs_scores_and_reports_and_resumes(tmp_path):
    import mlflow
    import tensorflow as tf
    from test_classify import in_process_trainer

    from tfseq.train.tracking import MLflowTracker

    trainer = in_process_trainer(tmp_path, "train.track=mlflow", f"run.root={tmp_path / 'runs'}", "train.epochs=2")
    metrics = trainer.execute()
    folder = tmp_path / "run"
    saved = json.loads((folder / "tracking.json").read_text())
    assert saved["tracking_uri"] == f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    mlflow.set_tracking_uri(saved["tracking_uri"])
    client = mlflow.MlflowClient()
    run = client.get_run(saved["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["tfseq.task"] == "classify"
    # The recipe as resolved: the auto keys as chosen, not "auto".
    assert run.data.params["backbone.units"] == "8" and run.data.params["train.track"] == "mlflow"
    assert run.data.params["data.max_length"] == "50" and run.data.params["data.split"] == "word"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [0, 1]
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert run.data.metrics["validation_accuracy"] == pytest.approx(metrics["validation"]["accuracy"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "metrics.json", "classification_report.txt", "plots"} <= artifacts
    assert (tmp_path / "runs" / "mlartifacts").is_dir()

    # resume=true: the same folder continues its MLflow run; a run that fails says so.
    again = MLflowTracker(folder, trainer.config, "classify").start()
    assert again.active.info.run_id == run.info.run_id
    again.fail()
    assert client.get_run(run.info.run_id).info.status == "FAILED"

    # Every run, tracked or not, also writes its recipe and scores for TensorBoard's HPARAMS tab.
    (events,) = (folder / "tensorboard" / "hparams").glob("events.out.tfevents*")
    tags = {v.tag for e in tf.compat.v1.train.summary_iterator(str(events)) for v in e.summary.value}
    assert {"_hparams_/session_start_info", "validation/accuracy", "test/accuracy"} <= tags
