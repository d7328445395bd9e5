"""File lists of a split from the pack manifests, as weaver arguments.

Usage: python -m jetclass2.training.file_lists --split train [--named] [--data-config DC.yaml] results/dataset/*.manifest.json
prints ``Category:path`` entries for training (weaver samples categories evenly) or plain paths.
With ``--data-config``, files in which the configuration's ``selection`` keeps no jet are left out
(weaver fails on a file that its selection empties; small productions have such files).
"""
import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import uproot
import yaml


def require_intact(manifests) -> None:
    """Refuse a damaged or incomplete dataset before reading it (:func:`jetclass2.packing.store.require_intact`:
    sizes and stamps, SHA-256 of files changed since the last check); raises ``ValueError`` naming the file."""
    from jetclass2.packing.store import require_intact as check

    by_dir: dict[Path, list[str]] = {}
    for m in manifests:
        m = Path(m)
        if not m.name.endswith(".manifest.json"):
            raise ValueError(f"{m}: not a pack manifest ({{Category}}.manifest.json)")
        by_dir.setdefault(m.parent, []).append(m.name[: -len(".manifest.json")])
    for directory, cats in by_dir.items():
        try:
            check(directory, cats)
        except Exception as exc:  # PackingError: one line naming the file
            raise ValueError(f"dataset refused: {exc}") from None


def files_of(manifests, split: str) -> dict[str, list[Path]]:
    """Category -> packed files of ``split`` listed in the manifests."""
    out = {}
    for m in manifests:
        m = Path(m)
        data = json.loads(m.read_text())
        out[data["category"]] = [m.parent / f["file"] for f in data["files"] if f["split"] == split and f["jets"] > 0]
    return out


def selected_jets(path: Path, selection: str | None) -> int:
    """Number of jets of a packed file that pass a weaver selection expression (numpy semantics)."""
    tree = uproot.open(path)["tree"]
    if not selection:
        return tree.num_entries
    names = sorted({n for n in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", selection) if n in tree})
    arrays = tree.arrays(names, library="np")
    keep = eval(selection, {"__builtins__": {}, "np": np}, arrays)  # our own data configuration
    return int(np.count_nonzero(keep))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifests", nargs="+")
    ap.add_argument("--split", choices=["train", "val", "test"], required=True)
    ap.add_argument("--named", action="store_true", help="prefix each file with its category (weaver groups)")
    ap.add_argument("--data-config", help="leave out files in which this configuration's selection keeps no jet")
    a = ap.parse_args(argv)
    try:
        require_intact(a.manifests)
    except ValueError as exc:
        print(f"file_lists: error: {exc}", file=sys.stderr)
        return 2
    selection = None
    if a.data_config:
        selection = (yaml.safe_load(Path(a.data_config).read_text()) or {}).get("selection")
    entries = []
    for cat, paths in files_of(a.manifests, a.split).items():
        for p in paths:
            if a.data_config and selected_jets(p, selection) == 0:
                print(f"file_lists: {p}: no jet passes the selection, left out", file=sys.stderr)
                continue
            entries.append(f"{cat}:{p}" if a.named else str(p))
    if not entries:
        raise SystemExit(f"no {a.split} files with selected jets in {a.manifests}")
    print(" ".join(entries))


if __name__ == "__main__":
    sys.exit(main())
