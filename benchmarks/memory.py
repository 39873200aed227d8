"""Peak memory and time of a tagging run as its training file grows (1x, 4x, 16x ...).

    python benchmarks/memory.py [--scales 1 4 16] [--train FILE --test FILE] [-- key=value ...]

Each scale runs ``tfseq-train task=tag`` in its own process on the training file repeated that
many times (CoNLL-2000 chunking from ../shared/data by default: 8,936 sentences, 211,727 tokens
at 1x), with the test file as it is, and prints the process's peak resident memory (RSS, sampled
every 0.1 s and the kernel's own high-water mark) and wall time, then where the peak was reached:
the last line the run had printed by then. Memory that follows the data grows at most linearly
with the scale; a fixed cost (TensorFlow itself, about 0.6 GB) stays.

Overrides after ``--`` go to every run (e.g. ``train.epochs=1 backbone.layers=1``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def rss_of(pid: int) -> tuple[int, int]:
    """(current, peak) resident memory of ``pid`` in bytes (``VmRSS``, ``VmHWM``)."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount = line.split(":")
                values[key] = int(amount.split()[0]) * 1024
    except OSError:
        pass
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def measured_run(args: list[str], folder: Path, trace: bool = False) -> dict:
    """``tfseq-train args`` in a fresh process: peak RSS, wall time, and the printed line at the peak."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "tfseq.cli", *args, f"run.root={folder / 'runs'}", f"export.dir={folder / 'exports'}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines, peak, at_peak, high_water = [], 0, "", 0

    def sample():
        nonlocal peak, at_peak, high_water
        while process.poll() is None:
            now, high_water = rss_of(process.pid)
            if now > peak:
                peak, at_peak = now, lines[-1] if lines else "(start-up)"
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for line in process.stdout:
        lines.append(line.rstrip()[:110])
        if trace:
            print(
                f"  [{rss_of(process.pid)[0] / 1e9:5.2f} GB {time.perf_counter() - started:6.1f} s] {lines[-1]}",
                flush=True,
            )
    process.wait()
    sampler.join()
    if process.returncode:
        print("\n".join(lines[-20:]))
        raise SystemExit(f"the run failed (exit {process.returncode})")
    return {
        "peak_gb": max(peak, high_water) / 1e9,
        "seconds": time.perf_counter() - started,
        "at_peak": at_peak,
        "lines": lines,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", nargs="+", type=int, default=[1, 4, 16])
    parser.add_argument("--train", type=Path, default=SHARED / "conll2000" / "train.txt")
    parser.add_argument("--test", type=Path, default=SHARED / "conll2000" / "test.txt")
    parser.add_argument("--trace", action="store_true", help="print each line of the runs with the memory then")
    parser.add_argument("overrides", nargs="*", help="key=value for every run (after --)")
    options = parser.parse_args()
    if not options.train.exists():
        raise SystemExit(f"{options.train} not found: pass --train and --test (CoNLL column files)")
    text = options.train.read_text(encoding="utf-8").strip("\n") + "\n\n"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for scale in options.scales:
            folder = Path(tmp) / f"x{scale}"
            folder.mkdir()
            train = folder / "train.txt"
            train.write_text(text * scale, encoding="utf-8")
            args = [
                "task=tag",
                f"data.train={train}",
                f"data.test={options.test.resolve()}",
                "train.verbose=2",
                "export.name=memory",
                *options.overrides,
            ]
            result = measured_run(args, folder, options.trace)
            sentences = text.count("\n\n") * scale
            rows.append((scale, train.stat().st_size / 1e6, sentences, result))
            print(
                f"{scale:>3}x  {train.stat().st_size / 1e6:7.1f} MB  {sentences:>7} sentences  "
                f"peak RSS {result['peak_gb']:5.2f} GB  {result['seconds']:7.1f} s  (peak after: {result['at_peak']!r})",
                flush=True,
            )
    base = rows[0]
    print("\n| training file | sentences | peak RSS | x the smallest | wall time | x the smallest |")
    print("|---|---|---|---|---|---|")
    for scale, size, sentences, result in rows:
        print(
            f"| {scale}x ({size:.1f} MB) | {sentences:,} | {result['peak_gb']:.2f} GB | "
            f"{result['peak_gb'] / base[3]['peak_gb']:.2f} | {result['seconds']:.0f} s | "
            f"{result['seconds'] / base[3]['seconds']:.2f} |"
        )
    print(f"overrides: {' '.join(options.overrides) or '(none: the recipe as a user runs it)'}")


if __name__ == "__main__":
    main()
