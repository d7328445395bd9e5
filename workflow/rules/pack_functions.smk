# Input functions of the packing rules (pack.smk): scatter groups, and the file lists of a
# category once its plan (the pack_plan checkpoint) exists.
import functools
import json

from jetclass2.packing.plan import ordered_inputs


@functools.lru_cache(maxsize=None)
def _pack_order(cat):
    """(ntuples ordered by split, scatter groups of ntuples): what the plan computes from the same inputs."""
    nts, _, groups = ordered_inputs(_category_ntuples(cat), PACK["split"], PACK.get("sample_split") or {}, NTUPLES_PER_SCATTER)
    return nts, [[nts[i] for i in g] for g in groups]


def scatter_groups(cat):
    return _pack_order(cat)[1]


@functools.lru_cache(maxsize=None)
def _shard_list(cat):
    return [f"{PACK_WORK}/{cat}/scatter/{g:05d}.arrow" for g in range(len(scatter_groups(cat)))]


def _shards(w):
    return _shard_list(w.category)


@functools.lru_cache(maxsize=16)
def _read_plan(path, mtime_ns):
    with open(path) as f:
        plan = json.load(f)
    return {k: plan[k] for k in ("files", "tarballs", "n_files", "jets_per_file")}


def packing_plan(cat):
    """The plan of a category (after its checkpoint ran)."""
    path = checkpoints.pack_plan.get(category=cat).output[0]
    return _read_plan(path, os.stat(path).st_mtime_ns)


def _packed_files(w):
    """The gathered files of a category and their summaries."""
    return [f"{PACK_WORK}/{w.category}/files/{name}{s}" for name in packing_plan(w.category)["files"] for s in ("", ".json")]


def _tarballs(w):
    return [f"{PACK_WORK}/{w.category}/tar/{t['file']}{s}" for t in packing_plan(w.category)["tarballs"] for s in ("", ".json")]


def _tarball_members(w):
    first, last = int(w.first), int(w.last)
    return [f"{PACK_WORK}/{w.category}/files/{name}" for name in packing_plan(w.category)["files"][first:last + 1]]
