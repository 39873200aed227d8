"""Atomic writes that leave files as ``open()`` would: complete or absent, and readable.

Complete means on disk, not only in the page cache: the data is fsynced before the rename, and
the folder after it (POSIX makes a rename durable only once its folder is synced), so a file or
an export that was reported written survives a power cut.

``tempfile.mkstemp`` and ``mkdtemp`` create private files (0600) and folders (0700), which is
right while they are being written and wrong once they are published: TensorFlow Serving under
another user, or a teammate, could not read an export. Everything written through here gets the
permissions the process's umask gives a new file or folder (0644 / 0755 under umask 022).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def current_umask() -> int:
    """The process's umask (read from /proc where it can be, without changing it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting, then put back at once
    os.umask(mask)
    return mask


def publishable(path) -> Path:
    """Give ``path`` (a file, or a folder and everything in it) the permissions a new file or
    folder gets under the umask: 0666 or 0777 less the umask."""
    path, mask = Path(path), current_umask()
    paths = [path, *path.rglob("*")] if path.is_dir() else [path]
    for item in paths:
        if not item.is_symlink():
            os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~mask)
    return path


def sync(path) -> None:
    """fsync ``path`` (a file, or a folder: its entries, as a rename into it left them)."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if Path(path).is_dir() else 0)
    handle = os.open(path, flags)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def sync_tree(folder) -> None:
    """fsync every file and folder under ``folder`` (deepest first) and ``folder`` itself."""
    folder = Path(folder)
    for item in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if not item.is_symlink():
            sync(item)
    sync(folder)


def atomic_write(path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed into place (both synced)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(publishable(tmp), path)
        sync(path.parent)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def publish(tmp, target) -> Path:
    """Move the finished ``tmp`` (a file or a folder beside ``target``) to ``target``: readable as
    the umask allows, synced, renamed (replacing a file, or an empty folder), the rename synced."""
    target = Path(target)
    sync_tree(publishable(tmp)) if Path(tmp).is_dir() else sync(publishable(tmp))
    os.replace(tmp, target)
    sync(target.parent)
    return target


@contextmanager
def written_to(path, suffix=""):
    """The path a writer that wants a file name (``model.save``) should write to; published as
    ``path`` when the block ends without an error, removed otherwise."""
    with temporary_file(Path(path).parent, suffix=suffix or Path(path).suffix) as tmp:
        yield tmp
        publish(tmp, path)


@contextmanager
def temporary_file(folder, suffix=""):
    """A temporary file's path in ``folder`` (removed afterwards if still there); publish it with
    ``os.replace(publishable(tmp), target)``."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(handle)
    try:
        yield Path(tmp)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextmanager
def temporary_folder(parent, prefix=".tmp-"):
    """A temporary folder in ``parent`` (removed afterwards if still there); publish it with
    ``sync_tree(publishable(tmp))``, ``os.rename(tmp, target)`` and ``sync(parent)``."""
    Path(parent).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def disk_full_error(path, error: BaseException) -> OSError | None:
    """``error`` as the full disk it is, naming ``path``, when the disk under ``path`` has less
    than 1 MB left (TensorFlow, Keras and h5py report a full disk in their own words, without
    the file); None when the disk has room (``error`` is something else)."""
    import errno

    folder = Path(path).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if shutil.disk_usage(folder).free >= 1 << 20:
        return None
    full = OSError(errno.ENOSPC, "No space left on device", str(path))
    full.__cause__ = error
    return full
