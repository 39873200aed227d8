"""tfseq: recurrent sequence models for Keras."""

__version__ = "0.1.0"
