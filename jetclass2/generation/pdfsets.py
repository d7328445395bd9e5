"""The LHAPDF sets a container-path configuration needs, and whether they are installed where its jobs run.

The container path can take its PDFs from LHAPDF (``container.pdf: lhapdf``, the reference's NNPDF3.1
sets) or from MadGraph's and Pythia's built-in ones (``builtin``). A missing LHAPDF or set used to
surface only when a job ran; :func:`check` lets the workflow stop at ``snakemake -n`` instead, with
one line naming every missing set and the ``builtin`` alternative.

The look-up is a short POSIX shell script run where the jobs run: natively (the generation stack's
``setup.sh`` sourced, so ``lhapdf-config`` is on PATH when the stack has LHAPDF) or inside the
generation image (``apptainer exec IMAGE``). It follows LHAPDF's own search order: ``LHAPDF_DATA_PATH``,
then ``LHAPATH``, then ``lhapdf-config --datadir``. A set counts as installed when its ``.info`` file
and its central member (``_0000.dat``) are there: the jobs use member 0 only.
"""
from __future__ import annotations

import shutil
import subprocess

# argv: the set names. Prints NO-LHAPDF when lhapdf-config is absent, else one missing set per line.
_LOOKUP = r"""
command -v lhapdf-config >/dev/null 2>&1 || { echo NO-LHAPDF; exit 0; }
dirs="${LHAPDF_DATA_PATH:-}:${LHAPATH:-}:$(lhapdf-config --datadir 2>/dev/null)"
for s in "$@"; do
    found=0
    IFS=:
    for d in $dirs; do
        if [ -n "$d" ] && [ -f "$d/$s/$s.info" ] && [ -f "$d/$s/${s}_0000.dat" ]; then found=1; fi
    done
    unset IFS
    [ "$found" = 1 ] || echo "$s"
done
"""


class PDFSetError(Exception):
    """The PDF sets a configuration names are not installed where its jobs run."""


def choice(samples_cfg: dict, pdf: str | None) -> str:
    """The PDF choice in force: ``pdf`` (the workflow's ``container.pdf``) or the samples file's."""
    return str(pdf or samples_cfg["container"]["pdf"])


def required_sets(samples_cfg: dict, pdf: str | None = None) -> list[str]:
    """LHAPDF set names the container path's cards use for the PDF choice (empty for built-in PDFs)."""
    name = choice(samples_cfg, pdf)
    entry = samples_cfg["container"]["pdf_sets"].get(name)
    if entry is None:
        raise PDFSetError(f"unknown PDF choice {name!r} (known: {', '.join(samples_cfg['container']['pdf_sets'])})")
    return list(dict.fromkeys(str(s) for s in entry.get("lhapdf_sets") or []))


def missing_sets(names: list[str], image: str | None = None) -> list[str] | None:
    """The sets among ``names`` not installed; ``None`` when there is no LHAPDF at all.

    ``image``: look inside this container image (``apptainer exec``) instead of on this machine.
    """
    if not names:
        return []
    cmd = ["sh", "-c", _LOOKUP, "sh", *names]
    if image:
        runner = shutil.which("apptainer") or shutil.which("singularity")
        if runner is None:
            raise PDFSetError(f"cannot look into the image {image}: neither apptainer nor singularity is on PATH")
        cmd = [runner, "exec", image, *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        where = f"in the image {image}" if image else "on this machine"
        raise PDFSetError(f"the LHAPDF look-up {where} failed: {(r.stderr.strip().splitlines() or ['no message'])[-1]}")
    out = [line.strip() for line in r.stdout.splitlines() if line.strip()]
    if out == ["NO-LHAPDF"]:
        return None
    return out


def check(samples_cfg: dict, pdf: str | None = None, image: str | None = None, key: str = "container.pdf") -> None:
    """Raise :class:`PDFSetError` (one line, naming the sets and the way out) unless every set is installed."""
    names = required_sets(samples_cfg, pdf)
    missing = missing_sets(names, image)
    if missing == []:
        return
    where = f"in the image {image}" if image else "on this machine"
    if missing is None:
        problem = f"LHAPDF is not installed {where} (no lhapdf-config; generation stack's setup.sh not sourced?)"
    else:
        problem = f"LHAPDF set(s) {', '.join(missing)} not installed {where}"
    raise PDFSetError(f"{key}: {choice(samples_cfg, pdf)}: {problem}; the cards need {', '.join(names)}. "
                      f"Install them (docs/container.md) or set {key}: builtin (MadGraph's and Pythia's built-in PDFs)")
