"""`snakemake --lint` finds nothing to report, for the default and the full-size configuration."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("configfile", [None, "config/jetclass2_full.yaml"])
def test_snakemake_lint_is_clean(configfile):
    args = ["--configfile", configfile] if configfile else []
    if configfile and shutil.which("lhapdf-config") is None:
        # the dry run looks the reference's LHAPDF sets up (docs/container.md); absent here: built-in PDFs
        args += ["--config", "container={pdf: builtin}"]
    r = subprocess.run([sys.executable, "-m", "snakemake", "--lint", *args], cwd=REPO, capture_output=True, text=True)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "Lints for" not in out, out[-4000:]
