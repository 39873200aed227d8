"""What every command line shares: the one-line error, and TensorFlow started quietly."""

from __future__ import annotations

import importlib
import sys


class UsageError(Exception):
    """A bad command line or recipe: printed as one line, exit status 2."""


def start_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow, hiding the lines its C++ side prints to the terminal before its logging
    starts ("Could not find cuda drivers ...", twice; TF_CPP_MIN_LOG_LEVEL does not reach them).
    ``verbose`` keeps them; an import that fails shows what was hidden."""
    if verbose or "tensorflow" in sys.modules:
        importlib.import_module("tensorflow")
        return
    from tfseq.tflite_app import quiet_native  # the same hiding as the TFLite runtime's INFO lines

    with quiet_native():
        importlib.import_module("tensorflow")


def one_line(error: BaseException) -> str:
    """An error as the one line a user reads (a full disk named as such, whoever raised it)."""
    import errno

    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}no space left on the disk: free some space, or set run.root= and export.dir= to a larger disk"
    if isinstance(error, OSError) and error.strerror and error.filename and not isinstance(error, FileNotFoundError):
        return f"{error.filename}: {error.strerror.lower()}"
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 600 else text[:600] + " ..."
