"""Training, the same for every task: :class:`Trainer` runs a :class:`Task`'s steps (data,
model, evaluation, export answer) with the shared machinery (optimizer, callbacks, resume,
precision, distribution, run folder, plots). The tasks themselves live in :mod:`tfseq.tasks`.
"""

from importlib import import_module


def __getattr__(name):  # imported on first use: TensorFlow takes seconds to load
    if name == "Trainer":
        return import_module("tfseq.train.trainer").Trainer
    if name == "Task":
        return import_module("tfseq.train.task").Task
    raise AttributeError(f"module 'tfseq.train' has no attribute {name!r}")


__all__ = ["Task", "Trainer"]
