"""The benchmarks' one way to train: ``tfseq-train`` in a child process, its ``metrics.json`` back.

Every benchmark prints the command it runs, so a row of its table can be reproduced from the
log by hand. The child process is this interpreter's ``python -m tfseq.cli`` (the checkout's
tfseq, whatever ``tfseq-train`` the shell would find).
"""

from __future__ import annotations

import json
import subprocess
import sys
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
