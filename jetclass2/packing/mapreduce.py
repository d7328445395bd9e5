"""The three kinds of packing jobs: scatter (per group of ntuples), gather (per output file), tarball.

scatter  reads the ntuples of one plan group in chunks of ``plan["chunk"]`` jets, gives every jet
         its output file (the group's row of the plan, shuffled), and writes one Arrow IPC file,
         uncompressed (floats hardly compress and a gather job then reads by memory map, without
         copy or decompression), whose record batches each hold the jets of one chunk for one
         output file; the batch -> file map is in the schema metadata, so a gather job reads only
         its own batches.
gather   maps its batches of every shard, checks their number against the plan, copies them into
         one column set, and writes ``{Category}_NNNN.root|parquet`` in its shuffled order,
         ``plan["basket"]`` jets (one ROOT basket per branch) at a time (the next basket is permuted
         in a second thread meanwhile), plus a JSON summary (jets,
         labels, bytes, content hash, SHA-256; finalize hashes the file again and refuses it if
         it changed since).
tarball  writes ``{Category}_AAAA-BBBB.tar`` of consecutive files, with fixed member metadata
         (same files => same bytes), plus a JSON summary with its SHA-256.

Every output is written under a temporary name (with the writer's PID) and renamed when complete:
a killed job leaves nothing under a final name, and its leftovers are removed by the next run of
the job. The same plan gives the same bytes, so two runs of one job may even overlap harmlessly.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import tarfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from jetclass2.atomic import atomic_output, process_alive

from . import columns
from .fileio import PackingError, add_counts, count_nonfinite, label_counts, read_ntuple, write_packed
from .plan import STAGE_GATHER, STAGE_SCATTER, check_labels, rng_for
from .reproducible import FIXED_EPOCH

log = logging.getLogger(__name__)


def shard_name(group: int) -> str:
    return f"{group:05d}.arrow"


def remove_stale_temporaries(path: Path) -> None:
    """Temporary files and staging folders of ``path`` that killed runs left (``.NAME.PID...``).

    Only those of processes no longer alive go: a concurrent run of the same job keeps its own.
    """
    import shutil

    prefix = f".{path.name}."
    for p in path.parent.glob(f"{prefix}*"):
        pid = p.name[len(prefix):].split(".", 1)[0]
        if not pid.isdigit() or process_alive(int(pid)):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _destinations(plan: dict, group: int) -> np.ndarray:
    row = np.asarray(plan["counts"][group], dtype=np.int64)
    dest = np.repeat(np.arange(plan["n_files"], dtype=np.int32), row)
    rng_for(plan["seed"], plan["category"], STAGE_SCATTER, group).shuffle(dest)
    return dest


def scatter(plan: dict, group: int, output) -> dict:
    """Write the shard of plan group ``group`` to ``output``; returns per-input label counts."""
    t0, c0 = time.perf_counter(), time.process_time()
    output = Path(output)
    if not 0 <= group < len(plan["groups"]):
        raise PackingError(f"group {group} not in the plan ({len(plan['groups'])} groups)")
    dest = _destinations(plan, group)
    chunk = plan["chunk"]
    inputs = [plan["inputs"][i] for i in plan["groups"][group]]
    # the batch -> output file map is fixed by the plan: it goes into the schema metadata up front
    layout, pos = [], 0
    for info in inputs:
        for start in range(0, info["jets"], chunk):
            stop = min(start + chunk, info["jets"])
            layout.append(np.unique(dest[pos + start:pos + stop]))
        pos += info["jets"]
    batch_dest = np.concatenate(layout).astype("<i4") if layout else np.zeros(0, "<i4")
    meta = {b"plan_id": plan["plan_id"].encode(), b"group": str(group).encode(),
            b"batch_dest": base64.b64encode(batch_dest.tobytes())}
    schema = columns.arrow_schema().with_metadata(meta)
    seen = {}
    remove_stale_temporaries(output)
    with atomic_output(output) as tmp:
        options = pa.ipc.IpcWriteOptions(compression=None)
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema, options=options) as writer:
            pos = 0
            for info in inputs:
                n_read, labels = 0, {}
                for cols in read_ntuple(info["path"], chunk):
                    n = columns.n_jets(cols)
                    _refuse_nonfinite(info["path"], cols)
                    d = dest[pos + n_read:pos + n_read + n]
                    if len(d) != n:
                        raise PackingError(f"{info['path']}: more jets than the plan counted ({info['jets']}): "
                                           "the ntuple changed after pack-plan")
                    add_counts(labels, label_counts(cols["jet_label"]))
                    order = np.argsort(d, kind="stable")
                    d_sorted = d[order]
                    cols = columns.take(cols, order)
                    bounds = np.flatnonzero(np.diff(d_sorted)) + 1
                    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, n]):
                        writer.write_batch(columns.to_batch(columns.slice_jets(cols, int(lo), int(hi)), schema))
                    n_read += n
                if n_read != info["jets"] or labels != info["labels"]:
                    raise PackingError(f"{info['path']}: jets or labels differ from the plan "
                                       f"({n_read} jets read, {info['jets']} planned): the ntuple changed after pack-plan")
                check_labels(plan["category"], info["path"], labels)
                seen[info["path"]] = labels
                pos += info["jets"]
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    log.info("%s: scatter group %d: %d jets from %d ntuples -> %s (%d batches) in %.2f s (%.0f jets/s), CPU %.2f s",
             plan["category"], group, len(dest), len(inputs), output, len(batch_dest), dt, len(dest) / max(dt, 1e-9), cpu)
    return seen


def _refuse_nonfinite(path, cols: dict) -> None:
    """A NaN or infinite value in any branch written makes the ntuple unusable: refused, named."""
    bad = count_nonfinite(cols)
    if bad:
        name = next(iter(bad))
        raise PackingError(f"{path}: {bad[name]} non-finite values (NaN or inf) in {name}"
                           + (f" and {len(bad) - 1} more branches" if len(bad) > 1 else "") + ": not packed")


def read_shard_part(plan: dict, group: int, path, index: int) -> list[pa.RecordBatch]:
    """The record batches that shard ``path`` of ``group`` holds for output file ``index``."""
    path = Path(path)
    need = plan["counts"][group][index]
    if need == 0:
        return []
    try:
        reader = pa.ipc.open_file(pa.memory_map(str(path)))
        meta = reader.schema.metadata or {}
        if meta.get(b"plan_id", b"").decode() != plan["plan_id"] or meta.get(b"group", b"").decode() != str(group):
            raise PackingError(f"{path}: shard of another plan or group (rerun the scatter job)")
        batch_dest = np.frombuffer(base64.b64decode(meta[b"batch_dest"]), dtype="<i4")
        if len(batch_dest) != reader.num_record_batches:
            raise PackingError(f"{path}: shard truncated ({reader.num_record_batches} of {len(batch_dest)} batches)")
        parts = [reader.get_batch(int(b)) for b in np.flatnonzero(batch_dest == index)]
    except PackingError:
        raise
    except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
        raise PackingError(f"{path}: unreadable shard ({type(exc).__name__}: {exc})") from exc
    got = sum(p.num_rows for p in parts)
    if got != need:
        raise PackingError(f"{path}: {got} jets for file {index}, the plan says {need}")
    return parts


def gather(plan: dict, index: int, shard_dir, output) -> dict:
    """Write output file ``index`` from the shards in ``shard_dir``; returns (and writes) its summary."""
    t0, c0 = time.perf_counter(), time.process_time()
    output = Path(output)
    if not 0 <= index < plan["n_files"]:
        raise PackingError(f"file index {index} not in the plan ({plan['n_files']} files)")
    shard_dir = Path(shard_dir)
    parts = []
    for group in range(len(plan["groups"])):
        parts += read_shard_part(plan, group, shard_dir / shard_name(group), index)
    n = sum(p.num_rows for p in parts)
    perm = rng_for(plan["seed"], plan["category"], STAGE_GATHER, index).permutation(n)
    # one copy out of the mapped shards, by Arrow (a full-scale file gathers ~3000 batches: converting
    # each to numpy in Python cost more than the copy); output jet p is jet perm[p] of this concatenation
    table = pa.Table.from_batches(parts, schema=columns.arrow_schema()).combine_chunks()
    del parts
    batches = table.to_batches()
    cols = columns.share_offsets(columns.from_batch(batches[0]) if batches else columns.empty())
    basket = plan["basket"]
    chunks = _ahead((lambda k=k: columns.take(cols, perm[k:k + basket])) for k in range(0, n, basket))
    # no lock: the same plan gives the same bytes, so two runs of this job may overlap harmlessly
    remove_stale_temporaries(output)
    summary = write_packed(output, chunks, fmt=plan["format"], compression=plan["compression"] or "lz4",
                           baskets=-(-n // basket), sha256=True)  # finalize re-checks it before committing
    summary["plan_id"] = plan["plan_id"]
    summary["index"] = index
    with atomic_output(summary_path(output)) as tmp:
        tmp.write_text(json.dumps(summary, sort_keys=True))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    log.info("%s: %s: %d jets in %.2f s (%.0f jets/s), CPU %.2f s", plan["category"], output.name, n, dt,
             n / max(dt, 1e-9), cpu)
    return summary


def _ahead(tasks):
    """The results of ``tasks`` (callables) in order, each computed in a second thread while the
    caller uses the one before: a gather job permutes basket k+1 while it compresses and writes
    basket k (numpy's take and LZ4 release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pending = None
        for task in tasks:
            nxt = pool.submit(task)
            if pending is not None:
                yield pending.result()
            pending = nxt
        if pending is not None:
            yield pending.result()


def summary_path(path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".json")


class _HashingWriter:
    def __init__(self, f):
        self.f, self.sha, self.n = f, hashlib.sha256(), 0

    def write(self, b):
        self.sha.update(b)
        self.n += len(b)
        return self.f.write(b)

    def tell(self):
        return self.n

    def flush(self):
        self.f.flush()


def tarball(plan: dict, number: int, files_dir, output) -> dict:
    """Write tarball ``number`` of the plan from the packed files in ``files_dir``; returns its summary."""
    output = Path(output)
    spec = plan["tarballs"][number]
    members = [plan["files"][i] for i in range(spec["first"], spec["last"] + 1)]
    remove_stale_temporaries(output)
    with atomic_output(output) as tmp, open(tmp, "wb") as raw:
        out = _HashingWriter(raw)
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in members:
                path = Path(files_dir) / name
                if not path.is_file():
                    raise PackingError(f"{path}: packed file missing for {output.name}")
                info = tarfile.TarInfo(name)
                info.size = path.stat().st_size
                info.mtime = FIXED_EPOCH
                info.mode = 0o644
                with open(path, "rb") as f:
                    tar.addfile(info, f)
        raw.flush()
    summary = {"file": output.name, "members": members, "bytes": out.n, "sha256": out.sha.hexdigest(),
               "plan_id": plan["plan_id"]}
    with atomic_output(summary_path(output)) as tmp:
        tmp.write_text(json.dumps(summary, sort_keys=True))
    return summary


__all__ = ["scatter", "gather", "tarball", "read_shard_part", "shard_name", "summary_path", "remove_stale_temporaries"]
