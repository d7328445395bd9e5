"""The 2HDM samples' MadGraph processes without their zero sub-processes (cards/madgraph/res34p_proc.dat,
res2p_charged_proc.dat) against the reference's ``p p > ...`` as written (``*_proc_pp.dat``): the same
events byte for byte, with the reference's random-number offsets; the sub-processes left out give
exactly 0 pb; a process card that is not a part of the reference's is refused.

Runs the real MadGraph5_aMC@NLO of the generation stack (2 batches x 20 events per sample and
process, ~3 min on 2 shared cores); skipped when the stack is not built in its cache directory
(containers/stack-cache-dir).
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import yaml

from jetclass2.generation import container_job

REPO = Path(__file__).resolve().parents[1]
EVENTS, EPG = 40, 20  # 2 batches, each its own grid point and seed


def _benchmark(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    import sys
    sys.path.insert(0, str(REPO / "benchmarks"))  # validate_mg5_subprocesses imports validate_mg5_speedup
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return mod


def _config(tmp, **changes):
    """The default samples config with some samples' container settings changed."""
    cfg = yaml.safe_load((REPO / "config" / "samples.yaml").read_text())
    for sample, keys in changes.items():
        cfg["samples"][sample]["container"].update(keys)
    path = tmp / "samples.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(scope="module", params=["Res34P", "Res2P_charged"])
def jobs(request, stack_environ, tmp_path_factory):
    """{process: work directory} of job 0 of the sample with its production process and the reference's."""
    sample = request.param
    work = tmp_path_factory.mktemp(f"mg5_subprocesses_{sample}")
    bench = _benchmark("validate_mg5_subprocesses")
    out = {}
    for mode, cfg in (("reference", bench.reference_config(work)), ("production", None)):
        with stack_environ():
            container_job.madgraph_job(sample, 0, EVENTS, 3, work / mode, samples_config=cfg, events_per_grid_point=EPG,
                                       pdf="builtin")
        out[mode] = work / mode
    return sample, out, bench


def test_same_events_as_the_reference_process(jobs):
    sample, d, bench = jobs
    c = bench.compare(d["reference"], d["production"], {"Res34P": 25, "Res2P_charged": 37}[sample])
    assert c["events"] == EVENTS and c["identical"] == EVENTS  # every event record, byte for byte
    assert np.all(np.abs(c["xsec_pulls"]) < 1e-6)


def test_left_out_subprocesses_are_zero_and_the_kept_ones_the_same(jobs):
    sample, d, bench = jobs
    pref, pprod = d["reference"] / sample.lower(), d["production"] / sample.lower()
    kept, every = ([d.name for d in container_job.subprocess_dirs(p)] for p in (pprod, pref))
    dropped = [p for p in every if p not in kept]
    assert kept and dropped and set(kept) < set(every)
    for p in kept:
        assert container_job.subprocess_differences(pref / "SubProcesses" / p, pprod / "SubProcesses" / p) == []
        # the reference's random-number offset, not the production process's own numbering
        assert (pprod / "SubProcesses" / p / "iproc.dat").read_text() == (pref / "SubProcesses" / p / "iproc.dat").read_text()
    for b in range(EVENTS // EPG):
        xs = bench.subprocess_xsec(pref, f"batch_{b:04d}")
        assert set(xs) == set(every)
        assert all(xs[p][0] == 0.0 for p in dropped), xs  # exactly zero: their couplings are zero
        assert all(xs[p][0] > 0.0 for p in kept), xs


def test_a_process_not_part_of_the_reference_is_refused(stack_environ, tmp_path):
    """h2 excluded from the propagators: P1_ccx_h1h1 exists in both but its diagrams differ."""
    card = tmp_path / "proc.dat"
    card.write_text((REPO / "cards" / "madgraph" / "res34p_proc.dat").read_text()
                    .replace("generate q2hdm q2hdm > h1 h1", "generate q2hdm q2hdm > h1 h1 / h2"))
    cfg = _config(tmp_path, Res34P={"madgraph_process": str(card)})
    with pytest.raises(container_job.JobError, match=r"Res34P job 0: MadGraph process: sub-process P1_ccx_h1h1 differs "
                                                     r"from the reference process's \(.*\): not the same physics"):
        with stack_environ():
            container_job.madgraph_job("Res34P", 0, 20, 1, tmp_path / "work", samples_config=cfg, pdf="builtin")
