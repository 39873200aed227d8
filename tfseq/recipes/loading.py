"""Where a recipe comes from: a task's YAML file (or a user's own, over a registered one), over the
keys every recipe shares (``tasks/base.yaml``), with each key's comment for ``--help``."""

from __future__ import annotations

from pathlib import Path

from tfseq.console import UsageError


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
        raise UsageError(
            f"{recipe_path(task)}: task: {config.get('task')!r} is no registered task "
            f"({', '.join(sorted(tasks.TASKS))})"
        )
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
        return {
            k: ordered(node[k], first[k] if isinstance(first.get(k), DictConfig) else {})
            if isinstance(node[k], DictConfig)
            else node[k]
            for k in keys
        }

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


def auto_values(path) -> dict:
    """A task's ``auto.yaml`` (``path``): the values its recipe's ``auto`` keys take, by case
    (``{case: {key: (value, reason)}}``), each with its comment there as the reason printed when it is
    chosen; ``rule`` holds a case-less section of the rule's own numbers. The one place they are
    written: a recipe's comments name the file, not the values."""
    import yaml

    path = Path(path)
    try:
        table = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise UsageError(f"{path}: not readable YAML ({' '.join(str(error).split())[:200]})") from None
    comments = recipe_comments(path)
    return {
        case: {key: (value, comments.get(f"{case}.{key}", "")) for key, value in (values or {}).items()}
        for case, values in table.items()
    }
