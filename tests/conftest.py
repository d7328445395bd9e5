"""Shared pytest fixtures: locations of the read-only reference data in ../shared, the generation stack."""
import contextlib
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _find_shared() -> Path:
    """$JETCLASS2_SHARED, else the nearest ``shared/`` with a ``reference/`` beside the checkout
    or one of its parents (a git worktree sits deeper than the main checkout)."""
    if os.environ.get("JETCLASS2_SHARED"):
        return Path(os.environ["JETCLASS2_SHARED"]).resolve()
    for parent in REPO.parents:
        if (parent / "shared" / "reference").is_dir():
            return (parent / "shared").resolve()
    return (REPO.parent / "shared").resolve()


SHARED = _find_shared()


@pytest.fixture(scope="session", autouse=True)
def _no_writes_under_home(tmp_path_factory):
    """Tests write nothing under ~: caches that follow $XDG_CACHE_HOME (Snakemake's source cache,
    matplotlib, pip) go to a session directory, and onnxruntime (imported by the tests and weaver)
    keeps no telemetry device id (~/.cache/Microsoft/DeveloperTools/.onnxruntime) with
    ORT_DISABLE_TELEMETRY. Subprocesses inherit both."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg_cache")))
        mp.setenv("ORT_DISABLE_TELEMETRY", "1")
        yield


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only reference data directory (../shared next to the checkout)."""
    if not (SHARED / "reference").is_dir():
        pytest.fail(f"reference data not found at {SHARED} (expected ../shared beside the checkout)")
    return SHARED / "reference"


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


# ---- the generation stack (MadGraph, Pythia, Delphes), for tests that run its programs ------------

@pytest.fixture(scope="session")
def stack_env() -> dict:
    """The environment with the generation stack's ``setup.sh`` sourced (its cache directory,
    containers/stack-cache-dir); skips when the stack is not built."""
    prefix = Path(subprocess.run(["bash", str(REPO / "containers" / "stack-cache-dir")], capture_output=True, text=True,
                                 check=True).stdout.strip())
    if not (prefix / ".complete").is_file():
        pytest.skip(f"generation stack not built at {prefix} (containers/install-generation-stack.sh)")
    out = subprocess.run(["bash", "-c", f". '{prefix / 'setup.sh'}' && env -0"], capture_output=True, check=True).stdout
    return dict(kv.split("=", 1) for kv in out.decode().split("\0") if "=" in kv)


@pytest.fixture(scope="session")
def stack_environ(stack_env):
    """A context manager: ``os.environ`` with the stack's environment while code in this process
    calls the stack's programs (mg5_aMC, gfortran, make), restored afterwards."""
    @contextlib.contextmanager
    def environ():
        saved = dict(os.environ)
        os.environ.update(stack_env)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return environ


# ---- ROOT (C++) for read-back tests --------------------------------------------------------
# ROOT is no dependency of the project (the PyPI wheel `ROOT==0.1a12` is 248 MB; extra `root`).
# A test that needs it gets a runner from the `root_macro` fixture, which finds ROOT as
#   1. an importable `ROOT` module in this environment,
#   2. $JETCLASS2_ROOT: a directory holding a `setup.sh` (sourced) or a `ROOT/` package
#      (a `pip install --target DIR ROOT==0.1a12`),
#   3. a complete generation stack build: $JETCLASS2_CACHE (default ~/.cache/jetclass2)/stack-*/setup.sh,
# and skips with the reason when there is none.


def _root_candidates():
    import importlib.util

    if importlib.util.find_spec("ROOT") is not None:
        yield "this environment", {}, None
    if os.environ.get("JETCLASS2_ROOT"):
        d = Path(os.environ["JETCLASS2_ROOT"])
        if (d / "setup.sh").is_file():
            yield f"$JETCLASS2_ROOT ({d})", {}, d / "setup.sh"
        elif (d / "ROOT").is_dir():
            yield f"$JETCLASS2_ROOT ({d})", {"PYTHONPATH": str(d)}, None
    cache = Path(os.environ.get("JETCLASS2_CACHE", Path.home() / ".cache" / "jetclass2"))
    for setup in sorted(cache.glob("stack-*/setup.sh"), reverse=True):
        if (setup.parent / ".complete").is_file():
            yield f"generation stack ({setup})", {}, setup


def _python_with_root(env_extra: dict, setup: Path | None, code: str, timeout: int = 600):
    """Run ``python -c code`` where ROOT imports (env_extra added, setup.sh sourced first)."""
    import subprocess
    import sys

    env = {**os.environ, **env_extra}
    cmd = [sys.executable, "-c", code]
    if setup is not None:
        quoted = code.replace("'", "'\\''")
        cmd = ["bash", "-c", f"source '{setup}' >/dev/null && exec python -c '{quoted}'"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def root_macro():
    """``run(macro_path, *string_args) -> CompletedProcess``: the C++ macro executed by ROOT (Cling)."""
    tried = []
    for where, env_extra, setup in _root_candidates():
        probe = _python_with_root(env_extra, setup, "import ROOT; print(ROOT.gROOT.GetVersion())", timeout=300)
        if probe.returncode == 0:
            def run(macro, *args, _env=env_extra, _setup=setup):
                call = ", ".join('"' + str(a) + '"' for a in args)
                code = ("import ctypes, sys, ROOT; ROOT.gROOT.SetBatch(True); err = ctypes.c_int(0); "
                        f"ROOT.gROOT.ProcessLine('.x {macro}({call})', err); sys.exit(1 if err.value else 0)")
                return _python_with_root(_env, _setup, code)
            run.version = probe.stdout.strip().splitlines()[-1]
            run.where = where
            return run
        tried.append(f"{where}: {(probe.stderr or probe.stdout).strip().splitlines()[-1:]}")
    pytest.skip("ROOT not found (no importable ROOT module, $JETCLASS2_ROOT or generation stack build)"
                + (f"; tried {tried}" if tried else "") + "; `pip install '.[root]'` provides it")
