"""Trainers: a shared base and one trainer per task.

``TRAINERS`` names each task's trainer without importing it: TensorFlow takes seconds to load,
and ``tfseq-train --help`` or a bad command line should not wait for it.
"""

from importlib import import_module

TRAINERS = {  # task -> "module:class"
    "classify": "tfseq.train.classify:ClassifyTrainer",
    "tag": "tfseq.train.tag:TagTrainer",
    "lm": "tfseq.train.lm:LanguageModelTrainer",
    "seq2seq": "tfseq.train.seq2seq:Seq2SeqTrainer",
    "caption": "tfseq.train.caption:CaptionTrainer",
    "word2vec": "tfseq.train.word2vec:Word2VecTrainer",
}


def trainer_class(task: str):
    module, name = TRAINERS[task].split(":")
    return getattr(import_module(module), name)


def __getattr__(name):  # tfseq.train.Trainer, tfseq.train.ClassifyTrainer, imported on first use
    if name == "Trainer":
        return import_module("tfseq.train.trainer").Trainer
    for task, path in TRAINERS.items():
        if path.endswith(":" + name):
            return trainer_class(task)
    raise AttributeError(f"module 'tfseq.train' has no attribute {name!r}")


__all__ = ["TRAINERS", "CaptionTrainer", "ClassifyTrainer", "LanguageModelTrainer", "Seq2SeqTrainer", "TagTrainer", "Trainer", "Word2VecTrainer", "trainer_class"]
