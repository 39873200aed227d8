"""Command-line entry points: ``tfseq-train``, ``tfseq-predict``, ``tfseq-data``."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TRAIN_USAGE = """\
usage: tfseq-train task=<name or recipe.yaml> [key=value ...] [--verbose]

Trains a task's recipe (tasks/<task>/<name>.yaml, or a YAML file of your own whose base: or
task: names one) with dotted key=value overrides, writes a run
folder (config, metrics.json, reports, plots, TensorBoard logs, the model; epoch checkpoints on
request) and exports a SavedModel. A data file given (data.train=...) replaces the recipe's
built-in dataset; keys set to auto are chosen from the training text and printed. Several
values (backbone.cell=rnn,lstm,gru) run one after another and end with a comparison table;
a run is exported only when it beats the runs before it on validation, so the best is served.
resume=true continues the newest unfinished run of the task with its own saved config.yaml
(alone, with no unfinished run, it stops and says so).
--verbose keeps TensorFlow's start-up log lines (hidden by default). task=<name> --help lists that
task's keys only. tfseq-predict answers with an export, tfseq-evaluate scores one on a file.

examples:
  tfseq-train task=classify
  tfseq-train task=classify data=tfds:imdb_reviews backbone.cell=lstm train.epochs=3
  tfseq-train task=classify data.train=train.csv data.text=review data.label=stars
  tfseq-train task=classify backbone.cell=rnn,lstm,gru train.epochs=2
  tfseq-train task=classify resume=true
  tfseq-train task=my-classify.yaml             # base: classify, and only the keys you change
  tfseq-train task=tag                          # part-of-speech tags of People's Daily (pos-zh)
  tfseq-train task=tag data.train=train.txt data.test=test.txt   # CoNLL chunking
  tfseq-train task=lm                           # a character language model of text-zh
  tfseq-train task=lm-classic data.train=in.txt  # the notes' recipe: SGD at 1, clipping
  tfseq-train task=seq2seq                      # grapheme-to-phoneme on cmudict
  tfseq-train task=seq2seq data.train=pairs.tsv data.source_split=word
  tfseq-train task=caption                      # captions for built-in images of handwritten digits
  tfseq-train task=word2vec                     # skip-gram vectors of text-zh's characters
  tfseq-train task=tag train.distribute=mirrored  # every local GPU (tf.distribute)
  TF_CONFIG=... tfseq-train task=classify train.distribute=multi_worker  # several machines
"""


from tfseq.console import UsageError, one_line, start_tensorflow  # noqa: E402  (shared by the commands)


def recipe_path(task: str) -> Path:
    """The YAML file of ``task=<name>``: a registered recipe (:mod:`tfseq.tasks`), or a recipe
    file of your own (``task=my-recipe.yaml``, whose ``task:`` or ``base:`` names a registered one)."""
    from tfseq import tasks

    if task.endswith((".yaml", ".yml")):
        if not Path(task).is_file():
            raise UsageError(f"{task}: no such recipe file")
        return Path(task)
    if task not in tasks.RECIPES:
        raise UsageError(f"unknown task {task!r}; tasks: {', '.join(available_tasks())}")
    return tasks.RECIPES[task]


def available_tasks() -> list[str]:
    """The registered recipes (``tfseq-train task=<name>``)."""
    from tfseq import tasks

    return sorted(tasks.RECIPES)


def load_recipe(task: str):
    """The recipe of ``task``, over its ``base:`` recipe's keys if it names one, over the keys
    every recipe shares (``tasks/base.yaml``: seed, resume, train, run, export)."""
    from tfseq import tasks

    config = over(shared_keys(), own_recipe(task))
    if config.get("task") not in tasks.TASKS:
        raise UsageError(f"{recipe_path(task)}: task: {config.get('task')!r} is no registered task "
                         f"({', '.join(sorted(tasks.TASKS))})")
    if task.endswith((".yaml", ".yml")):
        check_own_keys(task, config)
    return config


def check_own_keys(path: str, config) -> None:
    """A recipe file of a user's sets only keys its registered recipe has (``base:``, else the
    one of its ``task:``): a misspelt or moved key would otherwise be ignored."""
    from tfseq import recipes, tasks

    mine = read_yaml(Path(path))
    registered = mine.get("base") or config.task
    if registered not in tasks.RECIPES:
        return
    known = {key for key, _ in recipes.flat_keys(load_recipe(registered))}
    for key, _ in recipes.flat_keys(mine):
        if key not in known | {"base", "task"} and not any(key.startswith(k + ".") for k in known):
            raise UsageError(f"{path}: {recipes.unknown_key(key, known, registered)}")


def read_yaml(path):
    from omegaconf import OmegaConf

    try:
        return OmegaConf.load(path)
    except Exception as error:  # yaml.YAMLError and friends
        raise UsageError(f"{path}: malformed YAML: {' '.join(str(error).split())}") from None


def shared_keys():
    from tfseq import tasks

    return read_yaml(tasks.BASE)


def own_recipe(task: str):
    """The recipe file of ``task`` over its ``base:`` recipes, without the shared keys."""
    from omegaconf import OmegaConf

    config = read_yaml(recipe_path(task))
    base = config.pop("base", None)
    return OmegaConf.merge(own_recipe(base), config) if base else config


def over(base, recipe):
    """``recipe``'s keys over ``base``'s, in the recipe's order (``task`` and its sections first,
    then what only ``base`` has), so config.yaml and --help read as the recipe does."""
    from omegaconf import DictConfig, OmegaConf

    merged = OmegaConf.merge(base, recipe)

    def ordered(node, first, top=False):
        keys = [k for k in (["task", "seed", "resume"] if top else []) + list(first) if k in node]
        keys = list(dict.fromkeys(keys)) + [k for k in node if k not in keys]
        return {k: ordered(node[k], first[k] if isinstance(first.get(k), DictConfig) else {})
                if isinstance(node[k], DictConfig) else node[k] for k in keys}

    return OmegaConf.create(ordered(merged, recipe, top=True))


def recipe_comments(path) -> dict[str, str]:
    """The ``# ...`` comment of each dotted key in a recipe (continued on comment-only lines below)."""
    import re

    comments, parents, last = {}, [], None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        key = re.match(r"^( *)([\w.-]+):([^#]*)(?:#\s*(.*))?$", line)
        if key:
            indent = len(key.group(1))
            parents = [(i, k) for i, k in parents if i < indent] + [(indent, key.group(2))]
            last = ".".join(k for _, k in parents)
            if key.group(4):
                comments[last] = key.group(4).strip()
        elif last in comments and (more := re.match(r"^ {2,}#\s*(.*)$", line)):
            comments[last] += " " + more.group(1).strip()
        else:
            last = None
    return comments


def help_text(task: str | None = None, width: int | None = None) -> str:
    """``--help``: the usage, then each task's keys with their defaults and meaning (only
    ``task``'s when given), comments wrapped to ``width`` columns (the terminal's, at most 100)."""
    import shutil
    import textwrap

    from omegaconf import OmegaConf

    from tfseq import recipes, tasks

    width = width or max(60, min(shutil.get_terminal_size((100, 24)).columns, 100))
    lines = [TRAIN_USAGE]
    try:
        for name in [task] if task else available_tasks():
            path = recipe_path(name)
            base = OmegaConf.load(path).get("base")
            comments = {**recipe_comments(tasks.BASE), **(recipe_comments(recipe_path(base)) if base else {}),
                        **recipe_comments(path)}
            lines.append(f"task={name} keys (defaults from {path}{f' over {base}' if base else ''} "
                         f"over {tasks.BASE.name}):")
            rows = [(f"{key}={json.dumps(value) if not isinstance(value, str) else value}",
                     comments.get(key, "")) for key, value in recipes.flat_keys(load_recipe(name))]
            column = min(max(len(setting) for setting, _ in rows), 34) + 4
            for setting, comment in rows:
                wrapped = textwrap.wrap(comment, max(width - column, 30)) or [""]
                first = f"  {setting:<{column - 4}}  " if len(setting) <= column - 4 else f"  {setting}\n{' ' * column}"
                lines.append((first + wrapped[0]).rstrip())
                lines += [" " * column + more for more in wrapped[1:]]
        if not task:
            lines.append("(tfseq-train task=<name> --help lists one task's keys)")
    except UsageError as error:
        lines.append(str(error))
    return "\n".join(lines)


def split_sweep(value: str) -> list[str]:
    """The values of one key in a sweep, in Hydra's override grammar: ``a,b,c``;
    ``choice(a,b,c)``; ``range(start,stop[,step])`` (stop excluded, as Python's and Hydra's
    ``range``; whole numbers or decimals). A list, a dict or a quoted value is one value."""
    import re

    if value.startswith(("[", "{", "'", '"')):
        return [value]
    call = re.fullmatch(r"\s*(range|choice)\((.*)\)\s*", value)
    if call and call.group(1) == "choice":
        values = [v.strip() for v in call.group(2).split(",")]
        if not all(values):
            raise UsageError(f"{value}: expected choice(a,b,...) with a value between every comma")
        return values
    if call:
        return sweep_range(value, call.group(2))
    return [v for v in value.split(",")] if "," in value else [value]


def sweep_range(text: str, arguments: str) -> list[str]:
    """``range(start, stop[, step])`` as strings: ``range(64,256,64)`` -> 64, 128, 192."""
    from decimal import Decimal, InvalidOperation

    try:
        numbers = [Decimal(a.strip()) for a in arguments.split(",")]
    except InvalidOperation:
        numbers = []
    if len(numbers) == 1:
        numbers = [Decimal(0), numbers[0]]
    if len(numbers) not in (2, 3) or (len(numbers) == 3 and numbers[2] == 0):
        raise UsageError(f"{text}: expected range(start, stop) or range(start, stop, step) with numbers, step not 0")
    start, stop, step = (*numbers, Decimal(1))[:3]
    values, value = [], start
    while (value < stop if step > 0 else value > stop) and len(values) <= 1000:
        values.append(value)
        value += step
    if not values or len(values) > 1000:
        raise UsageError(f"{text}: gives {'no values' if not values else 'more than 1,000 values'}")
    return [str(v) for v in values]


def parse_overrides(arguments):
    """``task=`` and the dotted overrides (each with its sweep values)."""
    task, overrides = None, []
    for argument in arguments:
        if "=" not in argument:
            raise UsageError(f"expected key=value, received {argument!r} (see tfseq-train --help)")
        key, value = argument.split("=", 1)
        if not value.strip():  # an unset shell variable: never "use the default" silently
            raise UsageError(f"{key}= is empty (an unset shell variable?): give it a value, or {key}=null "
                             f"for none")
        if key == "task":
            task = value
            continue
        if key == "data" and not value.startswith("{"):
            key = "data.name"  # data=<name> is short for data.name=<name>
        overrides = [(k, v) for k, v in overrides if k != key]  # a key given again: the last value wins
        overrides.append((key, split_sweep(value)))
    if task is None:
        raise UsageError("missing task=<name>; tasks: " + ", ".join(available_tasks()))
    return task, overrides


def resolve(task, overrides):
    """The recipe with one combination of overrides applied, checked: unknown keys, values of the
    wrong type and unknown choices are errors here, before any data is read. Files given on the
    command line (``data.train=...``) replace the recipe's built-in dataset."""
    import yaml  # OmegaConf parses each value as YAML
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from tfseq import recipes

    config = load_recipe(task)
    OmegaConf.set_struct(config, True)
    known = {key for key, _ in recipes.flat_keys(config)}
    for key, value in overrides:
        if key not in known:
            raise UsageError(str(recipes.unknown_key(key, known, task)))
        try:
            config = OmegaConf.merge(config, OmegaConf.from_dotlist([f"{key}={value}"]))
        except (OmegaConfBaseException, yaml.YAMLError) as error:
            hint = " (quote YAML values that hold ':', e.g. key='[\"a: b\"]')" if isinstance(error, yaml.YAMLError) else ""
            raise UsageError(f"bad value for {key}: {value!r}: {' '.join(str(error).split())}{hint}") from None
        check_type(key, OmegaConf.select(load_recipe(task), key), OmegaConf.select(config, key))
    try:
        recipes.files_replace_builtin(config, {key for key, _ in overrides})
        recipes.check_choices(config, load_recipe(task))
        recipes.take_preset(config, [key for key, _ in overrides])
    except recipes.RecipeError as error:
        raise UsageError(str(error)) from None
    return config


def check_type(key, default, value):
    """A number or flag in the recipe takes a number or flag, or null (``train.epochs=many``
    fails here, not minutes later inside training); a key of :data:`recipes.NAMES` also takes
    one of its names (``data.tag_column=upos``)."""
    from tfseq import recipes

    if isinstance(value, str) and key in recipes.NAMES:
        if value.lower() not in recipes.NAMES[key]:
            raise UsageError(f"bad value for {key}: {value!r}: expected a number or one of "
                             f"{', '.join(recipes.NAMES[key])}")
        return
    expected = {bool: (bool,), int: (int, float), float: (int, float)}.get(type(default))
    if expected and value is not None and (not isinstance(value, expected) or (type(default) is not bool and isinstance(value, bool))):
        raise UsageError(f"bad value for {key}: {value!r}: expected {'true/false' if expected == (bool,) else 'a number'}"
                         f" (default {default!r})")


def headline(metrics: dict) -> str:
    """The metric a run is judged by, as its task said (``metrics.json``'s ``headline``)."""
    return metrics.get("headline") or "loss"


def summary_table(rows) -> str:
    key = headline(rows[0][1]) if rows else "accuracy"
    header = ["run", f"val {key}", f"test {key}", f"baseline {key}", "params", "train s"]
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for label, metrics in rows:
        test, val = metrics.get("test", {}), metrics.get("validation", {})
        base = metrics.get("baseline", {}).get("test", {})
        lines.append(" | ".join([
            label, *(f"{part.get(key, float('nan')):.4f}" for part in (val, test, base)),
            f"{metrics.get('parameters', 0):,}", f"{metrics.get('train_seconds', 0):.0f}",
        ]))
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
                    return (f"validation {key} {value:.4f} is not better than {self.best[1]}'s {self.best[0]:.4f}, "
                            f"whose export stays the one served")
            self.best = (value, label)
            return None
        return publish


def run_one(task, config, log=print, publish=None) -> dict:
    from tfseq import tasks
    from tfseq.train.run_folder import RunFolder
    from tfseq.train.trainer import Trainer

    task = Path(task).stem  # task=my-recipe.yaml runs in runs/my-recipe/
    if str(config.train.get("distribute")) == "multi_worker":
        from tfseq.train.trainer import chief

        if config.resume:
            raise UsageError("resume=true with train.distribute=multi_worker: not supported (each worker "
                             "would need the chief's training state); start the run anew")
        if not chief():  # trains like the chief; what it writes goes to a scratch folder, then away
            with tempfile.TemporaryDirectory(prefix="tfseq-worker-") as scratch:
                config.run.dir, config.export.dir = f"{scratch}/run", f"{scratch}/export"
                log("multi_worker: not the chief; its run folder and export are scratch, removed at the end")
                return Trainer(tasks.task_class(config.task)(config, RunFolder(path=config.run.dir), log=log),
                               publish=publish).execute()
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
            raise UsageError(f"resume=true: {path} holds no config.yaml, so it cannot be continued; "
                             f"start a new run without resume=true")
        if not any(key not in RESUME_FREE for key, _ in given):
            # README's bare line after a run that finished: starting the recipe's built-in data instead
            # would train something the user never asked for.
            done = RunFolder.latest(config.run.root, Path(task).stem, finished=True)
            newest = f" (the newest, {done}, is complete: see its metrics.json)" if done else ""
            raise UsageError(f"resume=true: no unfinished run of {Path(task).stem} under {config.run.root}{newest}; "
                             f"start a new run without resume=true")
        print(f"resume: no unfinished run of {Path(task).stem} under {config.run.root}; starting anew")
        return config
    if (path / "metrics.json").exists():
        raise UsageError(f"resume=true: {path} is complete (it has metrics.json); start a new run without resume=true")
    try:
        saved = OmegaConf.load(path / "config.yaml")
    except Exception as error:
        raise UsageError(f"{path / 'config.yaml'}: malformed YAML ({one_line(error)}); this run cannot be resumed") from None
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
            raise UsageError(f"resume=true continues {path} as it was started, with {key}={plain[1]}; "
                             f"{key}={plain[0]} was given: drop it to continue that run, or start a new run "
                             f"without resume=true")
    resumed = OmegaConf.merge(recipe, saved)  # keys added to the recipe since the run began: defaults
    resumed.resume, resumed.run.dir = True, str(path)
    if "train.verbose" in dict(given):
        resumed.train.verbose = config.train.verbose
    OmegaConf.set_struct(resumed, True)
    try:
        recipes.check_choices(resumed, recipe)
    except recipes.RecipeError as error:
        raise UsageError(f"{path / 'config.yaml'}: {error}") from None
    print(f"resume: continuing {path} with its config.yaml"
          + "".join(f" {k}={OmegaConf.select(saved, k)}" for k in recipes.FILE_KEYS if OmegaConf.select(saved, k, default=None)))
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
            raise UsageError(f"{key}={value} is a {'file' if folder else 'folder'}; expected a "
                             f"{'folder of images' if folder else 'file'}")
    embeddings = OmegaConf.select(config, "model.embeddings", default=None)
    if embeddings:
        from tfseq import vectors

        try:
            vectors.check(embeddings)  # a file or named vectors (fetched later, when the run starts)
        except vectors.VectorsError as error:
            raise UsageError(str(error)) from None
    folders = ["run.root", "run.dir"] + (["export.dir"] if OmegaConf.select(config, "export.enabled", default=False) else [])
    for key in folders:
        value = OmegaConf.select(config, key, default=None)
        if value:
            writable_folder(key, Path(str(value)).expanduser())
    run_dir = OmegaConf.select(config, "run.dir", default=None)
    if run_dir and not config.resume and Path(run_dir).is_dir() and any(Path(run_dir).iterdir()):
        raise UsageError(f"run.dir={run_dir} holds a run already: resume=true continues it; give a new folder "
                         f"for a new run")


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


def train_main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or any(a in ("-h", "--help", "help") for a in argv):
        named = [a.split("=", 1)[1] for a in argv if a.startswith("task=")]
        print(help_text(named[0] if named else None))
        return 0
    verbose = "--verbose" in argv
    argv = [a for a in argv if a != "--verbose"]
    try:
        task, overrides = parse_overrides(argv)
        combinations = list(itertools.product(*[[(k, v) for v in values] for k, values in overrides]))
        configs = [(combo, resolve(task, combo)) for combo in combinations]
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
            print("tfseq-train: interrupted; resume=true continues the run from its last finished epoch",
                  file=sys.stderr)
            return 130
        results.append((label, {**metrics, "swept": swept}))
        print(summary_table([(label, metrics)]).splitlines()[-1] if len(configs) > 1 else "")
        test = metrics.get("test", {})
        key = headline(metrics)
        base = metrics.get("baseline", {})
        dynamic = metrics.get("dynamic", {}).get("network", {}).get("test", {})  # task=lm's model.dynamic
        dynamic_bar = metrics.get("dynamic", {}).get("baseline", {}).get("test", {})
        print("test: " + ", ".join(f"{k}={v}" if isinstance(v, int) else f"{k}={v:.4f}" for k, v in test.items()) +
              (f"  |  baseline ({base['model']}): {key}={base['test'][key]:.4f}" if key in base.get("test", {}) else "") +
              (f"  |  dynamic evaluation, network: {key}={dynamic[key]:.4f}" if key in dynamic else "") +
              (f", baseline: {key}={dynamic_bar[key]:.4f}" if key in dynamic_bar else ""))
        if "export" in metrics:
            print(f"exported: {metrics['export']}")
    if len(results) > 1:
        table = summary_table(results)
        print("\n" + table)
        written = write_sweep(task, configs[0][1], [k for k, values in overrides if len(values) > 1], results, table)
        print(f"sweep: {written} (the table); tensorboard --logdir {written.parent} shows it under HPARAMS")
        served = [(label, m["export"]) for label, m in results if "export" in m]
        if served:
            print(f"sweep: served: {served[-1][1]} ({served[-1][0]}, the best on validation; a run only published "
                  f"when it beat the runs before it)")
    return 0


def write_sweep(task, config, keys, results, table) -> Path:
    """The sweep's table as ``<run.root>/<task>/sweep-<time>.md``, and each run's swept values
    and test scores as TensorBoard HParams in ``<run>/tensorboard/hparams`` (the HPARAMS tab of
    ``tensorboard --logdir <run.root>/<task>``)."""
    import time

    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    from tfseq.atomic import atomic_write

    folder = Path(config.run.root) / Path(task).stem
    for label, metrics in results:
        if not metrics.get("run_folder"):
            continue  # a multi_worker worker that is not the chief: its folder is gone
        scores = {f"test/{k}": float(v) for k, v in metrics.get("test", {}).items() if isinstance(v, (int, float))}
        with tf.summary.create_file_writer(str(Path(metrics["run_folder"]) / "tensorboard" / "hparams")).as_default():
            hp.hparams({key: parse_value(value) for key, value in metrics["swept"].items()}, trial_id=label)
            for name, value in scores.items():
                tf.summary.scalar(name, value, step=0)
    return atomic_write(folder / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}.md",
                        f"# tfseq-train task={task}: {', '.join(keys)}\n\n{table}\n")


def parse_value(text: str):
    """A swept value as TensorBoard HParams takes it: a number, a flag or a string."""
    import yaml

    value = yaml.safe_load(text)
    return value if isinstance(value, (bool, int, float, str)) else str(text)


# -- tfseq-predict ---------------------------------------------------------------------------
def predict_main(argv=None) -> int:
    """``tfseq-predict`` (:mod:`tfseq.predict`)."""
    from tfseq.predict import main

    return main(argv)


def evaluate_main(argv=None) -> int:
    """``tfseq-evaluate`` (:mod:`tfseq.evaluate`)."""
    from tfseq.evaluate import main

    return main(argv)


# -- tfseq-data -------------------------------------------------------------------------------
def data_main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="tfseq-data", description="List and describe datasets.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="built-in datasets")
    describe = sub.add_parser("describe", help="a dataset's card: source, license, sizes, labels")
    describe.add_argument("name")
    args = parser.parse_args(argv)
    from tfseq import data

    if args.command == "list":
        for name, loader in data.BUILTIN.items():
            print(f"{name:<18}{(loader.__doc__ or '').strip().splitlines()[0]}")
        return 0
    try:
        card = data.describe(args.name)
    except data.DataError as error:
        print(f"tfseq-data: error: {error}", file=sys.stderr)
        return 2
    for key, value in card.items():
        print(f"{key}: {json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(train_main())
