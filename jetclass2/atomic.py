"""Write a file under a temporary name and rename it on success: no half-written file ever
stands under a final name, and a failure (an exception, SIGTERM through
:func:`raise_on_sigterm`) removes the temporary file. Problems with the output itself (a
directory in the way, no permission, a full disk) become :class:`OutputError`, which names
the output file."""
from __future__ import annotations

import contextlib
import os
import re
import signal
from pathlib import Path


class OutputError(OSError):
    """An output that cannot be written; the message names the file and the reason."""


class Terminated(SystemExit):
    """Raised in the main thread by SIGTERM once :func:`raise_on_sigterm` is installed."""


@contextlib.contextmanager
def raise_on_sigterm():
    """Within the block, SIGTERM raises :class:`Terminated` (exit status 143), so that ``with``
    blocks and ``finally`` clauses run and remove temporary files (a plain SIGTERM kills at
    once). The previous handler is restored afterwards; outside the main thread it does nothing."""
    def _handler(signum, frame):
        raise Terminated(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, _handler)
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def temporary_name(path: str | os.PathLike) -> Path:
    """The hidden temporary name beside ``path`` used while it is written (``.NAME.PID.tmp``)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def process_alive(pid: int) -> bool:
    """Whether a process with this PID runs on this machine (signal 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files of ``path`` left by processes that no longer run (a SIGKILL,
    a crashed node); returns them."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.tmp$")
    removed = []
    if not path.parent.is_dir():
        return removed
    for candidate in path.parent.iterdir():
        m = pattern.match(candidate.name)
        if m and int(m.group(1)) != os.getpid() and not process_alive(int(m.group(1))):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail early, before any work, if ``path`` cannot become a file."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: output path is a directory")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{path}: cannot create it ({parent} is not a directory)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: directory {parent} is not writable")
    return path


@contextlib.contextmanager
def output_errors(path: str | os.PathLike):
    """Re-raise an OSError of the block (a full disk, no permission) as :class:`OutputError` naming ``path``."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    >>> with atomic_output("out.json") as tmp:
    ...     tmp.write_text("{}")
    """
    path = check_output_path(path)
    with output_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        with output_errors(path):
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
