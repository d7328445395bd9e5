"""Sophon ParT pre-training with weaver: data configuration, a few training steps, ONNX export."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ntuplizer.labels import LABEL_NAMES
from training import data_config
from training.groups import GROUPS, group_of, label_groups

NETWORK = str(Path(__file__).resolve().parents[1] / "training" / "network_sophon.py")
NTUPLES = ["hbb_m125_pt500_200events.ntuple.root", "res2p_higgs2p_10events.qcdlabels.ntuple.root"]
TINY = ["-o", "fc_params", "[(32,0.1)]", "-o", "embed_dims", "[16,32,16]", "-o", "pair_embed_dims", "[8,8,8]",
        "-o", "num_heads", "2", "-o", "num_layers", "1", "-o", "num_cls_layers", "1"]


def test_reweighting_groups():
    g = label_groups()
    assert list(g) == GROUPS and len(GROUPS) == 30
    assert sorted(i for v in g.values() for i in v) == list(range(188))
    assert g["X_QQ"] == list(range(9)) and g["QCD"] == list(range(161, 188))
    assert group_of("X_YY_qqqb") == "X_YY_QQQQ" and group_of("X_YY_bcs") == "X_YY_QQQ"
    assert group_of("X_YY_cqev") == "X_YY_QQlv" and group_of("X_YY_sqtaumv") == "X_YY_QQtaulv"
    assert group_of("X_YY_gtauhtaue") == "X_YY_gtauhtaul" and group_of("X_YY_bmm") == "X_YY_Qll"
    assert len(g["X_YY_QQQQ"]) == 22 and len(g["X_YY_QQQ"]) == 20


def test_data_config_loads_in_weaver(tmp_path):
    from weaver.utils.data.config import DataConfig

    for kwargs in ({}, {"points": False, "reweight": False}):
        path = data_config.write(tmp_path / "dc.yaml", **kwargs)
        dc = DataConfig.load(str(path))
        assert len(dc.input_dicts["pf_features"]) == 17
        assert ("pf_points" in dc.input_names) == kwargs.get("points", True)
        assert dc.input_shapes["pf_vectors"][1:] == (4, 128)
    full = data_config.build()
    assert full["weights"]["reweight_classes"] == [f"label_{g}" for g in GROUPS]
    assert full["selection"] == "(jet_pt > 200) & (jet_pt < 2500) & (jet_sdmass > 20) & (jet_sdmass < 500)"


def _weaver(*args):
    return subprocess.run([sys.executable, "-m", "weaver.train", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(shared_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    dc = data_config.write(tmp / "dc.yaml", reweight=False)
    files = [str(shared_dir / "ntuples" / n) for n in NTUPLES]
    r = _weaver("--data-train", *files, "--data-val", files[1], "--data-config", str(dc),
                "--network-config", NETWORK, "-o", "num_classes", "188", *TINY,
                "--model-prefix", str(tmp / "net"), "--num-epochs", "4", "--steps-per-epoch", "8",
                "--batch-size", "16", "--start-lr", "3e-3", "--optimizer", "adam", "--lr-scheduler", "none",
                "--gpus", "", "--num-workers", "0", "--fetch-step", "1", "--in-memory")
    return tmp, dc, r


def test_training_steps_reduce_the_loss(trained):
    tmp, _, r = trained
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    losses = [float(x) for x in re.findall(r"Train AvgLoss: ([0-9.]+)", r.stdout + r.stderr)]
    assert len(losses) == 4
    assert losses[-1] < losses[0] - 0.2


def test_onnx_export_matches_torch(trained):
    import onnxruntime
    from weaver.utils.data.config import DataConfig

    from training import network_sophon

    tmp, dc_path, _ = trained
    state = tmp / "net_epoch-3_state.pt"
    onnx_path = tmp / "model.onnx"
    r = _weaver("--data-config", str(dc_path), "--network-config", NETWORK, "-o", "num_classes", "188",
                *TINY, "-o", "export_embed", "True", "--model-prefix", str(state), "--export-onnx", str(onnx_path))
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    dc = DataConfig.load(str(dc_path))
    opts = dict(num_classes=188, fc_params=[(32, 0.1)], embed_dims=[16, 32, 16], pair_embed_dims=[8, 8, 8], num_heads=2,
                num_layers=1, num_cls_layers=1, export_embed=True, for_inference=True)
    model, _ = network_sophon.get_model(dc, **opts)
    model.load_state_dict(torch.load(state, map_location="cpu"))
    model.eval()
    rng = np.random.default_rng(0)
    n = 40  # a jet of 40 particles, wrap-padded to 128 like the training inputs
    idx = np.arange(128) % n
    feats = {
        "pf_points": rng.normal(0, 0.3, (1, 2, n))[..., idx],
        "pf_features": rng.normal(0, 1, (1, 17, n))[..., idx],
        "pf_vectors": np.abs(rng.normal(5, 2, (1, 4, n)))[..., idx],
        "pf_mask": np.ones((1, 1, 128)),
    }
    feats["pf_vectors"][:, 3] = np.linalg.norm(feats["pf_vectors"][:, :3], axis=1) + 0.1
    feats = {k: v.astype(np.float32) for k, v in feats.items()}
    with torch.no_grad():
        ref = model(*(torch.from_numpy(feats[k]) for k in dc.input_names)).numpy()
    sess = onnxruntime.InferenceSession(str(onnx_path))
    names = [i.name for i in sess.get_inputs()]
    out = sess.run(None, {k: feats[k] for k in names})[0]
    assert out.shape == (1, 188 + 16)
    np.testing.assert_allclose(out, ref, rtol=1e-3, atol=1e-4)
    assert abs(out[0, :188].sum() - 1) < 1e-4


def test_test_set_evaluation(trained, shared_dir, tmp_path):
    """weaver --predict on a held-out file, then the summary: every selected jet, true labels intact."""
    import json

    import uproot

    from training.evaluate import main as evaluate_main
    from training.file_lists import selected_jets

    tmp, dc, _ = trained
    test_file = shared_dir / "ntuples" / NTUPLES[0]
    pred = tmp_path / "pred.root"
    r = _weaver("--predict", "--data-test", str(test_file), "--data-config", str(dc), "--network-config", NETWORK,
                "-o", "num_classes", "188", *TINY, "--model-prefix", str(tmp / "net_epoch-3_state.pt"), "--gpus", "",
                "--batch-size", "16", "--num-workers", "0", "--predict-output", str(pred))
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    evaluate_main([str(pred), "-o", str(tmp_path / "eval")])
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    selection = data_config.build(reweight=False)["selection"]
    assert summary["jets"] == selected_jets(test_file, selection) > 100
    # all H->bb jets: true group X_QQ, so the confusion matrix has a single non-empty row
    conf = np.asarray(summary["group_confusion"])
    assert conf[GROUPS.index("X_QQ")].sum() == summary["jets"] == conf.sum()
    assert 0 <= summary["accuracy"] <= summary["group_accuracy"] <= 1
    assert (tmp_path / "eval" / "confusion_groups.png").stat().st_size > 0
    labels = uproot.open(pred)["Events"]["truth_label"].array(library="np")
    assert set(labels.tolist()) == {LABEL_NAMES.index("X_bb")}
