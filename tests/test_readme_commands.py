"""The Snakemake and pip commands of README.md and docs/ work as written (dry runs), so none can rot.

Every ``snakemake ...`` in a shell code block or an inline code span of the documentation is run in a
temporary copy of the checkout with ``-n`` added (a dry run: the DAG, the configuration checks and the
targets, without running jobs). Commands with the Slurm profile (or ``--use-apptainer``) run as written
when the Slurm executor plugin, extra ``slurm`` (or apptainer) is installed; otherwise their other
arguments dry-run locally and the test then skips, saying what was not exercised. The README's console-script examples run as written,
in order, in a scratch directory (optional ``[--flag]`` parts left out). ``pip install`` commands must name extras that pyproject.toml defines.
"""
import functools
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
SHELL_BLOCKS = ("", "bash", "sh", "shell", "console")
# Placeholders the documentation uses, and what stands for them here
PLACEHOLDERS = {"N": "1"}
# Options with which a command runs no job (so it needs no --cores)
NO_JOBS = {"-n", "--dry-run", "--lint", "--report", "--unlock", "--dag", "--rulegraph", "--summary", "--list-rules"}


def _segments(line: str) -> list[str]:
    """The commands of one shell line: comments dropped, split at && and ;."""
    if line.lstrip().startswith("#"):
        return []
    code = re.split(r"\s#(?:\s|$)", line)[0]
    return [s.strip() for s in re.split(r"\s&&\s|;\s", code) if s.strip()]


def documented_commands(blocks_only: bool = False) -> list[tuple[str, str]]:
    """(where, command) for every command of the documentation (code blocks and inline code spans)."""
    found = []
    for path in DOCS:
        in_block, lang, pending = False, "", ""
        for no, line in enumerate(path.read_text().splitlines(), 1):
            fence = FENCE.match(line.strip())
            if fence:
                in_block, lang = not in_block, fence.group(1)
                continue
            where = f"{path.relative_to(REPO)}:{no}"
            if in_block:
                if lang not in SHELL_BLOCKS:
                    continue
                if line.rstrip().endswith("\\"):
                    pending += line.rstrip()[:-1] + " "
                    continue
                found += [(where, c) for c in _segments(pending + line)]
                pending = ""
            elif not blocks_only:
                found += [(where, span.strip()) for span in re.findall(r"`([^`]+)`", line)]
    return found


def _unique(prefix: re.Pattern) -> list[tuple[str, str]]:
    """Commands matching ``prefix``, each once (its first place in the documentation)."""
    seen = {}
    for where, cmd in documented_commands():
        if prefix.match(cmd):
            seen.setdefault(cmd, where)
    return [(where, cmd) for cmd, where in seen.items()]


SNAKEMAKE = _unique(re.compile(r"snakemake(\s|$)"))
PIP = _unique(re.compile(r"(python -m )?pip install\s"))


def _slurm_plugin() -> bool:
    return importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A copy of the checkout's sources (no results, no Snakemake state), where the commands run."""
    work = tmp_path_factory.mktemp("readme") / "checkout"
    ignore = shutil.ignore_patterns(".git", ".snakemake", "results*", "__pycache__", "*.egg-info", "build", ".pytest_cache",
                                    "report.html", "*.sif")
    shutil.copytree(REPO, work, ignore=ignore, symlinks=True)
    # what the documentation has the user make first: their own configuration; the container image
    # (a dry run checks that it exists, never reads it)
    shutil.copy(REPO / "config" / "config.yaml", work / "my_config.yaml")
    (work / "containers" / "jetclass2-generation.sif").touch()
    return work


def _needs_lhapdf(args: list[str], cwd: Path) -> bool:
    """The command's configuration generates with MadGraph and the reference's LHAPDF sets."""
    if "--configfile" not in args:
        return False
    config = yaml.safe_load((cwd / args[args.index("--configfile") + 1]).read_text())
    return config["generation"]["backend"] == "container" and (config.get("container") or {}).get("pdf") == "lhapdf"


def _snakemake(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_documentation_has_the_commands():
    """The extraction finds the usage table's and the cluster page's commands (else the test below checks nothing)."""
    commands = {cmd for _, cmd in SNAKEMAKE}
    assert "snakemake --cores 2" in commands and any("--profile slurm" in c for c in commands)
    assert any(c.endswith("train export evaluate") for c in commands)
    assert len(commands) >= 10


@pytest.mark.parametrize("where,command", SNAKEMAKE, ids=[f"{w}: {c}" for w, c in SNAKEMAKE])
def test_snakemake_command_dry_runs_as_written(checkout, where, command):
    args = [PLACEHOLDERS.get(a, a) for a in shlex.split(command)[1:]]
    if "--report" in args:
        pytest.skip("a report needs a finished production: tests/test_workflow.py::test_tiny_end_to_end_production "
                    "runs `snakemake --report` on one")
    runs_jobs = not NO_JOBS.intersection(args) and "--profile" not in args
    # Snakemake refuses local execution without a core count (a dry run does not ask for one)
    assert not runs_jobs or {"--cores", "-c", "--jobs", "-j"}.intersection(args), \
        f"{where}: `{command}` stops with 'cores have to be specified for local execution'"
    dry = args if NO_JOBS.intersection(args) else ["-n", *args]
    unexercised = []  # what this machine lacks: the command dry-runs without it, then the test skips
    if "--profile" in dry and dry[dry.index("--profile") + 1] == "slurm" and not _slurm_plugin():
        i = dry.index("--profile")
        dry = ["--cores", "1", *dry[:i], *dry[i + 2:]]
        # and the plugin's own options (--slurm-array-jobs VALUE, ...), which Snakemake knows only with it
        kept, skip = [], False
        for a in dry:
            if skip:
                skip = False
            elif a.startswith("--slurm-"):
                skip = "=" not in a
            else:
                kept.append(a)
        dry = kept
        unexercised.append("snakemake-executor-plugin-slurm not installed (extra `slurm`): the Slurm profile and its options")
    if "--use-apptainer" in dry and not (shutil.which("apptainer") or shutil.which("singularity")):
        dry.remove("--use-apptainer")
        unexercised.append("no apptainer: --use-apptainer")
    if _needs_lhapdf(dry, checkout) and shutil.which("lhapdf-config") is None:  # the dry run looks the sets up
        dry += ["--config", "container={pdf: builtin}"]
        unexercised.append("no LHAPDF: the reference's PDF sets (container.pdf: builtin instead)")
    r = _snakemake(dry, checkout)
    assert r.returncode == 0, f"{where}: `{command}`:\n{(r.stdout + r.stderr)[-3000:]}"
    if unexercised:
        pytest.skip(f"dry-ran as `snakemake {shlex.join(dry)}`; not exercised: {'; '.join(unexercised)}")


@functools.cache
def _extras() -> set[str]:
    return set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])


@pytest.mark.parametrize("where,command", PIP, ids=[f"{w}: {c}" for w, c in PIP])
def test_pip_install_names_defined_extras(where, command):
    """`pip install '.[slurm]'` and friends: the extras exist (the install itself: tests/test_install.py)."""
    targets = [a for a in shlex.split(command) if a.startswith(".")]
    assert targets, f"{where}: `{command}` installs no local path"
    for target in targets:
        extras = re.fullmatch(r"\.(?:\[([\w,]+)\])?", target)
        assert extras, f"{where}: `{command}`: unexpected target {target}"
        missing = set((extras.group(1) or "").split(",")) - {""} - _extras()
        assert not missing, f"{where}: `{command}`: extras {sorted(missing)} not in pyproject.toml ({sorted(_extras())})"


def _scripts() -> set[str]:
    return set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"])


README_SCRIPTS = [(w, c) for w, c in documented_commands(blocks_only=True)
                  if w.startswith("README.md:") and c.split()[0] in _scripts() and not re.search(r"\b[A-Z]{2,}\b", c)]


@pytest.mark.slow
def test_readme_console_script_examples_run_as_written(tmp_path):
    """pileup-library, generate, fastsim, ntuplize, pack, render-cards as the README shows them (~1 min)."""
    assert [c.split()[0] for _, c in README_SCRIPTS] == ["pileup-library", "generate", "fastsim", "ntuplize", "pack",
                                                         "render-cards"]
    env = {**os.environ, "JETCLASS2_CACHE": str(tmp_path / "cache")}  # generate's default pile-up library
    for where, command in README_SCRIPTS:
        if command.startswith("fastsim delphes_in.root"):  # "a Delphes file": the one generate wrote
            shutil.copy(tmp_path / "delphes.root", tmp_path / "delphes_in.root")
        runnable = re.sub(r"\s*\[[^]]*\]", "", command)
        r = subprocess.run(["bash", "-c", runnable], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{where}: `{runnable}`:\n{(r.stdout + r.stderr)[-2000:]}"
    assert (tmp_path / "dataset" / "Res34P.manifest.json").is_file()
    assert (tmp_path / "cards_dir" / "proc_card.dat").is_file() and (tmp_path / "resimulated.root").is_file()
