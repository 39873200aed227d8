"""The benchmarks' one way to train: ``tfseq-train`` in a child process, its ``metrics.json`` back.

Every benchmark prints the command it runs, so a row of its table can be reproduced from the
log by hand. The child process is this interpreter's ``python -m tfseq.cli`` (the checkout's
tfseq, whatever ``tfseq-train`` the shell would find).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def train(run_dir: Path | str, *overrides: str) -> dict:
    """Run ``tfseq-train`` with ``overrides`` into ``run_dir``; return its ``metrics.json``.

    The benchmarks' defaults come first (no export, one progress line per epoch), so the caller's
    overrides win: ``export.enabled=true`` where a benchmark measures the export.
    """
    task = [o for o in overrides if o.startswith("task=")]
    rest = [o for o in overrides if not o.startswith("task=")]
    command = ["tfseq-train", *task, "export.enabled=false", f"run.dir={run_dir}", "train.verbose=2", *rest]
    print("$", " ".join(command), flush=True)
    subprocess.run([sys.executable, "-m", "tfseq.cli", *command[1:]], check=True)
    return json.loads((Path(run_dir) / "metrics.json").read_text())


def add_keep_argument(parser: argparse.ArgumentParser) -> None:
    """``--keep DIR``: keep the benchmark's files and run (for ``redecode.py``) in a new folder."""
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="a new folder that keeps the benchmark's data files and its run (model.keras, "
        "config.yaml, examples.txt) instead of a temporary one",
    )


def work_folder(parser: argparse.ArgumentParser, keep: Path | None):
    """A context manager giving the benchmark's folder: ``keep`` (new or empty) or a temporary one."""
    if keep is None:
        return tempfile.TemporaryDirectory()
    if keep.exists() and any(keep.iterdir()):
        parser.error(f"--keep {keep}: the folder is not empty (choose a new one)")
    keep.mkdir(parents=True, exist_ok=True)
    return contextlib.nullcontext(str(keep))
