"""Task models: one file per kind of sequence task."""

from tfseq.models.classifier import TextClassifier, read_word_vectors
from tfseq.models.linear import TfidfLinear, fit_tfidf_linear

__all__ = ["TextClassifier", "TfidfLinear", "fit_tfidf_linear", "read_word_vectors"]
