"""Checks on a resolved recipe that need no TensorFlow, so a bad value fails at parse time, in
well under a second, before any data is read or any model is built.

The choice lists are :mod:`tfseq.choices`' (which imports nothing; the modules that act on the
names take them from there too).
"""

from __future__ import annotations

import difflib
import itertools
import re

from tfseq import choices


def moved_to_new_names(config, recipe):
    """``config`` (a run's saved OmegaConf config) with the keys of :data:`MOVED` under their new
    names, where its task's ``recipe`` has them there (a recipe without a backbone, as the
    captioner's, keeps its decoder's ``model.*``)."""
    from omegaconf import OmegaConf

    if recipe.get("backbone") is None:
        return config
    for old, new in MOVED.items():
        value = OmegaConf.select(config, old, default="<absent>")
        if value != "<absent>":
            OmegaConf.update(config, new, value, force_add=True)
            del config.model[old.split(".", 1)[1]]
    return config


# Keys that name users' files. Giving one replaces the recipe's built-in dataset (data.name).
FILE_KEYS = ("data.train", "data.validation", "data.test", "data.images", "data.captions")


# Keys renamed since runs were written (old -> new): a run's config.yaml from before is read
# with the new names when it is resumed.
MOVED = {f"model.{key}": f"backbone.{key}" for key in choices.BACKBONE_KEYS}


def wide_choices() -> tuple:
    """``model.wide``: the fitted experts alone or joined by "+", learned, or none."""
    experts = choices.EXPERTS
    joined = ["+".join(p) for n in range(len(experts), 0, -1) for p in itertools.permutations(experts, n)]
    return (*joined, "learned", "none")


# Number keys that also take a name: a CoNLL-U file's tag column (data.tag_column=upos).
NAMES = {"data.tag_column": choices.CONLLU_COLUMNS}

CHOICES = {
    "data.split": ("auto", "word", "wordpunct", "character"),
    "data.source_split": ("auto", *choices.SPLITS),
    "data.target_split": ("auto", *choices.SPLITS),
    "backbone.cell": choices.CELLS,
    "model.cell": choices.CELLS,  # the captioner's decoder
    "model.pooling": ("last", *choices.POOLING),
    "model.head": ("auto", *choices.HEADS),
    "model.wide": wide_choices(),
    "model.attention": choices.ATTENTION,
    "model.architecture": choices.ARCHITECTURES,
    "train.optimizer": choices.OPTIMIZERS,
    "train.schedule": choices.SCHEDULES,
    "generate.sampler": choices.SAMPLERS,  # (keras-hub's names at predict time)
    "train.precision": choices.PRECISIONS,
    "train.track": choices.TRACKERS,
    "train.jit_compile": ("auto", "true", "false"),
}

PATTERNS = {  # key -> (regular expression, what it means)
    "train.distribute": (r"none|mirrored|multi_worker|cpu:[1-9]\d*", "none, mirrored, multi_worker or cpu:N"),
}


def _count(value) -> bool:
    """A whole number >= 1 written as one (``2``, not ``2.0`` or ``true``)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _orders(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(n, int) and n >= 1 for n in value)


# Keys that take ``auto`` (chosen from the training data) or a value of their own kind.
AUTO = {  # key -> (accepts the value, what it accepts besides auto)
    "model.tie_embeddings": (lambda v: isinstance(v, bool), "true or false"),
    "train.epochs": (_count, "a whole number >= 1"),
    "train.learning_rate": (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0,
        "a number > 0",
    ),
    "generate.length_penalty": (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "a number (0: plain likelihood)",
    ),
    "generate.max_length": (_count, "a whole number >= 1"),
    "train.early_stopping": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "a whole number >= 0 (0: off)",
    ),
    "backbone.layers": (_count, "a whole number >= 1"),
    "backbone.units": (_count, "a whole number >= 1"),
    "backbone.char_cnn": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "a whole number >= 0 (0: off)",
    ),
    **dict.fromkeys(
        ("backbone.dropout", "backbone.rare_dropout", "backbone.weight_dropout"),
        (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1, "a number in [0, 1)"),
    ),
    "data.max_length": (
        lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0),
        "a positive number of tokens or null",
    ),
    "data.ngrams": (lambda v: _orders(v) and 1 in v, "a list of n-gram orders holding 1, e.g. [1, 2]"),
    "data.char_ngrams": (lambda v: v is None or (_orders(v) and len(v) == 2 and v[0] <= v[1]), "[lo, hi] or null"),
    "data.token_chars": (lambda v: v is None or (_orders(v) and len(v) == 2 and v[0] <= v[1]), "[lo, hi] or null"),
}


def _whole(lowest, highest=None):
    return lambda v: float(v).is_integer() and v >= lowest and (highest is None or v <= highest)


# Numbers by the name of their key, in every recipe: out of range is an error at parse time
# (``backbone.dropout=1.5`` or ``backbone.units=0`` would fail minutes later, or train nothing).
RANGES = {  # leaf -> (accepts the number, what it accepts)
    **dict.fromkeys(
        (
            "batch_size",
            "beams",
            "dim",
            "embedding_dim",
            "epochs",
            "layers",
            "units",
            "length",
            "steps",
            "negatives",
            "window",
            "baseline_order",
            "max_tokens",
            "max_length",
            "min_frequency",
            "subwords",
            "keep_from_epoch",
            "n_best",
        ),
        (_whole(1), "a whole number >= 1"),
    ),
    **dict.fromkeys(
        ("char_cnn", "early_stopping", "top_k", "embeddings_vocabulary"), (_whole(0), "a whole number >= 0")
    ),
    "keep_checkpoints": (_whole(-1), "a whole number >= -1 (-1: every epoch)"),
    "verbose": (_whole(0, 2), "0, 1 or 2"),
    **dict.fromkeys(
        ("dropout", "token_dropout", "rare_dropout", "weight_dropout", "ema"),
        (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    ),
    "top_p": (lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "no_repeat_ngram_size": (_whole(0, 6), "a whole number from 0 to 6 (0: off)"),
    "repetition_penalty": (lambda v: v > 0, "a number > 0 (1: off)"),
    **dict.fromkeys(("learning_rate", "temperature"), (lambda v: v > 0, "a number > 0")),
    "clipnorm": (lambda v: v >= 0, "a number >= 0 (0: off)"),
}


class RecipeError(ValueError):
    """A recipe value that cannot work; the message names the key and what it accepts."""


def unknown_key(key: str, known, task: str) -> RecipeError:
    """The error for an override of a key the recipe does not have, with the closest known keys."""
    known = sorted(known)
    leaf = key.rsplit(".", 1)[-1]
    leaves = {k.rsplit(".", 1)[-1] for k in known}
    near = difflib.get_close_matches(leaf, leaves, n=1, cutoff=0.8)
    # The right name in another section (a moved key) first, then a misspelt name.
    close = (
        [k for k in known if k.rsplit(".", 1)[-1] == leaf]
        or difflib.get_close_matches(key, known, n=1, cutoff=0.8)
        or [k for k in known if near and k.rsplit(".", 1)[-1] == near[0]]
        or difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    )
    hint = f"; did you mean {close[0]}?" if close else ""
    return RecipeError(f"unknown key {key!r} for task={task}{hint} (tfseq-train --help lists the keys)")


def plain(value):
    """An OmegaConf list or mapping as plain Python (``[1, 2]``, not a ``ListConfig``); any other
    value as it is."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(value) if hasattr(value, "_metadata") else value


def flat_keys(config, prefix="") -> list[tuple[str, object]]:
    from omegaconf import DictConfig

    rows = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, DictConfig):
            rows += flat_keys(value, name + ".")
        else:
            rows.append((name, plain(value)))
    return rows


def check_choices(config, recipe=None) -> None:
    """Every enumerated value of ``config`` (an OmegaConf recipe) is one it accepts; ``auto`` is
    accepted where the task's ``recipe`` (its defaults) has it."""
    from omegaconf import OmegaConf

    for key, allowed in CHOICES.items():
        value = OmegaConf.select(config, key, default="<absent>")
        if value == "<absent>" or (value is None and key == "model.wide"):
            continue
        if value == "auto" and (recipe is None or OmegaConf.select(recipe, key, default=None) == "auto"):
            continue
        if str(value).lower() not in allowed:
            close = difflib.get_close_matches(str(value).lower(), allowed, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise RecipeError(f"{key}={value!r}: expected one of {', '.join(allowed)}{hint}")
    for key, (accepts, meaning) in AUTO.items():
        value = OmegaConf.select(config, key, default="<absent>")
        value = plain(value)
        automatic = recipe is None or OmegaConf.select(recipe, key, default=None) == "auto"
        if value != "<absent>" and not (value == "auto" and automatic) and not accepts(value):
            raise RecipeError(f"{key}={value!r}: expected {'auto, ' if automatic else ''}{meaning}")
    for key, value in flat_keys(config):
        accepts, meaning = RANGES.get(key.rsplit(".", 1)[-1], (None, None))
        if accepts and isinstance(value, (int, float)) and not isinstance(value, bool) and not accepts(value):
            raise RecipeError(f"{key}={value!r}: expected {meaning}")
    n_best = OmegaConf.select(config, "generate.n_best", default=1)
    if isinstance(n_best, int) and n_best > 1:
        sampler, beams = OmegaConf.select(config, "generate.sampler"), OmegaConf.select(config, "generate.beams")
        if sampler != "beam" or n_best > int(beams):
            raise RecipeError(
                f"generate.n_best={n_best}: needs generate.sampler=beam with generate.beams >= "
                f"{n_best} (sampler={sampler}, beams={beams})"
            )
    for key, (pattern, meaning) in PATTERNS.items():
        value = OmegaConf.select(config, key, default=None)
        if value is not None and not re.fullmatch(pattern, str(value)):
            raise RecipeError(f"{key}={value!r}: expected {meaning}")


def files_replace_builtin(config, given) -> None:
    """Users' files replace the recipe's built-in dataset: a file key among the ``given`` keys
    (the command line's) sets ``data.name`` to null, unless ``data.name`` was given too, which
    is an error (a built-in dataset or files, not both)."""
    from omegaconf import OmegaConf

    files = [key for key in FILE_KEYS if key in given and OmegaConf.select(config, key, default=None)]
    if not files or not OmegaConf.select(config, "data.name", default=None):
        return
    if "data.name" in given:
        raise RecipeError(
            f"data.name={config.data.name} and {files[0]}={OmegaConf.select(config, files[0])} were both given: "
            f"train on the built-in dataset or on your files, not both (drop data.name to use the files)"
        )
    config.data.name = None


def take_preset(config, given) -> None:
    """With ``model.preset``: the keys the preset fixes (:func:`tfseq.presets.settings`: its
    network, its model's arguments, how it reads text) take the preset's values, so the run's
    ``config.yaml`` says what ran. A key ``given`` on the command line that would change one of
    them, or one that only shapes a new model (``data.max_tokens``, ``model.embeddings``), is an
    error: it could not apply, and a run must not ignore it silently."""
    from omegaconf import OmegaConf

    from tfseq import presets

    path = OmegaConf.select(config, "model.preset", default=None)
    fixed = presets.settings(path) if path else {}
    if not fixed:
        return  # no preset, or not a readable one: the task says which when it loads it
    same = lambda a, b: a == b or (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and list(a) == list(b))  # noqa: E731
    refused = []
    for key in given:
        value = plain(OmegaConf.select(config, key, default=None))
        if key in presets.FOR_NEW_MODELS or (key.startswith("backbone.") and key not in fixed):
            refused.append(f"{key} shapes a new model only")
        elif key in fixed and value != "auto" and not same(value, fixed[key]):
            refused.append(f"{key}={value} but the preset has {fixed[key]}")
    if refused:
        raise RecipeError(
            f"model.preset={path} keeps the network, vocabulary and text reading it was saved with: "
            f"{'; '.join(refused)}. Drop {'that key' if len(refused) == 1 else 'those keys'}, "
            f"or train a new model without model.preset"
        )
    known = {key for key, _ in flat_keys(config)}
    for key, value in fixed.items():
        if key in known and value is not None:
            OmegaConf.update(config, key, value, merge=False)
