"""The command line's ``key=value`` overrides, in Hydra's grammar (sweeps: ``a,b``, ``choice(...)``,
``range(...)``), over a recipe: resolved, type- and range-checked before any data is read."""

from __future__ import annotations

from tfseq.console import UsageError
from tfseq.recipes.loading import available_tasks, load_recipe


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
            raise UsageError(f"{key}= is empty (an unset shell variable?): give it a value, or {key}=null for none")
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
            hint = (
                " (quote YAML values that hold ':', e.g. key='[\"a: b\"]')" if isinstance(error, yaml.YAMLError) else ""
            )
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
            raise UsageError(
                f"bad value for {key}: {value!r}: expected a number or one of {', '.join(recipes.NAMES[key])}"
            )
        return
    expected = {bool: (bool,), int: (int, float), float: (int, float)}.get(type(default))
    if (
        expected
        and value is not None
        and (not isinstance(value, expected) or (type(default) is not bool and isinstance(value, bool)))
    ):
        raise UsageError(
            f"bad value for {key}: {value!r}: expected {'true/false' if expected == (bool,) else 'a number'}"
            f" (default {default!r})"
        )


def parse_value(text: str):
    """A swept value as TensorBoard HParams takes it: a number, a flag or a string."""
    import yaml

    value = yaml.safe_load(text)
    return value if isinstance(value, (bool, int, float, str)) else str(text)
