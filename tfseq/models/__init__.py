"""Task models: one file per kind of sequence task."""

from tfseq.models.backbone import RecurrentBackbone
from tfseq.models.captioner import Captioner
from tfseq.models.classifier import TextClassifier
from tfseq.models.language_model import LanguageModel
from tfseq.models.linear import BagLinear, LogitMix, fit_expert_weights, fit_nb_linear, fit_tfidf_linear
from tfseq.models.seq2seq import Seq2Seq
from tfseq.models.tagger import SequenceTagger
from tfseq.models.task_model import TaskModel
from tfseq.models.word2vec import Word2Vec, example_batches, examples_per_pass, skipgram_examples
from tfseq.vectors import WordVectors, read_word_vectors  # (word vectors' room: tfseq.vectors)

__all__ = [
    "BagLinear",
    "Captioner",
    "LanguageModel",
    "LogitMix",
    "RecurrentBackbone",
    "Seq2Seq",
    "SequenceTagger",
    "TaskModel",
    "TextClassifier",
    "fit_expert_weights",
    "fit_nb_linear",
    "fit_tfidf_linear",
    "read_word_vectors",
    "example_batches",
    "examples_per_pass",
    "skipgram_examples",
    "Word2Vec",
    "WordVectors",
]
