"""Runs from the command line's configs: one run (its folder, log and warnings), a sweep (each run
published only when it beats the ones before on validation; a table; TensorBoard HParams),
resume (the run to continue) and the checks of where a run writes. Light to import: TensorFlow
loads with the first run."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from tfseq.console import UsageError, one_line
from tfseq.recipes import load_recipe


def headline(metrics: dict) -> str:
    """The metric a run is judged by, as its task said (``metrics.json``'s ``headline``)."""
    return metrics.get("headline") or "loss"


def lost_to_bar(metrics: dict) -> str | None:
    """The run's last line when its model does not beat the bar printed beside it on test (a tie
    has not won either), with what to try; None when it does, or there is no bar."""
    from tfseq.train.scores import better

    key = headline(metrics)
    mine, bar = metrics.get("test", {}).get(key), metrics.get("baseline", {}).get("test", {}).get(key)
    if mine is None or bar is None or better(key, mine, bar):
        return None
    return (
        f"note: the model does not beat its bar on test ({key} {mine:.4f}, the bar's {bar:.4f}); the bar "
        f"({metrics['baseline'].get('model', 'baseline')}) is the better answer for this data. More training data, "
        "more epochs (train.epochs=), or no early stopping (train.early_stopping=0) may change that."
    )


def summary_table(rows) -> str:
    key = headline(rows[0][1]) if rows else "accuracy"
    header = ["run", f"val {key}", f"test {key}", f"baseline {key}", "params", "train s"]
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for label, metrics in rows:
        test, val = metrics.get("test", {}), metrics.get("validation", {})
        base = metrics.get("baseline", {}).get("test", {})
        lines.append(
            " | ".join(
                [
                    label,
                    *(f"{part.get(key, float('nan')):.4f}" for part in (val, test, base)),
                    f"{metrics.get('parameters', 0):,}",
                    f"{metrics.get('train_seconds', 0):.0f}",
                ]
            )
        )
    return "\n".join(lines)


class SweepPublisher:
    """A sweep publishes a run's export only when it is better on validation (by the task's
    headline) than every run before it, so what is served at the end is the sweep's best run by
    validation, never just its last."""

    def __init__(self):
        self.best = None  # (value, label)

    def __call__(self, label):
        def publish(metrics) -> str | None:
            key = headline(metrics)
            value = metrics.get("validation", {}).get(key)
            if value is None:
                return None  # nothing to compare on: published
            if self.best is not None:
                from tfseq.train.scores import better

                if not better(key, value, self.best[0]):
                    return (
                        f"validation {key} {value:.4f} is not better than {self.best[1]}'s {self.best[0]:.4f}, "
                        f"whose export stays the one served"
                    )
            self.best = (value, label)
            return None

        return publish


def run_one(task, config, log=print, publish=None) -> dict:
    from tfseq import tasks
    from tfseq.train.run_folder import RunFolder
    from tfseq.train.trainer import Trainer

    task = Path(task).stem  # task=my-recipe.yaml runs in runs/my-recipe/
    if str(config.train.distribute) == "multi_worker":
        from tfseq.train.trainer import chief

        if config.resume:
            raise UsageError(
                "resume=true with train.distribute=multi_worker: not supported (each worker "
                "would need the chief's training state); start the run anew"
            )
        if not chief():  # trains like the chief; what it writes goes to a scratch folder, then away
            with tempfile.TemporaryDirectory(prefix="tfseq-worker-") as scratch:
                config.run.dir, config.export.dir = f"{scratch}/run", f"{scratch}/export"
                log("multi_worker: not the chief; its run folder and export are scratch, removed at the end")
                return Trainer(
                    tasks.task_class(config.task)(config, RunFolder(path=config.run.dir), log=log), publish=publish
                ).execute()
    run_path = config.run.dir  # resume=true: the run continued (continue_run)
    run = RunFolder(config.run.root, task, path=run_path)
    log = logged(log, run.file("log.txt"))
    log(f"run folder: {run}")
    try:
        with warnings_to(run.file("log.txt")):
            metrics = Trainer(tasks.task_class(config.task)(config, run, log=log), publish=publish).execute()
    except Exception:
        # Failed before training began (bad data, bad recipe): a folder holding only its config
        # is no run, and must not become the "newest unfinished run" that resume=true continues.
        if run_path is None and {p.name for p in run.path.iterdir()} <= {"config.yaml", "log.txt"}:
            shutil.rmtree(run.path, ignore_errors=True)
            log(f"run folder removed: {run} (the run failed before training began)")
        raise
    log(f"run folder: {run}")
    return {**metrics, "run_folder": str(run)}


def logged(log, path: Path):
    """``log`` that also appends each line to ``path`` (the run's ``log.txt``)."""

    def both(line):
        log(line)
        if path.parent.is_dir():  # (not after a run that failed before training was removed)
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(f"{line}\n")

    return both


@contextlib.contextmanager
def warnings_to(path: Path):
    """Python warnings raised in the block by code other than tfseq's (seqeval's undefined
    metric, Keras' notes, TensorFlow's deprecations: nothing a user can act on) go to ``path``
    (the run's ``log.txt``), not the screen; tfseq's own are shown as usual."""
    import warnings

    own = str(Path(__file__).parent)
    show = warnings.showwarning

    def to_log(message, category, filename, lineno, file=None, line=None):
        if str(filename).startswith(own):
            return show(message, category, filename, lineno, file, line)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():
        warnings.showwarning = to_log
        yield


# Keys that may differ from a resumed run's config.yaml: where it is, and how much is printed.
RESUME_FREE = ("resume", "run.dir", "run.root", "train.verbose")


def continue_run(task, config, given):
    """``resume=true``: the run to continue (``run.dir``, or the newest unfinished run of ``task``
    under ``run.root``) with its own ``config.yaml``, so a run on the user's files resumes on
    them. A key ``given`` on the command line that differs from that config is refused: it
    would be another run. Without an unfinished run, ``config`` starts anew when the command line
    describes a run (a job script that reruns one command until it ends); a bare ``resume=true`` is
    refused instead, since it would train the recipe's built-in data."""
    from omegaconf import OmegaConf

    from tfseq import recipes
    from tfseq.train.run_folder import RunFolder

    path = Path(config.run.dir) if config.run.dir else RunFolder.latest(config.run.root, Path(task).stem)
    if path is None or not (path / "config.yaml").exists():
        if path is not None and any(path.iterdir()):
            raise UsageError(
                f"resume=true: {path} holds no config.yaml, so it cannot be continued; "
                f"start a new run without resume=true"
            )
        if not any(key not in RESUME_FREE for key, _ in given):
            # README's bare line after a run that finished: starting the recipe's built-in data instead
            # would train something the user never asked for.
            done = RunFolder.latest(config.run.root, Path(task).stem, finished=True)
            newest = f" (the newest, {done}, is complete: see its metrics.json)" if done else ""
            raise UsageError(
                f"resume=true: no unfinished run of {Path(task).stem} under {config.run.root}{newest}; "
                f"start a new run without resume=true"
            )
        print(f"resume: no unfinished run of {Path(task).stem} under {config.run.root}; starting anew")
        return config
    if (path / "metrics.json").exists():
        raise UsageError(f"resume=true: {path} is complete (it has metrics.json); start a new run without resume=true")
    try:
        saved = OmegaConf.load(path / "config.yaml")
    except Exception as error:
        raise UsageError(
            f"{path / 'config.yaml'}: malformed YAML ({one_line(error)}); this run cannot be resumed"
        ) from None
    recipe = load_recipe(task)
    saved = recipes.moved_to_new_names(saved, recipe)  # a run begun before a key moved
    if saved.get("task") != recipe.task:
        raise UsageError(f"resume=true: {path} is a run of task={saved.get('task')}, not {recipe.task}")
    for key, _ in given:
        if key in RESUME_FREE:
            continue
        mine = OmegaConf.select(config, key)
        theirs = OmegaConf.select(saved, key, default=None)
        plain = [recipes.plain(v) for v in (mine, theirs)]
        if plain[0] != plain[1] and not (plain[0] == "auto" and OmegaConf.select(recipe, key) == "auto"):
            raise UsageError(
                f"resume=true continues {path} as it was started, with {key}={plain[1]}; "
                f"{key}={plain[0]} was given: drop it to continue that run, or start a new run "
                f"without resume=true"
            )
    resumed = OmegaConf.merge(recipe, saved)  # keys added to the recipe since the run began: defaults
    resumed.resume, resumed.run.dir = True, str(path)
    if "train.verbose" in dict(given):
        resumed.train.verbose = config.train.verbose
    OmegaConf.set_struct(resumed, True)
    try:
        recipes.check_choices(resumed, recipe)
    except recipes.RecipeError as error:
        raise UsageError(f"{path / 'config.yaml'}: {error}") from None
    print(
        f"resume: continuing {path} with its config.yaml"
        + "".join(
            f" {k}={OmegaConf.select(saved, k)}" for k in recipes.FILE_KEYS if OmegaConf.select(saved, k, default=None)
        )
    )
    return resumed


def check_paths(config) -> None:
    """The files and folders a run reads and writes, checked before TensorFlow starts: data files
    are files, the images a folder, and ``run.root``, ``run.dir`` and ``export.dir`` folders this
    user can write (a file there used to be found after the whole training)."""
    from omegaconf import OmegaConf

    from tfseq import recipes

    for key in recipes.FILE_KEYS:
        value = OmegaConf.select(config, key, default=None)
        if not value:
            continue
        path, folder = Path(str(value)).expanduser(), key == "data.images"
        if not path.exists():
            raise UsageError(f"{key}={value}: no such {'folder' if folder else 'file'}")
        if path.is_dir() != folder:
            raise UsageError(
                f"{key}={value} is a {'file' if folder else 'folder'}; expected a "
                f"{'folder of images' if folder else 'file'}"
            )
    embeddings = OmegaConf.select(config, "model.embeddings", default=None)
    if embeddings and str(embeddings) != "auto":
        from tfseq import vectors

        try:
            vectors.check(embeddings)  # a file or named vectors (fetched later, when the run starts)
        except vectors.VectorsError as error:
            raise UsageError(str(error)) from None
    folders = ["run.root", "run.dir"] + (["export.dir"] if config.export.enabled else [])
    for key in folders:
        value = OmegaConf.select(config, key, default=None)
        if value:
            writable_folder(key, Path(str(value)).expanduser())
    run_dir = config.run.dir
    if run_dir and not config.resume and Path(run_dir).is_dir() and any(Path(run_dir).iterdir()):
        raise UsageError(
            f"run.dir={run_dir} holds a run already: resume=true continues it; give a new folder for a new run"
        )


def writable_folder(key, path: Path) -> None:
    """``path`` is a folder, or can be made one, and this user can write there."""
    existing = path
    while not existing.exists():
        if existing.is_symlink():  # a link to nowhere
            raise UsageError(f"{key}={path}: {existing} is a broken link")
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{key}={path}: {existing} is a file, not a folder; choose another {key}=")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{key}={path}: {existing} is not writable by this user; choose another {key}=")


def write_sweep(task, config, keys, table) -> Path:
    """The sweep's table as ``<run.root>/<task>/sweep-<time>.md``. (Each run wrote its recipe and
    scores as TensorBoard HParams: ``tensorboard --logdir <run.root>/<task>`` compares them.)"""
    import time

    from tfseq.atomic import atomic_write

    folder = Path(config.run.root) / Path(task).stem
    return atomic_write(
        folder / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}.md",
        f"# tfseq-train task={task}: {', '.join(keys)}\n\n{table}\n",
    )


def command(argv) -> int:
    """``tfseq-train``'s runs: the command line (``task=...``, ``key=value`` overrides and sweeps,
    ``--verbose``) made into checked configs by :mod:`tfseq.recipes` (``resume=true``: the run to
    continue), then each run in turn, a sweep's table at the end. Returns the exit status: 2 for
    a bad command line or data, 3 for a run that diverged, 130 when interrupted."""
    import itertools

    from tfseq import recipes
    from tfseq.console import start_tensorflow

    verbose = "--verbose" in argv
    argv = [a for a in argv if a != "--verbose"]
    verbose = "--verbose" in argv
    argv = [a for a in argv if a != "--verbose"]
    try:
        task, overrides = recipes.parse_overrides(argv)
        combinations = list(itertools.product(*[[(k, v) for v in values] for k, values in overrides]))
        configs = [(combo, recipes.resolve(task, combo)) for combo in combinations]
        if any(config.resume for _, config in configs):
            if len(configs) > 1:
                raise UsageError("resume=true continues one run: give one value to each key, not a sweep")
            configs = [(combo, continue_run(task, config, combo)) for combo, config in configs]
        for _, config in configs:
            check_paths(config)
    except UsageError as error:
        print(f"tfseq-train: error: {error}", file=sys.stderr)
        return 2
    start_tensorflow(verbose)
    from tfseq.train.callbacks import TrainingDiverged

    results, publisher = [], SweepPublisher() if len(configs) > 1 else None
    for combo, config in configs:
        swept = {k: v for k, v in combo if len(dict(overrides)[k]) > 1}
        label = " ".join(f"{k}={v}" for k, v in swept.items()) or task
        if swept:
            print(f"\n=== {label} ===")
        try:
            metrics = run_one(task, config, publish=publisher(label) if publisher else None)
        except (UsageError, TrainingDiverged, ValueError, OSError) as error:  # DataError is a ValueError
            if sys.stdout.isatty():
                print(flush=True)  # (off the end of a progress bar's line)
            print(f"tfseq-train: error: {one_line(error)}", file=sys.stderr)
            return 2 if not isinstance(error, TrainingDiverged) else 3
        except KeyboardInterrupt:
            print(
                "tfseq-train: interrupted; resume=true continues the run from its last finished epoch", file=sys.stderr
            )
            return 130
        results.append((label, {**metrics, "swept": swept}))
        print(summary_table([(label, metrics)]).splitlines()[-1] if len(configs) > 1 else "")
        test = metrics.get("test", {})
        key = headline(metrics)
        base = metrics.get("baseline", {})
        dynamic = metrics.get("dynamic", {}).get("network", {}).get("test", {})  # task=lm's model.dynamic
        dynamic_bar = metrics.get("dynamic", {}).get("baseline", {}).get("test", {})
        print(
            "test: "
            + ", ".join(f"{k}={v}" if isinstance(v, int) else f"{k}={v:.4f}" for k, v in test.items())
            + (f"  |  baseline ({base['model']}): {key}={base['test'][key]:.4f}" if key in base.get("test", {}) else "")
            + (f"  |  dynamic evaluation, network: {key}={dynamic[key]:.4f}" if key in dynamic else "")
            + (f", baseline: {key}={dynamic_bar[key]:.4f}" if key in dynamic_bar else "")
        )
        if "export" in metrics:
            print(f"exported: {metrics['export']}")
        if (lost := lost_to_bar(metrics)) is not None:
            print(lost)
    if len(results) > 1:
        table = summary_table(results)
        print("\n" + table)
        written = write_sweep(task, configs[0][1], [k for k, values in overrides if len(values) > 1], table)
        print(f"sweep: {written} (the table); tensorboard --logdir {written.parent} shows it under HPARAMS")
        served = [(label, m["export"]) for label, m in results if "export" in m]
        if served:
            print(
                f"sweep: served: {served[-1][1]} ({served[-1][0]}, the best on validation; a run only published "
                f"when it beat the runs before it)"
            )
    return 0
