"""The task recipes (``<task>.yaml``); installed with the package as ``tfseq.tasks``."""
