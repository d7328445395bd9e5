"""``DelphesPythia8Batches``: Pythia 8 -> Delphes for many batches in one process (the container path).

Delphes 3.5.0's ``DelphesPythia8`` takes one Pythia card, so the container job ran it once per
100-event batch, and ~1.1 s of its ~5.5 s of CPU per Res34P batch was start-up (ROOT, the Delphes
card and modules, Pythia's XML database). ``DelphesPythia8Batches.cpp`` (beside this module) does
per batch what DelphesPythia8 does, in one process per MadGraph session: a fresh Pythia per batch
(copied from a pristine one), ROOT's ``gRandom`` reseeded with the batch's Delphes seed, event
numbers from 0 in every batch; every branch of every event equals DelphesPythia8's on the same
batch (tests/test_delphes_batches.py, benchmarks/bench_delphes_batches.py).

The program is compiled against the generation stack in use (``root-config``, ``$DELPHES_DIR``,
``$PYTHIA8``) on first use, ~7 s, and cached in ``$JETCLASS2_CACHE`` (else ``$XDG_CACHE_HOME/jetclass2``,
``~/.cache/jetclass2``)
under a name made from its source, the compile command and the libraries it links; where that is
not writable, in the job's work directory.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger("run-container-job")

SOURCE = Path(__file__).with_name("DelphesPythia8Batches.cpp")
PROGRAM = "DelphesPythia8Batches"
#: what the compile needs besides the stack's environment variables
TOOLS = ("g++", "root-config")


class BuildError(RuntimeError):
    """The program could not be compiled (the message says why)."""


def _stack() -> dict[str, Path]:
    """The stack's Delphes and Pythia directories, from the environment its setup.sh exports."""
    dirs = {}
    for var in ("DELPHES_DIR", "PYTHIA8"):
        value = os.environ.get(var)
        if not value or not Path(value).is_dir():
            raise BuildError(f"${var} is not set to a directory (source the generation stack's setup.sh, or run in the generation image)")
        dirs[var] = Path(value).resolve()
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise BuildError(f"{', '.join(missing)} not found on PATH (the generation stack and a C++ compiler are needed)")
    return dirs


def compile_command(output: Path) -> list[str]:
    """The g++ command line that builds the program into ``output``."""
    d = _stack()
    root = subprocess.run(["root-config", "--cflags", "--libs"], capture_output=True, text=True, check=True).stdout.split()
    cflags = [f for f in root if not f.startswith(("-L", "-l", "-Wl"))]
    libs = [f for f in root if f.startswith(("-L", "-l", "-Wl"))]
    delphes, pythia = d["DELPHES_DIR"], d["PYTHIA8"]
    return ["g++", "-O2", *cflags, f"-I{delphes}", f"-I{delphes / 'external'}", f"-I{pythia / 'include'}", str(SOURCE),
            "-o", str(output), f"-L{delphes}", "-lDelphes", f"-L{pythia / 'lib'}", "-lpythia8", *libs, "-lEG",
            f"-Wl,-rpath,{delphes}:{pythia / 'lib'}"]


def _identity(command: list[str]) -> str:
    """A hash of what the binary is made of: the source, the compile ``command``, the libraries it links."""
    d = _stack()
    h = hashlib.sha256(SOURCE.read_bytes())
    h.update(" ".join(command).encode())
    for lib in (d["DELPHES_DIR"] / "libDelphes.so", *sorted((d["PYTHIA8"] / "lib").glob("libpythia8.*"))):
        if lib.exists():
            st = lib.stat()
            h.update(f"{lib}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:12]


def _cache_root() -> Path:
    """``$JETCLASS2_CACHE``, else ``$XDG_CACHE_HOME/jetclass2``, else ``~/.cache/jetclass2``."""
    if os.environ.get("JETCLASS2_CACHE"):
        return Path(os.environ["JETCLASS2_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jetclass2"


def program(workdir: Path) -> Path:
    """The compiled program: the cached one, else compiled now (into the cache, or ``workdir`` when the
    cache cannot be written). Raises :class:`BuildError`."""
    placeholder = Path("OUTPUT")
    command = compile_command(placeholder)  # root-config asked once; the output named per target below
    ident = _identity(command)
    cached = _cache_root() / f"delphes-batches-{ident}" / PROGRAM
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    for target in (cached, Path(workdir) / f"delphes-batches-{ident}" / PROGRAM):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{PROGRAM}.", dir=target.parent)
            os.close(fd)
        except OSError as exc:
            log.warning("cannot write %s (%s); compiling %s elsewhere", target.parent, exc.strerror, PROGRAM)
            continue
        log.info("compiling %s against the generation stack (once per stack, ~7 s) -> %s", PROGRAM, target)
        try:
            done = subprocess.run([tmp if arg == str(placeholder) else arg for arg in command], capture_output=True, text=True)
            if done.returncode != 0:
                lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
                raise BuildError(f"g++ failed on {SOURCE}: " + " | ".join(lines[:4]))
            os.chmod(tmp, 0o755)
            os.replace(tmp, target)  # concurrent jobs each rename a complete binary
        finally:
            Path(tmp).unlink(missing_ok=True)
        return target
    raise BuildError(f"nowhere to write {PROGRAM} (neither {cached.parent} nor {workdir})")


def batch_list(batches: list[tuple[Path, int]]) -> str:
    """The program's batch list: one ``PYTHIA_CARD DELPHES_SEED`` line per batch."""
    for card, _ in batches:
        if any(c.isspace() for c in str(card)):
            raise ValueError(f"{card}: a Pythia card path with white space cannot go into the batch list")
    return "".join(f"{card} {seed}\n" for card, seed in batches)
