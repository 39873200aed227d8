"""Trainers: a shared base and one trainer per task."""

from tfseq.train.classify import ClassifyTrainer
from tfseq.train.trainer import Trainer

TRAINERS = {"classify": ClassifyTrainer}

__all__ = ["TRAINERS", "ClassifyTrainer", "Trainer"]
