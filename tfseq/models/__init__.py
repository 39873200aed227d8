"""Task models: one file per kind of sequence task."""

from tfseq.models.classifier import TextClassifier, read_word_vectors

__all__ = ["TextClassifier", "read_word_vectors"]
