"""A run's folder: resolved config, metrics, reports, plots, checkpoints, TensorBoard logs.

Every file is written atomically (temporary file, then rename), so a killed run never leaves a
half-written result, and a new run never reuses an existing folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tfseq.atomic import atomic_write

__all__ = ["RunFolder", "atomic_write"]


class RunFolder:
    """``<root>/<task>/<timestamp>[-N]/``, or an explicit ``path`` (used by ``resume=true``)."""

    def __init__(self, root="runs", task="run", path=None):
        if path is not None:
            self.path = Path(path)
            self.path.mkdir(parents=True, exist_ok=True)
        else:
            base = Path(root) / task / time.strftime("%Y%m%d-%H%M%S")
            self.path, suffix = base, 1
            while True:
                try:
                    self.path.mkdir(parents=True)
                    break
                except FileExistsError:
                    suffix += 1
                    self.path = base.with_name(f"{base.name}-{suffix}")

    @staticmethod
    def latest(root, task, finished: bool = False) -> Path | None:
        """The newest run of ``task``: without ``metrics.json`` (a run that was killed), or with
        it (``finished=True``, a complete run)."""
        runs = sorted((Path(root) / task).glob("*/"), key=lambda p: p.stat().st_mtime)
        for path in reversed(runs):
            if (path / "metrics.json").exists() == finished:
                return path
        return None

    def file(self, name) -> Path:
        return self.path / name

    def write_json(self, name, value) -> Path:
        return atomic_write(self.file(name), json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def write_text(self, name, text) -> Path:
        return atomic_write(self.file(name), text)

    def save_figure(self, name, figure) -> Path:
        """``figure`` as ``<run>/<name>`` (PNG, written whole), then closed: pyplot holds every
        figure it made until closed, so a sweep's runs would pile them up in memory."""
        import io

        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        try:
            figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        finally:
            plt.close(figure)
        return atomic_write(self.file(name), buffer.getvalue())

    def __str__(self):
        return str(self.path)
