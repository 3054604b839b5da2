"""Atomic file writes: a file is either its old content or its whole new content, never half.

``write_atomic(path, content)`` writes to a temporary file beside ``path`` whose name is unique
to the writer (``tempfile.mkstemp``: two processes writing the same path never share one),
flushes it to disk (fsync), renames it over ``path`` (``os.replace``, atomic on POSIX) and
flushes the folder, so that the rename itself survives a crash. If anything fails, the
temporary file is removed and ``path`` is left as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def write_atomic(path: str | Path, content: bytes | str | Callable[[BinaryIO], None], overwrite: bool = True) -> Path:
    """Write ``content`` to ``path`` atomically; returns ``path``.

    ``overwrite=False``: ``FileExistsError`` if ``path`` exists, also when another process
    creates it meanwhile (the file is linked into place, which fails on an existing name,
    instead of renamed over it).

    ``content``: bytes, text (written as UTF-8), or a callable that writes into the binary file
    object it is given (e.g. ``lambda f: torch.save(state, f)``). The file gets the permissions
    a plain ``open`` would give it (0666 less the umask).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            if callable(content):
                content(file)
            else:
                file.write(content.encode("utf-8") if isinstance(content, str) else content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    _fsync_folder(path.parent)
    return path


def write_json(path: str | Path, document, overwrite: bool = True) -> Path:
    """``document`` as indented JSON (no NaN or infinity: ``ValueError``), written atomically."""
    return write_atomic(path, json.dumps(document, indent=1, allow_nan=False) + "\n", overwrite)


def save_torch(path: str | Path, obj) -> Path:
    """``torch.save(obj)`` to ``path``, atomically."""
    import torch  # here: writing JSON needs no torch

    return write_atomic(path, lambda file: torch.save(obj, file))


def _umask() -> int:
    """The process's umask: read from /proc/self/status where Linux gives it (no change to the
    process), else by setting and restoring it (not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries to disk (where the platform allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
