"""Sophon ParT pre-training with weaver: data configuration, the full configuration's command line against
Sophon's, a few training steps, resume after an interruption, reweighting from train + val, ONNX export."""
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from jetclass2.ntuplizer.labels import LABEL_NAMES

from jetclass2.training import command, data_config
from jetclass2.training.groups import GROUPS, group_of, label_groups

NETWORK = str(Path(__file__).resolve().parents[1] / "jetclass2" / "training" / "network_sophon.py")
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

    from jetclass2.training import network_sophon

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
    import uproot

    from jetclass2.training.evaluate import main as evaluate_main
    from jetclass2.training.file_lists import selected_jets

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
    assert "smoke_test" not in summary
    # the tiny default's evaluation says that it is a smoke test, so that accuracy ~ 0 alarms nobody
    evaluate_main([str(pred), "-o", str(tmp_path / "smoke"), "--smoke-test"])
    smoke = json.loads((tmp_path / "smoke" / "summary.json").read_text())
    assert smoke["smoke_test"] is True and "accuracy near 0 is expected" in smoke["note"]
    assert {k: v for k, v in smoke.items() if k not in ("smoke_test", "note")} == summary


# ---- the full configuration against Sophon's train_sophon.sh (jet-universe/sophon) ----------------------
# Sophon's values, read from its script and README: epochs=80, samples_per_epoch=10000*1024/NGPUS,
# samples_per_epoch_val=2500*1024, --num-workers 5 --fetch-step 1.0 --data-split-num 200, --batch-size 512
# --start-lr 5e-4 (scaled with the GPUs in DDP), --optimizer ranger, weaver's default lr scheduler, --use-amp
# with weaver dev/custom_train_eval (float16 autocast + GradScaler), make_weight then --no-remake-weights,
# torchrun --standalone --nnodes=1 --nproc_per_node=N ... --backend nccl. Its dataset: 100k-jet files,
# train Res2P 200, Res34P 860, QCD 280; val 50, 215, 70.
SOPHON_TRAIN = {"Res2P": 200, "Res34P": 860, "QCD": 280}
SOPHON_VAL = 50 + 215 + 70


def full_training_options(repo_dir):
    return yaml.safe_load((repo_dir / "config" / "jetclass2_full.yaml").read_text())["training"]


@pytest.mark.parametrize("n_gpu", [1, 4])
def test_full_config_weaver_command_is_sophons(repo_dir, n_gpu):
    from weaver.train import parser  # weaver-core 0.5.3's own argument parser

    opts = {**full_training_options(repo_dir), "gpus": ",".join(map(str, range(n_gpu)))}
    plan = command.loader_plan(opts, {c: [100_000] * n for c, n in SOPHON_TRAIN.items()}, SOPHON_VAL)
    cmd = command.weaver_train_args(
        opts, train_files={c: [f"/data/{c}_{i:04d}.root" for i in range(n)] for c, n in SOPHON_TRAIN.items()},
        val_files=[f"/data/val_{i:04d}.root" for i in range(SOPHON_VAL)], data_config="dc.weights.auto.yaml",
        network_config=NETWORK, model_prefix="out/net", log_file="out/net.weaver.log", plan=plan, weights_precomputed=True)
    entry = cmd.index("jetclass2.training.weaver_entry")
    if n_gpu > 1:
        assert cmd[:entry - 1] == ["torchrun", "--standalone", "--nnodes=1", f"--nproc_per_node={n_gpu}"]
        assert cmd[entry - 1] == "-m" and cmd[entry + 1:entry + 3] == ["--backend", "nccl"]
    else:
        assert "torchrun" not in cmd and "--backend" not in cmd
    args = parser.parse_args(cmd[entry + 1:])
    assert args.data_split_num == 200 and args.fetch_step == 1.0 and args.num_workers == 5 and not args.fetch_by_files
    assert args.samples_per_epoch == 10000 * 1024 // n_gpu
    assert args.samples_per_epoch_val == 2500 * 1024
    assert args.use_amp and args.amp_dtype == "fp16"
    assert args.start_lr == pytest.approx(5e-4 * n_gpu)
    assert (args.num_epochs, args.batch_size, args.optimizer, args.lr_scheduler) == (80, 512, "ranger", "flat+decay")
    assert args.no_remake_weights and args.load_epoch is None and args.steps_per_epoch is None
    assert dict(args.network_option) == {"num_classes": "188", "fc_params": "[(512,0.1)]"}
    assert len(args.data_train) == sum(SOPHON_TRAIN.values()) and args.data_train[0] == "Res2P:/data/Res2P_0000.root"
    # weaver turns samples into steps per process: all processes together train Sophon's 10000 x 1024 jets per epoch
    assert args.samples_per_epoch // args.batch_size * n_gpu * args.batch_size == 10000 * 1024
    # one loader worker holds its share of the training jets divided by the split number, per fetch
    assert plan.jets_per_fetch == math.ceil(sum(SOPHON_TRAIN.values()) * 100_000 / (n_gpu * 5 * 200))


def test_loader_plan_caps_workers_and_fetch_size():
    opts = {"gpus": "0,1", "num_workers": 5, "fetch_step": 1.0, "data_split_num": 200}
    # weaver gives each worker files[i::workers] of every category and asserts it is not empty
    assert command.loader_plan(opts, {"A": [100] * 6, "B": [100] * 40}, val_count=40).num_workers == 3
    assert command.loader_plan(opts, {"A": [100] * 40}, val_count=4).num_workers == 2
    assert command.loader_plan({**opts, "num_workers": 0}, {"A": [100] * 4}, val_count=4).num_workers == 0
    with pytest.raises(ValueError, match="category A: 1 training files for 2"):
        command.loader_plan(opts, {"A": [100]}, val_count=4)
    one = {**opts, "gpus": "0"}
    assert command.loader_plan(one, {"A": [100_000] * 100}, 10).data_split_num == 200  # 10k jets per fetch
    capped = command.loader_plan({**one, "max_jets_per_fetch": 1000}, {"A": [100_000] * 100}, 10)
    assert capped.data_split_num == 2000 and capped.jets_per_fetch == 1000


def test_tiny_default_is_marked_a_smoke_test(repo_dir):
    opts = yaml.safe_load((repo_dir / "config" / "config.yaml").read_text())["training"]
    assert opts["smoke_test"] is True and opts["steps_per_epoch"] and not opts["use_amp"]
    assert full_training_options(repo_dir)["smoke_test"] is False


def test_weaver_entry_reads_while_the_interpreter_shuts_down(shared_dir):
    """A prefetch still reading when training ends (weaver's background thread) must not log a traceback."""
    script = (
        "import time, jetclass2.training.weaver_entry, uproot\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "def load():\n"
        "    time.sleep(0.5)\n"
        f"    with uproot.open({str(shared_dir / 'ntuples' / NTUPLES[0])!r}) as f:\n"
        "        print(len(f['tree'].arrays(['part_px', 'jet_pt'])), 'jets read')\n"
        "ThreadPoolExecutor(max_workers=1).submit(load)\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "175 jets read" in r.stdout


@pytest.fixture(scope="module")
def packed(shared_dir, tmp_path_factory):
    """The reference ntuples packed into 20-jet files, train/val/test 4:1:1, with their manifest."""
    from packing_helpers import split_ntuple

    from jetclass2.packing.pack import pack_category

    out = tmp_path_factory.mktemp("dataset")
    # three "jobs" of H->bb jets (train, val, test: splits are made of whole jobs) and the 10-event file (train)
    parts = split_ntuple(shared_dir / "ntuples" / NTUPLES[0], tmp_path_factory.mktemp("ntuples"), 3)
    pack_category("Res2P", parts + [shared_dir / "ntuples" / "res2p_higgs2p_10events.ntuple.root"],
                  out, jets_per_file=20, seed=3)
    return out / "Res2P.manifest.json"


def _launch(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "jetclass2.training.launch", *args], stdout=kw.pop("stdout", subprocess.PIPE),
                            stderr=subprocess.STDOUT, text=True, **kw)


@pytest.mark.slow
def test_training_resumes_from_its_last_complete_epoch(packed, tmp_path):
    from jetclass2.training.launch import best_epoch, last_complete_epoch

    tiny = dict(zip(TINY[1::3], TINY[2::3]))
    opts = {"gpus": "", "epochs": 3, "steps_per_epoch": 6, "batch_size": 16, "start_lr": 3e-3, "optimizer": "ranger",
            "num_workers": 0, "fetch_step": 1.0, "data_split_num": 1, "use_amp": False, "network_options": tiny}
    dc = data_config.write(tmp_path / "dc.yaml", reweight=False)
    prefix, wlog, out = tmp_path / "train" / "net", tmp_path / "train" / "net.weaver.log", tmp_path / "train" / "best.pt"
    args = ["--options", json.dumps(opts), "--data-config", str(dc), "--model-prefix", str(prefix), "--weaver-log", str(wlog),
            "-o", str(out), str(packed)]
    # first run: stopped (SIGTERM, as Slurm and Snakemake stop jobs) once epoch 0 is validated
    with open(tmp_path / "run1.log", "w") as log1:
        p = _launch(args, stdout=log1, start_new_session=True)
        t0 = time.time()
        while not (wlog.exists() and "Epoch #0: Current validation metric" in wlog.read_text()):
            assert p.poll() is None and time.time() - t0 < 600, (tmp_path / "run1.log").read_text()[-3000:]
            time.sleep(0.2)
        os.kill(p.pid, signal.SIGTERM)
        assert p.wait(timeout=120) == 1
    assert not out.exists()
    done = last_complete_epoch(prefix, wlog)
    assert done is not None and done < 2
    # second run: resumes after the last complete epoch, trains the rest, picks the best epoch over all of them
    p = _launch(args)
    text = p.communicate(timeout=900)[0]
    assert p.returncode == 0, text[-3000:]
    assert f"resuming after epoch {done}" in text and f"Resume training from epoch {done}" in text
    wtext = wlog.read_text()
    assert wtext.count("Epoch #0 training") == 1 and wtext.count("Epoch #2 training") == 1
    assert "Traceback" not in text + wtext + (tmp_path / "run1.log").read_text()
    best, _ = best_epoch(prefix, wlog)
    assert out.read_bytes() == Path(f"{prefix}_epoch-{best}_state.pt").read_bytes()
    # a finished training is not run again
    p = _launch(args)
    text = p.communicate(timeout=300)[0]
    assert p.returncode == 0 and "all 3 epochs already trained" in text and "weaver_entry" not in text
    # a damaged last checkpoint is not resumed from
    ckpt = Path(f"{prefix}_epoch-2_optimizer.pt")
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    assert last_complete_epoch(prefix, wlog) == 1
    # checkpoints of another command (here another learning rate) are refused, not continued
    p = _launch([*args[:1], json.dumps({**opts, "start_lr": 1e-3}), *args[2:]])
    text = p.communicate(timeout=300)[0]
    assert p.returncode == 2 and "checkpoints of another training command" in text


def test_make_weight_uses_train_and_val(packed, tmp_path):
    """make_weight's histograms are weaver's WeightMaker on the train + val files (Sophon's make_weight)."""
    from weaver.utils.data.config import DataConfig
    from weaver.utils.data.preprocess import WeightMaker

    from jetclass2.training.file_lists import files_of
    from jetclass2.training.make_weight import main as make_weight_main

    cfg = data_config.build()
    cfg["weights"].update(reweight_classes=["label_X_QQ"], class_weights=[1.0])  # the group most reference jets are in
    cfg["selection"] += " & (jet_label < 9)"  # X_QQ only: weaver pauses when selected jets fall in no class
    dc = tmp_path / "dc.yaml"
    dc.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = tmp_path / "dc.weights.auto.yaml"
    assert make_weight_main(["--data-config", str(dc), "-o", str(out), str(packed)]) == 0
    hist = np.asarray(DataConfig.load(str(out)).reweight_hists["label_X_QQ"])

    def weights_of(splits):
        files = [str(p) for s in splits for ps in files_of([packed], s).values() for p in ps]
        return np.asarray(WeightMaker(files, DataConfig.load(str(dc))).produce().reweight_hists["label_X_QQ"])

    np.testing.assert_allclose(hist, weights_of(["train", "val"]), rtol=1e-6)
    assert not np.allclose(hist, weights_of(["train"]))
    assert make_weight_main(["--data-config", str(dc), "-o", str(tmp_path / "w.yaml"), str(packed)]) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="autocast precision needs a CUDA device")
def test_network_autocast_follows_weavers_dtype(tmp_path):
    """Sophon's own autocast region around aggregator and FC takes weaver's dtype: no fp16 island in a bf16 run."""
    from weaver.utils.data.config import DataConfig

    from jetclass2.training import network_sophon

    dc = DataConfig.load(str(data_config.write(tmp_path / "dc.yaml", reweight=False)))
    model, _ = network_sophon.get_model(dc, num_classes=188, use_amp=True, fc_params=[(32, 0.1)], embed_dims=[16, 32, 16],
                                        pair_embed_dims=[8, 8, 8], num_heads=2, num_layers=1, num_cls_layers=1)
    model = model.cuda()
    x = [torch.rand(4, *dc.input_shapes[k][1:], device="cuda") + 0.1 for k in dc.input_names]
    for dtype in (torch.float16, torch.bfloat16):
        with torch.autocast("cuda", dtype=dtype):
            assert model(*x).dtype == dtype
