"""The ntuple's ROOT layout (published names, one counter per collection), read back by ROOT's C++
(TTreeReaderArray, RDataFrame, TTree::Draw), and reproducible bytes of every ROOT file we write."""
import hashlib
import re
import subprocess
import sys
import time

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
from jetclass2.ntuplizer import process_file
from jetclass2.ntuplizer.schema import BRANCH_NAMES, BRANCHES
from jetclass2.ntuplizer.writer import COLLECTIONS, collection_of, read_jets, write_jets

from jetclass2.delphes_tree import DelphesWriter

SOURCE = "delphes/res2p_higgs2p_10events.root"
CPP_TYPE = {"float32": "float", "int32": "int", "bool": "bool"}


@pytest.fixture(scope="module")
def ntuple(shared_dir, tmp_path_factory):
    records = process_file(shared_dir / SOURCE)
    path = tmp_path_factory.mktemp("layout") / "jets.root"
    write_jets(path, records)
    return path, records


def test_published_names_plus_one_counter_per_collection(ntuple, shared_dir):
    path, records = ntuple
    tree = uproot.open(path)["tree"]
    published = pq.read_schema(shared_dir / "jetclass2" / "jetclass2_sample_100jets.parquet").names
    assert len(published) == 54 and BRANCH_NAMES == published
    keys = tree.keys()
    assert len(keys) == 57
    counters = [k for k in keys if k not in published]
    assert counters == ["npart", "ngenpart", "naux_genpart"]
    assert [k for k in keys if k in published] == published  # published order kept
    for name, dtype, jagged in BRANCHES:
        branch = tree[name]
        typename = "int32_t" if dtype == "int32" else CPP_TYPE[dtype]  # as uproot names the leaf types
        if jagged:  # part_px[npart]/F: a C array sized by its collection's counter
            assert branch.count_branch.name == f"n{collection_of(name)}", name
            assert branch.typename == f"{typename}[]", name
        else:
            assert branch.typename == typename, name
    for coll in COLLECTIONS:  # each counter counts its collection, jet by jet
        n = tree[f"n{coll}"].array(library="np")
        assert all(np.array_equal(n, ak.num(records[b]).to_numpy()) for b in BRANCH_NAMES if b.startswith(coll + "_")
                   and collection_of(b) == coll)
    assert np.array_equal(tree["npart"].array(library="np"), records["jet_nparticles"].to_numpy())
    back = read_jets(path)
    assert all(ak.to_list(back[b]) == ak.to_list(records[b]) for b in BRANCH_NAMES)


def _macro(path) -> str:
    """A C++ macro that reads every branch through TTreeReader(Array|Value), a few through
    RDataFrame, and counts entries through TTree::Draw; prints 'kind name count sum'."""
    decls, loop, prints = [], [], []
    for i, (name, dtype, jagged) in enumerate(BRANCHES):
        t = CPP_TYPE[dtype]
        if jagged:
            decls.append(f'TTreeReaderArray<{t}> b{i}(r, "{name}");')
            loop.append(f"for (auto v : b{i}) {{ s[{i}] += v; }} c[{i}] += b{i}.GetSize();")
        else:
            decls.append(f'TTreeReaderValue<{t}> b{i}(r, "{name}");')
            loop.append(f"s[{i}] += *b{i}; c[{i}] += 1;")
        prints.append(f'std::cout << "reader {name} " << c[{i}] << " " << s[{i}] << "\\n";')
    rdf = [f'{{ auto x = df.Define("x_{n}", "double s = 0; for (auto v : {n}) s += v; return s;").Sum<double>("x_{n}"); '
           f'std::cout << "rdf {n} 0 " << *x << "\\n"; }}'
           for n in ("part_px", "part_charge", "part_isChargedHadron", "genpart_pid", "aux_genpart_pt")]
    draw = [f'std::cout << "draw {n} " << t->Draw("{n}", "", "goff") << " 0\\n";' for n in ("part_px", "genpart_x", "aux_genpart_isResX", "jet_pt")]
    nl = "\n  "
    return f"""#include <TFile.h>
#include <TTree.h>
#include <TTreeReader.h>
#include <TTreeReaderArray.h>
#include <TTreeReaderValue.h>
#include <ROOT/RDataFrame.hxx>
#include <iostream>
#include <vector>
void readback(const char* path) {{
  std::cout.precision(17);
  TFile f(path);
  TTree* t = f.Get<TTree>("tree");
  TTreeReader r(t);
  {nl.join(decls)}
  std::vector<double> s({len(BRANCHES)}, 0.0);
  std::vector<long> c({len(BRANCHES)}, 0);
  while (r.Next()) {{
    {nl.join(loop)}
  }}
  {nl.join(prints)}
  ROOT::RDataFrame df("tree", path);
  {nl.join(rdf)}
  {nl.join(draw)}
}}
"""


def test_cpp_reads_the_ntuple(ntuple, root_macro, tmp_path):
    path, records = ntuple
    macro = tmp_path / "readback.C"
    macro.write_text(_macro(path))
    r = root_macro(macro, path)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    seen = {}
    for line in r.stdout.splitlines():
        m = re.fullmatch(r"(reader|rdf|draw) (\w+) (-?\d+) (\S+)", line.strip())
        if m:
            seen[(m.group(1), m.group(2))] = (int(m.group(3)), float(m.group(4)))
    for name, _, jagged in BRANCHES:
        values = np.asarray(ak.flatten(records[name]) if jagged else records[name], dtype=np.float64)
        count, total = seen[("reader", name)]
        assert count == len(values), name
        assert total == pytest.approx(values.sum(), rel=1e-9, abs=1e-9), name
    for name in ("part_px", "part_charge", "part_isChargedHadron", "genpart_pid", "aux_genpart_pt"):
        total = np.asarray(ak.flatten(records[name]), dtype=np.float64).sum()
        assert seen[("rdf", name)][1] == pytest.approx(total, rel=1e-9, abs=1e-9), name
    for name in ("part_px", "genpart_x", "aux_genpart_isResX", "jet_pt"):
        arr = records[name]
        assert seen[("draw", name)][0] == (len(ak.flatten(arr)) if arr.ndim > 1 else len(arr)), name


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_identical_runs_write_identical_bytes(shared_dir, tmp_path):
    """Same input and settings: the same ntuple and Delphes-format bytes (UUID and times fixed)."""
    source = shared_dir / SOURCE
    digests = []
    for run in ("a", "b"):
        out = tmp_path / run
        r = subprocess.run([sys.executable, "-m", "jetclass2.ntuplizer.cli", str(source), "-o", str(out / "jets.root"), "-q"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        r = subprocess.run([sys.executable, "-m", "jetclass2.fastsim.cli", str(source), "-o", str(out / "sim.root"), "--pileup", "0",
                            "--seed", "3", "-q"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        digests.append((_sha256(out / "jets.root"), _sha256(out / "sim.root")))
        time.sleep(1.1)  # ROOT's timestamps count seconds: a second run must not share the first one's
    assert digests[0] == digests[1]
    # different content, different bytes
    with DelphesWriter(tmp_path / "c" / "sim.root") as w:
        w.extend({"Particle": _particles(source)})
    assert _sha256(tmp_path / "c" / "sim.root") != digests[0][1]


def _particles(source):
    from jetclass2.delphes_tree import COLLECTIONS

    fields = list(COLLECTIONS["Particle"])
    a = uproot.open(source)["Delphes"].arrays([f"Particle.{f}" for f in fields], entry_stop=2)
    return ak.zip({f: a[f"Particle.{f}"] for f in fields})
