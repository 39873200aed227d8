"""The recipe, in one home: what a run is made of, from the YAML files to the checked config.

* :mod:`~tfseq.recipes.loading`: a task's recipe (``tasks/<task>/<name>.yaml``, or a user's own
  file over a registered one) over the keys every recipe shares (``tasks/base.yaml``), and each
  key's comment (``tfseq-train task=<name> --help``);
* :mod:`~tfseq.recipes.overrides`: ``key=value`` overrides and sweeps in Hydra's grammar, merged
  and type-checked (:func:`resolve`);
* :mod:`~tfseq.recipes.rules`: the choices, number ranges and ``auto`` rules every value is
  checked against, at parse time (no TensorFlow, no data read).

What a run does with the config (``auto`` values chosen from the data, resume, training) is
:mod:`tfseq.train`'s.
"""

from tfseq.recipes.loading import (  # noqa: F401
    auto_values,
    available_tasks,
    check_own_keys,
    load_recipe,
    over,
    own_recipe,
    read_yaml,
    recipe_comments,
    recipe_path,
    shared_keys,
)
from tfseq.recipes.overrides import (  # noqa: F401
    check_type,
    parse_overrides,
    parse_value,
    resolve,
    split_sweep,
    sweep_range,
)
from tfseq.recipes.rules import *  # noqa: F401,F403  (the checks, as before)
from tfseq.recipes.rules import (  # noqa: F401
    AUTO,
    CHOICES,
    FILE_KEYS,
    MOVED,
    NAMES,
    RANGES,
    RecipeError,
    check_choices,
    files_replace_builtin,
    flat_keys,
    moved_to_new_names,
    plain,
    take_preset,
    unknown_key,
)
