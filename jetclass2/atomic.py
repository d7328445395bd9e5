"""Write a file under a temporary name and rename it on success: no half-written file ever
stands under a final name, and a failure (an exception, SIGTERM through
:func:`raise_on_sigterm`) removes the temporary file. Problems with the output itself (a
directory in the way, no permission, a full disk) become :class:`OutputError`, which names
the output file."""
from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import sys
from pathlib import Path


class OutputError(OSError):
    """An output that cannot be written; the message names the file and the reason."""


class Terminated(SystemExit):
    """Raised in the main thread by SIGTERM once :func:`raise_on_sigterm` is installed."""


def _raise_terminated(signum, frame):
    raise Terminated(128 + signum)


def _deliver_again(unraisable) -> None:
    """``sys.unraisablehook``: a :class:`Terminated` raised while Python ran a callback that
    cannot propagate exceptions (a weakref callback of importlib's module locks, a ``__del__``)
    is swallowed there ("Exception ignored ... Terminated: 143") and the process would run on:
    send the signal again, so that it is handled at the next bytecode outside the callback.
    Other unraisable exceptions go to the previous hook."""
    if isinstance(unraisable.exc_value, Terminated):
        os.kill(os.getpid(), int(unraisable.exc_value.code) - 128)
        return
    _previous_unraisablehook(unraisable)


_previous_unraisablehook = sys.unraisablehook


def install_sigterm_handler(signals=(signal.SIGTERM,)) -> dict:
    """Make ``signals`` raise :class:`Terminated` (exit status 128 + signal number) in the main
    thread, never lost (see :func:`_deliver_again`); returns the previous handlers. Raises
    ``ValueError`` outside the main thread."""
    global _previous_unraisablehook
    previous = {sig: signal.signal(sig, _raise_terminated) for sig in signals}
    if sys.unraisablehook is not _deliver_again:
        _previous_unraisablehook, sys.unraisablehook = sys.unraisablehook, _deliver_again
    return previous


@contextlib.contextmanager
def raise_on_sigterm():
    """Within the block, SIGTERM raises :class:`Terminated` (exit status 143), so that ``with``
    blocks and ``finally`` clauses run and remove temporary files (a plain SIGTERM kills at
    once). The previous handler is restored afterwards; outside the main thread it does nothing."""
    try:
        previous = install_sigterm_handler()
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
        with full_disk_names(path):
            yield tmp
        with output_errors(path):
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def full_disk_names(path: str | os.PathLike):
    """A full disk (or quota) in the block, whatever library wrote (pyarrow, uproot, ...) and
    however it wrapped the error, becomes :class:`OutputError` naming ``path``."""
    try:
        yield
    except OutputError:
        raise
    except Exception as exc:
        if disk_full(exc):
            raise OutputError(f"{path}: cannot write (No space left on device)") from exc
        raise


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc``, or an exception it was raised from or during, is a full disk or quota
    (libraries wrap the OSError, or replace it by a later error while closing the file)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and (exc.errno in _FULL or "No space left on device" in str(exc)
                                         or "Disk quota exceeded" in str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
