"""Write outputs so that a reader never sees half of them.

Everything is first written into a temporary sibling and moved into place with
``os.replace`` (atomic on one filesystem); on any exception the temporary is removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from vosbench.errors import VosbenchError


def _umask() -> int:
    """The process's umask: outputs get the permissions a plain ``open`` would give."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` when the block ends."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    tmp.chmod(0o666 & ~_umask())  # mkstemp makes the file private (0600)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; it becomes ``path`` when the block ends.

    An existing ``path`` is replaced only after the new content is complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes the folder private (0700)
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_output_folder(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` if a folder can be made or written there, else one line saying why.

    Nothing is created: a command checks its output folder before it reads or writes
    anything, so a bad ``--out`` costs no work and leaves no trace.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise VosbenchError(f"{option} {path}: exists and is not a folder; choose another {option}")
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise VosbenchError(f"{option} {path}: {existing} is a file, so no folder can be made under it; choose another {option}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise VosbenchError(f"{option} {path}: {existing} is not writable by this user; choose another {option}")
    return path
