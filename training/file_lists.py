"""File lists of a split from the pack manifests, as weaver arguments.

Usage: python -m training.file_lists --split train results/dataset/*.manifest.json
prints ``Category:path`` entries for training (weaver samples categories evenly) or plain paths.
"""
import argparse
import json
from pathlib import Path


def files_of(manifests, split: str) -> dict[str, list[Path]]:
    """Category -> packed files of ``split`` listed in the manifests."""
    out = {}
    for m in manifests:
        m = Path(m)
        data = json.loads(m.read_text())
        out[data["category"]] = [m.parent / f["file"] for f in data["files"] if f["split"] == split and f["jets"] > 0]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifests", nargs="+")
    ap.add_argument("--split", choices=["train", "val", "test"], required=True)
    ap.add_argument("--named", action="store_true", help="prefix each file with its category (weaver groups)")
    a = ap.parse_args(argv)
    entries = [f"{cat}:{p}" if a.named else str(p) for cat, paths in files_of(a.manifests, a.split).items() for p in paths]
    if not entries:
        raise SystemExit(f"no {a.split} files in {a.manifests}")
    print(" ".join(entries))


if __name__ == "__main__":
    main()
