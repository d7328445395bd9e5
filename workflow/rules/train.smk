# Sophon ParT pre-training with weaver on the packed dataset: `snakemake train`, `snakemake export`, `snakemake evaluate`.
# The weaver command line is rendered by jetclass2/training/command.py from the `training:` section (see docs/training.md).
import json
import shlex

TRAIN = config.get("training", {})
TRAIN_DIR = f"{RESULTS}/training"
TRAIN_CONTAINER = TRAIN.get("container")  # containers/training.def; None: the current environment
# with `--sdm conda` and no training container: the project with its `train` extra (workflow/envs/training.yaml)
TRAINING_SOFTWARE = None if TRAIN_CONTAINER else "../envs/training.yaml"
MANIFESTS = [manifest(c) for c in ALL_CATEGORIES]
REWEIGHT = TRAIN.get("reweight", True)
# make_weight and train read only a dataset whose every file matched its manifest (rule verify_dataset);
# they, and evaluate, also check it themselves before reading (sizes, stamps, SHA-256 of changed files),
# since verified.ok does not notice a data file changed after it was written
DATASET_VERIFIED = [VERIFIED]
_GPUS = len([g for g in str(TRAIN.get("gpus", "")).split(",") if g.strip()])  # training.gpus: "" CPU, "0,1,2,3" four
_TRAIN_PROCS = max(1, _GPUS)
_WORKERS = int(TRAIN.get("num_workers", 0))
# absolute: the workflow may run in another directory (--directory, cluster jobs)
NETWORK_CONFIG = os.path.join(workflow.basedir, "jetclass2", "training", "network_sophon.py")
_NETWORK_OPTIONS = " ".join(f"-o {k} '{v}'" for k, v in TRAIN.get("network_options", {}).items())
NETWORK_OPTS = f"--network-config {NETWORK_CONFIG} -o num_classes 188 {_NETWORK_OPTIONS}"


localrules:
    data_config,  # two small YAML files: no cluster job


rule data_config:
    output:
        train=f"{TRAIN_DIR}/data_config.yaml",
        inference=f"{TRAIN_DIR}/data_config_inference.yaml",
    log:
        f"{RESULTS}/logs/data_config.log",
    params:
        reweight="" if REWEIGHT else "--no-reweight",
    conda:
        SOFTWARE
    shell:
        "(python -m jetclass2.training.data_config -o {output.train} {params.reweight} && "
        "python -m jetclass2.training.data_config -o {output.inference} --no-points --no-reweight) > {log} 2>&1"


rule make_weight:
    """Sophon's make_weight: weaver's reweighting histograms from the train + val files, once."""
    input:
        manifests=MANIFESTS,
        verified=DATASET_VERIFIED,
        data_config=rules.data_config.output.train,
    output:
        f"{TRAIN_DIR}/data_config.weights.auto.yaml",
    log:
        f"{RESULTS}/logs/make_weight.log",
    resources:
        mem_mb=int(RES["make_weight"]["mem_mb"]),  # jet pT, m_SD and the label classes of every train and val jet
        runtime=int(RES["make_weight"]["runtime"]),
    conda:
        TRAINING_SOFTWARE
    container:
        TRAIN_CONTAINER
    shell:
        "python -m jetclass2.training.make_weight --data-config {input.data_config} -o {output} {input.manifests} > {log} 2>&1"


rule train:
    """Train ParT on the train split, validate on the val split (weaver); resumes from the last complete epoch."""
    input:
        manifests=MANIFESTS,
        verified=DATASET_VERIFIED,
        data_config=rules.make_weight.output[0] if REWEIGHT else rules.data_config.output.train,
    output:
        f"{TRAIN_DIR}/best_epoch_state.pt",
    log:
        f"{RESULTS}/logs/train.log",
    params:
        options=shlex.quote(json.dumps(TRAIN)),
        weights="--weights" if REWEIGHT else "",
        prefix=f"{TRAIN_DIR}/net",
        weaver_log=f"{TRAIN_DIR}/net.weaver.log",
    resources:
        # per process: < 4 GB per loader worker (benchmarks/bench_training.py) and the process itself
        mem_mb=int(_TRAIN_PROCS * (max(1, _WORKERS) * RES["train"]["mem_mb_per_worker"] + RES["train"]["mem_mb_per_process"])),
        runtime=int(RES["train"]["runtime"]),
        cpus_per_task=_TRAIN_PROCS * (_WORKERS + 1),
        gpu=_GPUS,  # Slurm: --gpus=N, one per torchrun process
    conda:
        TRAINING_SOFTWARE
    container:
        TRAIN_CONTAINER
    shell:
        "python -m jetclass2.training.launch --options {params.options} --data-config {input.data_config} {params.weights} "
        "--model-prefix {params.prefix} --weaver-log {params.weaver_log} -o {output} {input.manifests} > {log} 2>&1"


rule export:
    """The best epoch as ONNX (class scores followed by the embedding)."""
    input:
        model=rules.train.output[0],
        data_config=rules.data_config.output.train,
    output:
        f"{TRAIN_DIR}/model.onnx",
    log:
        f"{RESULTS}/logs/export.log",
    params:
        net=NETWORK_OPTS,
    resources:
        mem_mb=int(RES["export"]["mem_mb"]),
        runtime=int(RES["export"]["runtime"]),
    conda:
        TRAINING_SOFTWARE
    container:
        TRAIN_CONTAINER
    shell:
        "python -m jetclass2.training.weaver_entry --data-config {input.data_config} {params.net} -o export_embed True "
        "--model-prefix {input.model} --export-onnx {output} > {log} 2>&1"


rule evaluate:
    """Test-set pass: per-jet scores (weaver --predict) and a summary with the group confusion plot."""
    input:
        model=rules.train.output[0],
        manifests=MANIFESTS,
        data_config=rules.data_config.output.train,
    output:
        scores=f"{TRAIN_DIR}/test_scores.root",
        summary=f"{TRAIN_DIR}/evaluation/summary.json",
    log:
        f"{RESULTS}/logs/evaluate.log",
    params:
        net=NETWORK_OPTS,
        gpus=str(TRAIN.get("gpus", "")),
        smoke="--smoke-test" if TRAIN.get("smoke_test") else "",
        batch_size=TRAIN.get("batch_size"),
        num_workers=TRAIN.get("num_workers"),
        evaluation=lambda w, output: os.path.dirname(output.summary),
    resources:
        mem_mb=int(RES["evaluate"]["mem_mb"]),
        runtime=int(RES["evaluate"]["runtime"]),
        cpus_per_task=max(1, _WORKERS) + 1,
        gpu=_GPUS,  # weaver --predict on the GPUs of training.gpus
    conda:
        TRAINING_SOFTWARE
    container:
        TRAIN_CONTAINER
    # the file list first: it checks the dataset, and a damaged one stops the job here, naming the file
    shell:
        "test_files=$(python -m jetclass2.training.file_lists --split test --data-config {input.data_config} {input.manifests} 2> {log}) && "
        "python -m jetclass2.training.weaver_entry --predict --data-test $test_files "
        "--data-config {input.data_config} {params.net} --model-prefix {input.model} --gpus '{params.gpus}' "
        "--batch-size {params.batch_size} --num-workers {params.num_workers} --predict-output {output.scores} >> {log} 2>&1 && "
        "python -m jetclass2.training.evaluate {output.scores} -o {params.evaluation} {params.smoke} >> {log} 2>&1"
