"""Configuration traps stop the dry run with a one-line error naming the key and the file."""
import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jetclass2 import workflow_config as wc

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.fixture(autouse=True)
def in_checkout(monkeypatch):
    """Config paths resolve against the working directory first, as the workflow's jobs do."""
    monkeypatch.chdir(REPO)


def dry_run(*args, cwd=REPO):
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", *args], cwd=cwd,
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def checked(config):
    """validate + plan, as the Snakefile does."""
    wc.validate(config, SCHEMA)
    return wc.plan(config)


def with_change(path: str, value):
    cfg = copy.deepcopy(DEFAULT)
    *parents, key = path.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    node[key] = value
    return cfg


def test_default_and_full_configs_are_valid(tmp_path):
    plan = checked(copy.deepcopy(DEFAULT))
    assert plan.category == {"Res2P_neutral": "Res2P", "Res2P_charged": "Res2P", "Res34P": "Res34P", "QCD": "QCD"}
    assert plan.qcd_labels == {"Res2P_neutral": False, "Res2P_charged": False, "Res34P": False, "QCD": True}
    assert plan.all_categories == plan.categories == ["QCD", "Res2P", "Res34P"]
    # each sample's jobs depend on its own cards, #includes followed, and the detector card
    assert plan.generate_inputs["Res2P_neutral"][:4] == ["config/samples.yaml", "cards/pythia/common.cmnd",
                                                         "cards/pythia/res2p_neutral.cmnd", "cards/pythia/x_decays_neutral.cmnd"]
    assert plan.generate_inputs["QCD"] == ["config/samples.yaml", "cards/pythia/common.cmnd", "cards/pythia/qcd.cmnd",
                                           "cards/delphes/fastsim_CMS_JetClassII.yaml"]
    full = yaml.safe_load((REPO / "config" / "jetclass2_full.yaml").read_text())
    assert full["results"] != DEFAULT["results"]
    wc.validate(full, SCHEMA)
    plan = wc.plan(full)
    assert "cards/madgraph/res34p_proc.dat" in plan.generate_inputs["Res34P"]
    assert "cards/delphes/delphes_card_CMS_JetClassII_onlyFatJet.tcl" in plan.generate_inputs["Res34P"]
    # the Delphes pile-up file is made by the workflow from these cards (no file to provide)
    assert plan.pileup_cards[-2:] == ["cards/pythia/minbias.cmnd", "cards/delphes/pileup_converter.tcl"]


@pytest.mark.parametrize("path,value,message", [
    ("sampels", {}, "config (top level): Additional properties are not allowed ('sampels' was unexpected)"),
    ("pack.jet_per_file", 3, "config pack: Additional properties are not allowed ('jet_per_file' was unexpected)"),
    ("pack.split", [0, 0, 0], "config pack.split: [0, 0, 0] does not contain items matching the given schema "
                              "(train:val:test weights, integers >= 0, not all 0)"),
    ("pack.split", [4, -1, 1], "config pack.split.1: -1 is less than the minimum of 0"),
    ("samples.QCD.jobs", 0, "config samples.QCD.jobs: 0 is less than the minimum of 1"),
    ("samples.Res5P", {"jobs": 1, "events_per_job": 1}, "config samples.Res5P: not a sample of config/samples.yaml"),
    ("categories", ["Res2"], "config categories: unknown ['Res2'] (the configured samples give ['QCD', 'Res2P', 'Res34P'])"),
    ("detector.card", "cards/delphes/missing.yaml", "config detector.card: fast-simulation card cards/delphes/missing.yaml not found"),
    ("generation.samples_config", "config/nope.yaml", "config generation.samples_config: samples file config/nope.yaml not found"),
    ("ntuplizer.config", "config/nope.yaml", "config ntuplizer.config: ntuplizer settings config/nope.yaml not found"),
    ("ntuplizer.jet_radius", 1.0, "config ntuplizer.jet_radius: 1.0 has no clustering settings in config/ntuplizer.yaml "
                                  "(jet_algorithms: [0.8, 1.5])"),
    ("detector.pileup_library_events", 5, "config detector.pileup_library_events: 5 minimum-bias events are fewer than the "
                                          "10 the card cards/delphes/fastsim_CMS_JetClassII.yaml requires"),
    # issue 22: the training section and its network options are checked as strictly as the rest
    ("training.epocs", 3, "config training: Additional properties are not allowed ('epocs' was unexpected)"),
    ("training.network_options.num_heads", "abc", "config training.network_options.num_heads: 'abc' is not of type 'integer'"),
    ("training.network_options.num_layers", 0, "config training.network_options.num_layers: 0 is less than the minimum of 1"),
    ("training.network_options.embed_dims", "[16,x,16]", "config training.network_options.embed_dims: '[16,x,16]' does not match"),
    ("training.network_options.fc_params", "[(32,abc)]", "config training.network_options.fc_params: '[(32,abc)]' does not match"),
    ("training.network_options.num_haeds", 2, "config training.network_options: Additional properties are not allowed "
                                              "('num_haeds' was unexpected)"),
    ("samples", {}, "config samples: {} should be non-empty"),
    ("results", "README.md", "config results: README.md is a file, not a directory"),
])
def test_config_traps(path, value, message):
    with pytest.raises(wc.ConfigError) as err:
        checked(with_change(path, value))
    assert str(err.value).startswith(message)


def test_missing_card_named_by_the_samples_file(tmp_path):
    samples = yaml.safe_load((REPO / "config" / "samples.yaml").read_text())
    samples["samples"]["QCD"]["pythia_card"] = "cards/pythia/qcd_renamed.cmnd"
    (tmp_path / "samples.yaml").write_text(yaml.safe_dump(samples))
    with pytest.raises(wc.ConfigError, match=r"samples\.QCD\.pythia_card: Pythia card cards/pythia/qcd_renamed.cmnd not found"):
        checked(with_change("generation.samples_config", str(tmp_path / "samples.yaml")))


def test_no_pileup_needs_no_library_size():
    cfg = with_change("detector.pileup_library_events", 1)
    cfg["detector"]["pileup_mean"] = 0
    checked(cfg)


def test_config_strings_are_typed_as_the_schema_says():
    # what Snakemake's --config gives for "pack={jets_per_file: 7, split: [4, 1, 1]}" and friends
    given = {"pack": {"jets_per_file": "7", "split": ["4", "1", "1"], "files_per_tarball": "10"},
             "generation": {"backend": "embedded", "samples_config": "config/samples.yaml", "min_pt": "null"},
             "ntuplizer": {"config": "config/ntuplizer.yaml", "jet_radius": "1.5"}, "categories": ["QCD"], "results": "123"}
    typed = wc.coerce(given, SCHEMA)
    assert typed["pack"] == {"jets_per_file": 7, "split": [4, 1, 1], "files_per_tarball": 10}
    assert typed["generation"]["min_pt"] is None and typed["ntuplizer"]["jet_radius"] == 1.5
    assert typed["results"] == "123" and typed["categories"] == ["QCD"]  # strings stay strings
    assert wc.coerce({"pack": {"jets_per_file": "seven"}}, SCHEMA)["pack"]["jets_per_file"] == "seven"  # the schema rejects it


def test_dry_run_types_config_values_and_stops_on_traps(tmp_path):
    # its own results directory: what a production left in the checkout's results/ changes no planned job
    rc, out = dry_run("-p", "--config", "samples={QCD: {jobs: 3, events_per_job: 9}}", "generation={min_pt: null}",
                      "pack={split: [2, 1, 1]}", f"results={tmp_path / 'results'}")
    assert rc == 0, out[-2000:]
    assert "generate --sample QCD --job $((10#00000)) --events 9 " in out and "--min-pt" not in out
    rc, out = dry_run("--config", "pack={split: [0, 0, 0]}")
    assert rc != 0 and "config pack.split: [0, 0, 0] does not contain items" in out
    # splits are made of whole generation jobs: two QCD jobs cannot fill train, val and test
    rc, out = dry_run("--config", "samples={QCD: {jobs: 2, events_per_job: 9}}")
    assert rc != 0 and "config pack.split: category QCD gets no val job" in out and "QCD: 2 jobs" in out, out[-2000:]
    rc, out = dry_run("--config", "samples={QCD: {jobs: 2, events_per_job: 9}}", "pack={sample_split: {QCD: [1, 0, 1]}}")
    assert rc == 0, out[-2000:]
    bad = DEFAULT | {"sampels": {"QCD": {"jobs": 1, "events_per_job": 1}}}
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump(bad))
    rc, out = dry_run("--configfile", str(tmp_path / "typo.yaml"))
    assert rc != 0 and "('sampels' was unexpected)" in out
    rc, out = dry_run("--config", "detector={card: cards/delphes/gone.yaml}")
    assert rc != 0 and "config detector.card: fast-simulation card cards/delphes/gone.yaml not found" in out
    assert "Traceback" not in out


def test_cluster_resources_come_from_config_and_can_be_overridden():
    """Jobs ask for config/resources.yaml's requests, scaled with the job size; a configuration overrides
    them rule by rule; a misspelt rule or key stops the dry run."""
    table = yaml.safe_load((REPO / "config" / "resources.yaml").read_text())
    rc, out = dry_run("--config", "samples={QCD: {jobs: 1, events_per_job: 60000}}", "pack={split: [1, 0, 0]}",
                      "resources={ntuplize: {mem_mb: 3100}}")
    assert rc == 0, out[-2000:]
    gen = out[out.index("rule generate:"):].split("\n\n")[0]
    ntu = out[out.index("rule ntuplize:"):].split("\n\n")[0]
    assert f"mem_mb={table['generate']['mem_mb']}," in gen
    assert f"runtime={int(60000 * table['generate']['seconds_per_event'] / 60)}," in gen  # above the minimum
    assert "mem_mb=3100," in ntu
    rc, out = dry_run("--config", "resources={ntuplise: {mem_mb: 3100}}")
    assert rc != 0 and "config resources.ntuplise: not in config/resources.yaml (known: " in out
    rc, out = dry_run("--config", "resources={ntuplize: {memory: 3100}}")
    assert rc != 0 and "config resources.ntuplize.memory: not in config/resources.yaml (known: mem_mb, runtime" in out


@pytest.mark.parametrize("edit,message", [
    ({"ratio_stop": 1.2}, "grids/mass_y/ratio_stop: 1.2 is greater than the maximum of 1"),
    ({"ratio_stop": 0.04}, "grids.mass_y: ratio_stop 0.04 must exceed ratio_start 0.05"),
    ({"min": 600.0}, "grids.mass_y: no nominal Y mass for m_X = 30 GeV"),
])
def test_dry_run_stops_on_a_bad_y_grid(tmp_path, edit, message):
    """A Res34P Y mass setting outside its ranges: one line at the dry run, nothing planned."""
    c = yaml.safe_load((REPO / "config" / "samples.yaml").read_text())
    c["grids"]["mass_y"].update(edit)
    path = tmp_path / "samples.yaml"
    path.write_text(yaml.safe_dump(c))
    rc, out = dry_run("--config", f"generation={{backend: embedded, samples_config: {path}, min_pt: 400}}")
    assert rc != 0 and f"config generation.samples_config: {path}: {message}" in out, out[-2000:]
    assert "rule generate" not in out


def test_network_options_that_weaver_reads():
    for value in ("[128,512,128]", "[ 16 , 32 ]", [16, 32, 16]):
        checked(with_change("training.network_options.embed_dims", value))
    for value in ("[(512,0.1)]", "[]", "[(512, 0.1), (256, 0)]"):
        checked(with_change("training.network_options.fc_params", value))


def test_empty_mapping_given_with_config_is_refused():
    """`--config 'samples={}'` was merged into the config file's samples and ignored."""
    with pytest.raises(wc.ConfigError, match=r"^config samples: --config gives an empty mapping"):
        wc.check_overrides({"samples": {}})
    with pytest.raises(wc.ConfigError, match=r"^config pack.extra: --config gives an empty mapping"):
        wc.check_overrides({"pack": {"extra": {}}, "seed": "3"})
    wc.check_overrides({"samples": {"QCD": {"jobs": "1", "events_per_job": "9"}}})
    rc, out = dry_run("--config", "samples={}")
    assert rc != 0 and "config samples: --config gives an empty mapping" in out and "Traceback" not in out
