"""The dataset directory: finalising a category, swapping it in atomically, verifying it.

Layout of ``DATASET`` (e.g. ``results/dataset``) for a category ``C``::

    .C.vXXXXXXXX/            one complete version: C_NNNN.root|parquet, C_AAAA-BBBB.tar, C.manifest.json
    C -> .C.vXXXXXXXX        the live version (a symbolic link)
    C.manifest.json -> C/C.manifest.json
    C_NNNN.root -> C/C_NNNN.root, C_AAAA-BBBB.tar -> C/...   (stable names, as published)
    .C.lock                  held while a version is committed (and by ``pack`` for its whole run)

A new version is built and checked (every file's size and SHA-256 against its manifest) beside
the live one; swapping it in is one ``rename`` of the ``C`` link, atomic on POSIX: readers see the
old dataset or the new one, never a mix, and a failure or kill before it leaves the old dataset,
its manifest and its files untouched. Only then is the old version deleted. Paths in a manifest
are relative to the directory holding it (both ``DATASET`` and ``DATASET/C`` work).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import uproot

from jetclass2.atomic import atomic_output

from . import columns
from .categories import CATEGORY_LABELS
from .fileio import PackingError, add_counts, label_counts, read_packed, sha256_file
from .mapreduce import summary_path
from .plan import split_of
from .safety import file_lock, link_or_copy

log = logging.getLogger(__name__)
MANIFEST_VERSION = 2


def manifest_name(category: str) -> str:
    return f"{category}.manifest.json"


def category_lock(outdir, category: str) -> Path:
    return Path(outdir) / f".{category}.lock"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def build_manifest(plan: dict, files_dir, tar_dir, jobs: int = 4, hashed: dict | None = None) -> dict:
    """The manifest of a packed category from the gather and tarball summaries; checks conservation.

    Every file and tarball is hashed again here (``jobs`` at a time) and compared with the SHA-256
    its job recorded when it wrote it: a file damaged in between is refused, named. An empty
    category or a file with non-finite values is refused too. ``hashed`` (if given) receives the
    size, modification time and inode of each file hashed, so that :func:`commit` does not hash
    the same file again.
    """
    files_dir, tar_dir = Path(files_dir), Path(tar_dir)
    cat = plan["category"]
    files, labels_out = [], {}
    for index, name in enumerate(plan["files"]):
        path = files_dir / name
        s = _read_summary(path, plan)
        if not path.is_file():
            raise PackingError(f"{path}: packed file missing")
        if s["jets"] != plan["capacity"][index] or sum(s["labels"].values()) != s["jets"]:
            raise PackingError(f"{path}: {s['jets']} jets, the plan says {plan['capacity'][index]}")
        if path.stat().st_size != s["bytes"]:
            raise PackingError(f"{path}: {path.stat().st_size} bytes, its summary says {s['bytes']}")
        add_counts(labels_out, s["labels"])
        files.append({"file": name, "split": split_of(plan, index), "sources": plan["file_sources"][index], "jets": s["jets"],
                      "labels": {str(k): v for k, v in sorted((int(k), v) for k, v in s["labels"].items())},
                      "bytes": s["bytes"], "sha256": s["sha256"], "content_hash": s["content_hash"],
                      "nonfinite": s.get("nonfinite", {})})
    # every file hashed again here and compared with the SHA-256 its gather job recorded: a byte
    # changed between gather and finalize is caught, naming the file, before anything is committed
    with ThreadPoolExecutor(max(1, jobs)) as pool:  # hashlib releases the GIL
        for f, digest in zip(files, pool.map(lambda f: sha256_file(files_dir / f["file"]), files)):
            _check_recorded(files_dir / f["file"], f["sha256"], digest, "gather")
            f["sha256"] = digest
            if hashed is not None:
                hashed[f["file"]] = _stat_key(files_dir / f["file"])
    for f in files:
        if f["nonfinite"]:
            raise PackingError(f"{files_dir / f['file']}: non-finite values (NaN or inf) {f['nonfinite']}: not committed")
    labels_in = {int(k): v for k, v in plan["labels"].items()}
    if labels_out != labels_in or sum(f["jets"] for f in files) != plan["jets"]:
        diff = {k: (labels_in.get(k, 0), labels_out.get(k, 0)) for k in sorted(set(labels_in) | set(labels_out))
                if labels_in.get(k, 0) != labels_out.get(k, 0)}
        raise PackingError(f"{cat}: jet conservation failed (label: jets in, jets out) {diff}")
    if plan["jets"] == 0:
        raise PackingError(f"{cat}: no jets in the {len(plan['inputs'])} input ntuples: an empty category is not committed")
    tarballs = []
    for spec in plan["tarballs"]:
        path = tar_dir / spec["file"]
        s = _read_summary(path, plan)
        if not path.is_file() or path.stat().st_size != s["bytes"]:
            raise PackingError(f"{path}: tarball missing or of the wrong size")
        tarballs.append({"file": spec["file"], "members": s["members"], "bytes": s["bytes"], "sha256": s["sha256"]})
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        for t, digest in zip(tarballs, pool.map(lambda t: sha256_file(tar_dir / t["file"]), tarballs)):
            _check_recorded(tar_dir / t["file"], t["sha256"], digest, "tarball")
            if hashed is not None:
                hashed[t["file"]] = _stat_key(tar_dir / t["file"])
    return {
        "manifest_version": MANIFEST_VERSION, "category": cat, "format": plan["format"],
        "compression": plan["compression"], "jets": plan["jets"], "jets_per_file": plan["jets_per_file"],
        "seed": plan["seed"], "split_weights": plan["split_weights"], "sample_split": plan["sample_split"],
        "split_by": plan["split_by"], "split": plan["split"],
        "labels": {str(k): v for k, v in sorted(labels_in.items())},
        "inputs": [{"path": i["path"], "sample": i["sample"], "job": i["job"], "split": i["split"], "jets": i["jets"],
                    "fingerprint": i["fingerprint"]} for i in plan["inputs"]],
        "plan_id": plan["plan_id"],
        # the files' bytes are reproducible (fixed UUIDs and time stamps); content_hash hashes the arrays
        "reproducible": "bytes",
        "files": files, "tarballs": tarballs,
    }


def _check_recorded(path: Path, recorded, digest: str, job: str) -> None:
    if recorded and recorded != digest:
        raise PackingError(f"{path}: SHA-256 {digest[:16]}... differs from the {recorded[:16]}... its {job} job recorded: "
                           f"the file changed after it was written (delete it and rerun the {job} job)")


def _read_summary(path: Path, plan: dict) -> dict:
    sp = summary_path(path)
    try:
        s = json.loads(sp.read_text())
    except (OSError, ValueError) as exc:
        raise PackingError(f"{sp}: summary missing or unreadable ({exc})") from exc
    if s.get("plan_id") != plan["plan_id"]:
        raise PackingError(f"{path}: written for another packing plan (rerun its job)")
    return s


def _check_files(directory: Path, entries: list[dict], jobs: int = 4, hashed: dict | None = None) -> list[str]:
    """Problems of ``entries`` (file, bytes, sha256) in ``directory``, in their order: sizes, then
    SHA-256 in threads (hashlib releases the GIL), except for files ``hashed`` has just hashed
    (same size, modification time and inode: hard links to them)."""
    problems: dict[int, str] = {}
    todo = []
    for i, e in enumerate(entries):
        path = directory / e["file"]
        if not path.is_file():
            problems[i] = f"{path}: missing"
        elif path.stat().st_size != e["bytes"]:
            problems[i] = f"{path}: {path.stat().st_size} bytes, the manifest says {e['bytes']}"
        elif not (hashed and hashed.get(e["file"]) == _stat_key(path)):
            todo.append((i, path, e))
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        for (i, path, e), digest in zip(todo, pool.map(lambda t: sha256_file(t[1]), todo)):
            if digest != e["sha256"]:
                problems[i] = f"{path}: SHA-256 {digest[:16]}... differs from the manifest's {e['sha256'][:16]}..."
    return [problems[i] for i in sorted(problems)]


def _live_version(outdir: Path, category: str) -> Path | None:
    link = outdir / category
    if link.is_symlink():
        return outdir / os.readlink(link)
    return None


def _old_manifest(outdir: Path, category: str) -> dict | None:
    """The manifest now in use (live version, or a flat manifest of the earlier layout)."""
    path = outdir / manifest_name(category)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def cleanup_stale(outdir, category: str, work_dirs: bool = False) -> None:
    """Remove what killed runs left (versions never committed or superseded, temporary links and,
    with ``work_dirs``, the work folders of ``pack``).

    Call with the category lock held. Names are built from a validated category: no globbing of
    user input.
    """
    outdir = Path(outdir)
    live = _live_version(outdir, category)
    for p in outdir.glob(f".{category}.v*"):
        if p.is_dir() and not p.is_symlink() and (live is None or p.name != live.name):
            shutil.rmtree(p, ignore_errors=True)
    for p in outdir.glob(f".{category}*.linktmp"):
        stem = p.name[1:-len(".linktmp")]
        if stem == category or stem.startswith((f"{category}_", f"{category}.")):
            p.unlink(missing_ok=True)
    for p in outdir.glob(f".pack-{category}.*") if work_dirs else ():
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)


def _symlink(target: str, path: Path) -> None:
    """Point ``path`` at ``target`` atomically (replacing a link or a regular file, never a directory)."""
    tmp = path.with_name(f".{path.name}.linktmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, path)


def commit(outdir, manifest: dict, sources: dict[str, Path], jobs: int = 4, lock: bool = True,
           hashed: dict | None = None) -> Path:
    """Swap the packed files ``sources`` (name -> path) in as the live version of their category.

    Builds ``.C.vXXXX`` (hard links, or copies across file systems) with the manifest, checks every
    file against the manifest, then renames the ``C`` link onto it. Returns the version directory.
    """
    outdir = Path(outdir)
    cat = manifest["category"]
    outdir.mkdir(parents=True, exist_ok=True)
    link = outdir / cat
    if link.exists() and not link.is_symlink():
        raise PackingError(f"{link}: exists and is not the category link (move it away)")
    with file_lock(category_lock(outdir, cat), what=f"commit {cat}") if lock else contextlib.nullcontext():
        cleanup_stale(outdir, cat)
        old = _old_manifest(outdir, cat)
        old_version = _live_version(outdir, cat)
        version = Path(tempfile.mkdtemp(prefix=f".{cat}.v", dir=outdir))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(version, 0o777 & ~umask)  # mkdtemp makes it private; a dataset is for everyone who may read outdir
        committed = False
        try:
            for name, src in sources.items():
                link_or_copy(Path(src), version / name)
            text = json.dumps(manifest, indent=1, sort_keys=False) + "\n"
            (version / manifest_name(cat)).write_text(text)
            problems = _check_files(version, manifest["files"] + manifest["tarballs"], jobs, hashed)
            if problems:
                raise PackingError("new version failed its check, the live dataset is unchanged: " + "; ".join(problems[:5]))
            write_stamp(version / manifest_name(cat))  # every file was just checked: readers need not hash it again
            for f in [version, *version.iterdir()]:
                if f.is_file():
                    with open(f, "rb") as fh:
                        os.fsync(fh.fileno())
            _fsync_dir(version)
            # stable top-level names that do not exist yet: links through C (dangling until the swap)
            names = [e["file"] for e in manifest["files"] + manifest["tarballs"]]
            for name in names:
                if not os.path.lexists(outdir / name):
                    _symlink(f"{cat}/{name}", outdir / name)
            _symlink(version.name, link)  # the swap: one atomic rename
            _fsync_dir(outdir)
            committed = True
        finally:
            if not committed:
                shutil.rmtree(version, ignore_errors=True)
        # after the swap: files of the earlier flat layout become links, the manifest link, then the old version goes
        for name in names:
            p = outdir / name
            if not (p.is_symlink() and os.readlink(p) == f"{cat}/{name}"):
                _symlink(f"{cat}/{name}", p)
        mp = outdir / manifest_name(cat)
        if not (mp.is_symlink() and os.readlink(mp) == f"{cat}/{manifest_name(cat)}"):
            _symlink(f"{cat}/{manifest_name(cat)}", mp)
        if old:
            keep = set(names)
            for e in old.get("files", []) + old.get("tarballs", []):
                name = e.get("file", "")
                if name not in keep and "/" not in name and name.startswith(f"{cat}_"):
                    (outdir / name).unlink(missing_ok=True)
        if old_version is not None and old_version.name != version.name:
            shutil.rmtree(old_version, ignore_errors=True)
        _fsync_dir(outdir)
    log.info("%s: version %s is live in %s", cat, version.name, outdir)
    return version


def finalize(plan: dict, work, outdir, jobs: int = 4, lock: bool = True) -> dict:
    """Manifest, conservation check and atomic swap of a category packed in ``work`` (files/, tar/)."""
    work = Path(work)
    hashed = {}
    manifest = build_manifest(plan, work / "files", work / "tar", jobs=jobs, hashed=hashed)
    sources = {name: work / "files" / name for name in plan["files"]}
    sources.update({t["file"]: work / "tar" / t["file"] for t in plan["tarballs"]})
    commit(outdir, manifest, sources, jobs=jobs, lock=lock, hashed=hashed)
    return manifest


# --- verification ----------------------------------------------------------------------------------

# names that belong to a category in a dataset directory: its data files and tarballs
_DATA_NAME = re.compile(r"^(?P<cat>[A-Za-z][A-Za-z0-9]*)_(?:\d{4,}\.(?:root|parquet)|\d{4,}-\d{4,}\.tar)$")


def manifests_in(dataset_dir, categories=None) -> dict[str, Path]:
    """Category -> manifest path of a dataset directory (only plain category names)."""
    dataset_dir = Path(dataset_dir)
    found = {}
    for p in sorted(dataset_dir.glob("*.manifest.json")):
        cat = p.name[: -len(".manifest.json")]
        if cat.isalnum():
            found[cat] = p
    if categories:
        missing = [c for c in categories if c not in found]
        if missing:
            raise PackingError(f"{dataset_dir}: no manifest for {', '.join(missing)}")
        found = {c: found[c] for c in categories}
    return found


def category_entries(dataset_dir) -> dict[str, list[str]]:
    """Category -> its data files and tarballs in ``dataset_dir`` (dangling links too) and its ``C`` link."""
    out: dict[str, list[str]] = {}
    try:
        entries = sorted(Path(dataset_dir).iterdir())
    except OSError:
        return out
    for p in entries:
        m = _DATA_NAME.match(p.name)
        if m:
            out.setdefault(m["cat"], []).append(p.name)
        elif p.name.isalnum() and p.is_symlink():
            out.setdefault(p.name, []).append(p.name)
    return out


def missing_manifests(dataset_dir, categories=None) -> list[str]:
    """One line per category without a manifest: requested (``categories``) or, without
    ``categories``, whose files are in the directory (a killed or failed pack-finalize)."""
    dataset_dir = Path(dataset_dir)
    have = manifests_in(dataset_dir)
    entries = category_entries(dataset_dir)
    wanted = list(categories) if categories else sorted(entries)
    problems = []
    for cat in wanted:
        if cat in have:
            continue
        names = entries.get(cat, [])
        files = f", while {len(names)} of its files exist ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''}): " \
                "a killed or failed pack-finalize? rerun it" if names else ": category not packed"
        problems.append(f"{dataset_dir / manifest_name(cat)}: missing{files}")
    return problems


def _extras(manifest_path: Path, m: dict) -> list[str]:
    """Files of the category in the dataset directory (and in its version folder) that its manifest does not list."""
    directory, cat = manifest_path.parent, m.get("category")
    listed = {e.get("file") for e in m.get("files", []) + m.get("tarballs", [])}
    problems = []
    for name in category_entries(directory).get(cat, []):
        if name != cat and name not in listed:
            problems.append(f"{directory / name}: extra file of {cat}, not in its manifest")
    real = manifest_path.resolve().parent
    if real != directory.resolve():  # the version folder the manifest link points into
        for p in sorted(real.iterdir()):
            if not p.name.startswith(".") and p.name != manifest_name(cat) and p.name not in listed:
                problems.append(f"{p}: extra file of {cat}, not in its manifest")
    return problems


def stamp_path(manifest_path) -> Path:
    """The stamp of the last complete check of a category, beside its real manifest (its version folder)."""
    real = Path(manifest_path).resolve()
    return real.parent / f".{real.name[: -len('.manifest.json')]}.verified.json"


def _stamped_files(manifest_path: Path, since: dict | None) -> dict:
    """File -> stat key of the stamp ``since`` (else the category's stamp file) if it is of this manifest."""
    if since is None:
        try:
            since = json.loads(stamp_path(manifest_path).read_text())
        except (OSError, ValueError):
            return {}
    try:
        cat = json.loads(manifest_path.read_text()).get("category")
    except (OSError, ValueError):
        return {}
    earlier = (since or {}).get(cat, {})
    return earlier.get("files", {}) if earlier.get("manifest_sha256") == sha256_file(manifest_path) else {}


def _changed(directory: Path, entries: list[dict], stamped: dict) -> list[dict]:
    """Entries whose file is missing or changed (size, modification time, inode) since ``stamped``."""
    out = []
    for e in entries:
        key = _stat_key(directory / e["file"])
        if key is None or key != stamped.get(e["file"]):
            out.append(e)
    return out


def write_stamp(manifest_path) -> None:
    """Record a complete check of the category (best effort: a read-only dataset keeps none)."""
    manifest_path = Path(manifest_path)
    try:
        cat = json.loads(manifest_path.read_text())["category"]
        with atomic_output(stamp_path(manifest_path)) as tmp:
            tmp.write_text(json.dumps({cat: stamp(manifest_path)}, sort_keys=True))
    except (OSError, ValueError, KeyError) as exc:
        log.debug("%s: no stamp written (%s)", manifest_path, exc)


def quick_check(manifest_path, jobs: int = 4) -> list[str]:
    """The cheap check of a category that readers make: every file present and of its size, no
    extra file, and the SHA-256 of every file changed since the last complete check (its stamp;
    without one: of every file, and the stamp is written when all is right)."""
    manifest_path = Path(manifest_path)
    try:
        m = json.loads(manifest_path.read_text())
        entries = m["files"] + m["tarballs"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{manifest_path}: unreadable manifest ({type(exc).__name__}: {exc})"]
    if not m.get("jets") or not m["files"]:
        return [f"{manifest_path}: an empty category (0 jets)"]
    todo = _changed(manifest_path.parent, entries, _stamped_files(manifest_path, None))
    problems = _check_files(manifest_path.parent, todo, jobs) + _extras(manifest_path, m)
    if todo and not problems:
        write_stamp(manifest_path)
    return problems


def verify_category(manifest_path, content: bool = False, jobs: int = 4, since: dict | None = None) -> list[str]:
    """Problems of one category against its manifest (empty list: all good).

    Checks every file's and tarball's presence, size and SHA-256, that no other file of the
    category is there, every file's jet and label counts (its ``jet_label`` branch), the totals,
    labels of the category only and, with ``content``, the content hash of every file's arrays.
    ``since`` (a stamp of an earlier verification) skips the SHA-256 of files whose size,
    modification time and inode have not changed.
    """
    manifest_path = Path(manifest_path)
    directory = manifest_path.parent
    try:
        m = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        return [f"{manifest_path}: unreadable manifest ({exc})"]
    cat = m.get("category")
    problems = []
    if manifest_path.name != manifest_name(str(cat)):
        problems.append(f"{manifest_path}: manifest of category {cat!r}")
    if not m.get("jets") or not m.get("files"):
        problems.append(f"{manifest_path}: an empty category (0 jets)")
    entries = m.get("files", []) + m.get("tarballs", [])
    to_hash = _changed(directory, entries, _stamped_files(manifest_path, since) if since is not None else {})
    problems += _check_files(directory, to_hash, jobs)
    problems += _extras(manifest_path, m)
    bad = {p.split(":", 1)[0] for p in problems}
    total, labels_total = 0, {}
    allowed = set(CATEGORY_LABELS.get(cat, np.zeros(0)).tolist())
    for e in m.get("files", []):
        path = directory / e["file"]
        if str(path) in bad or not path.is_file():
            continue
        try:
            labels = label_counts(_read_labels(path))
        except Exception as exc:  # noqa: BLE001 (any reader failure names the file)
            problems.append(f"{path}: unreadable ({type(exc).__name__}: {exc})")
            continue
        n = sum(labels.values())
        if n != e["jets"] or {str(k): v for k, v in labels.items()} != e["labels"]:
            problems.append(f"{path}: {n} jets / labels {labels} differ from the manifest ({e['jets']} jets)")
        if set(labels) - allowed:
            problems.append(f"{path}: labels {sorted(set(labels) - allowed)} outside category {cat}")
        if content:
            digest = columns.content_hash(read_packed(path))
            if digest != e.get("content_hash"):
                problems.append(f"{path}: content hash differs from the manifest")
        total += n
        add_counts(labels_total, labels)
    if not problems:
        if total != m.get("jets") or {str(k): v for k, v in sorted(labels_total.items())} != m.get("labels"):
            problems.append(f"{manifest_path}: files hold {total} jets, the manifest says {m.get('jets')}")
    return problems


def _read_labels(path: Path) -> np.ndarray:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path, columns=["jet_label"]).column(0).to_numpy()
    return uproot.open(path)["tree"]["jet_label"].array(library="np")


def _stat_key(path: Path):
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def stamp(manifest_path) -> dict:
    """What :func:`verify_category` ``since`` compares: size, mtime and inode of every file."""
    manifest_path = Path(manifest_path)
    m = json.loads(manifest_path.read_text())
    return {"manifest_sha256": sha256_file(manifest_path),
            "files": {e["file"]: _stat_key(manifest_path.parent / e["file"]) for e in m["files"] + m["tarballs"]}}


def verify_dataset(dataset_dir, categories=None, content: bool = False, jobs: int = 4, since: dict | None = None,
                   quick: bool = False):
    """``(problems, stamps)`` for every category of a dataset directory (shared lock per category).

    ``categories``: those that must be there (default: every category with a manifest or files;
    files without a manifest are a problem). ``quick``: :func:`quick_check` (what readers do)
    instead of the complete :func:`verify_category`.
    """
    dataset_dir = Path(dataset_dir)
    problems, stamps = missing_manifests(dataset_dir, categories), {}
    found = manifests_in(dataset_dir)
    for cat, mp in found.items():
        if categories and cat not in categories:
            continue
        if quick:  # no lock: readers must not wait for a pack (they see the old or the new version)
            problems += quick_check(mp, jobs=jobs)
            continue
        with file_lock(category_lock(dataset_dir, cat), shared=True, what=f"verify {cat}"):
            found_here = verify_category(mp, content=content, jobs=jobs, since=since)
            problems += found_here
            if not found_here:
                stamps[cat] = stamp(mp)
                write_stamp(mp)
    return problems, stamps


class DatasetDamaged(PackingError):
    """A dataset that fails its check; the message is the first problem (one line naming the file)."""


def require_intact(dataset_dir, categories=None, jobs: int = 4) -> None:
    """Raise :class:`DatasetDamaged` unless :func:`quick_check` passes for ``categories`` (default:
    every category of the directory); what training, evaluation and the loader call before reading."""
    problems, _ = verify_dataset(dataset_dir, categories, jobs=jobs, quick=True)
    if problems:
        more = f" (and {len(problems) - 1} more problems: run verify-dataset {dataset_dir})" if len(problems) > 1 else ""
        raise DatasetDamaged(problems[0] + more)
