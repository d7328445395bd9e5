"""What every console script checks before it works: numeric options in range and finite,
inputs given once, outputs that are no input (resolved paths), and one error line.

Every failure is one line ``TOOL: error: FILE: problem`` (or the option) on stderr, exit
status 2: :class:`ArgumentParser` prints argparse's errors that way (no usage block), and
:func:`report` turns the exceptions of a run into that line.
"""
from __future__ import annotations

import argparse
import errno
import math
import os
import sys
from pathlib import Path


class UsageError(ValueError):
    """Arguments that cannot work together (an output that is an input, an input given twice)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``TOOL: error: MESSAGE``, exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog.split()[0]}: error: {message}\n")


def integer(minimum: int | None = None, maximum: int | None = None):
    """An argparse ``type``: an integer within ``[minimum, maximum]``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        _in_range(value, minimum, maximum, None)
        return value
    return parse


def number(minimum: float | None = None, maximum: float | None = None, above: float | None = None):
    """An argparse ``type``: a finite number within ``[minimum, maximum]`` (``above``: strictly greater)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
        _in_range(value, minimum, maximum, above)
        return value
    return parse


def _in_range(value, minimum, maximum, above) -> None:
    if minimum is not None and value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    if above is not None and value <= above:
        raise argparse.ArgumentTypeError(f"must be greater than {above}, got {value}")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file: equal once resolved (links followed), or one inode."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def inside(path: str | os.PathLike, directory: str | os.PathLike) -> bool:
    """Whether ``path`` is ``directory`` or lies under it (resolved paths)."""
    p, d = Path(os.path.realpath(path)), Path(os.path.realpath(directory))
    return p == d or d in p.parents


def check_paths(inputs=(), outputs=(), output_dirs=()) -> None:
    """Refuse an input given twice, an output that is an input or another output, and an
    output directory that holds an input. Each argument: ``(option, path)`` pairs (``None``
    paths are skipped); raises :class:`UsageError` naming the path and the options."""
    inputs = [(o, p) for o, p in inputs if p is not None]
    outputs = [(o, p) for o, p in outputs if p is not None]
    for i, (opt, path) in enumerate(inputs):
        for opt2, path2 in inputs[:i]:
            if same_file(path, path2):
                what = "listed twice as input" if opt == opt2 else f"given as {opt2} and as {opt}"
                raise UsageError(f"{path}: {what}")
    for i, (opt, path) in enumerate(outputs):
        for opt2, path2 in inputs + outputs[:i]:
            if same_file(path, path2):
                raise UsageError(f"{path}: output {opt} is also {opt2} (it would be overwritten)")
    for opt, directory in output_dirs:
        if directory is None:
            continue
        for opt2, path in inputs:
            if inside(path, directory):
                raise UsageError(f"{path}: input {opt2} lies in the output directory {opt} {directory}")


def describe_os_error(exc: OSError) -> str:
    """``FILE: problem`` of an ``OSError`` (a full disk says so)."""
    reason = "No space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    name = exc.filename
    if exc.filename2:
        name = f"{exc.filename} -> {exc.filename2}"
    return f"{name}: {reason}" if name else reason


def report(prog: str, exc: BaseException, suffix: str = "") -> int:
    """Print ``PROG: error: MESSAGE`` for ``exc`` (one line; ``suffix`` appended) and return exit status 2."""
    message = describe_os_error(exc) if isinstance(exc, OSError) and exc.filename else str(exc)
    message = " ".join((message + suffix).split())  # one line, whatever the message held
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2
