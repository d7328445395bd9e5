"""Locks, signal handling and temporary work areas shared by the packing commands."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path

from jetclass2.atomic import Terminated, install_sigterm_handler  # noqa: F401  (Terminated: re-exported)

log = logging.getLogger(__name__)


def install_signal_handlers() -> None:
    """Turn SIGTERM and SIGHUP into :class:`Terminated`: context managers remove temporary files on the way out."""
    install_sigterm_handler((signal.SIGTERM, signal.SIGHUP))


@contextlib.contextmanager
def file_lock(lock_path: str | os.PathLike, shared: bool = False, wait: bool = True, what: str = ""):
    """An ``fcntl`` lock on ``lock_path`` (created if needed, never deleted: deleting lock files races).

    Another process holding it makes this one wait (``wait``) or raise ``BlockingIOError``.
    """
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise
            log.warning("waiting for %s (held by another process)%s", lock_path, f": {what}" if what else "")
            fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def work_dir(parent: str | os.PathLike, prefix: str):
    """A fresh hidden directory in ``parent`` (same file system as the outputs), removed on exit."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard link ``src`` as ``dst`` (no extra space), or copy it where links are impossible."""
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
        shutil.copy2(src, dst)
