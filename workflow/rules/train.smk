# Sophon ParT pre-training with weaver on the packed dataset: `snakemake train`, `snakemake export`.
TRAIN = config.get("training", {})
TRAIN_DIR = f"{RESULTS}/training"
TRAIN_CONTAINER = TRAIN.get("container")  # containers/training.def; None: the current environment
MANIFESTS = [manifest(c) for c in ALL_CATEGORIES]


def _weaver():
    gpus = str(TRAIN.get("gpus", ""))
    n = len([g for g in gpus.split(",") if g.strip()])
    if n > 1:  # data-parallel training on several GPUs
        return f"torchrun --standalone --nnodes=1 --nproc_per_node={n} $(which weaver) --backend nccl"
    return "weaver"


# absolute: the workflow may run in another directory (--directory, cluster jobs)
NETWORK_CONFIG = os.path.join(workflow.basedir, "training", "network_sophon.py")


def _network_opts():
    opts = " ".join(f"-o {k} '{v}'" for k, v in TRAIN.get("network_options", {}).items())
    return f"--network-config {NETWORK_CONFIG} -o num_classes 188 {opts}"


rule data_config:
    output:
        train=f"{TRAIN_DIR}/data_config.yaml",
        inference=f"{TRAIN_DIR}/data_config_inference.yaml",
    params:
        reweight="" if TRAIN.get("reweight", True) else "--no-reweight",
    shell:
        "python -m training.data_config -o {output.train} {params.reweight} && "
        "python -m training.data_config -o {output.inference} --no-points --no-reweight"


rule train:
    """Train ParT on the train split, validate on the val split (weaver)."""
    input:
        manifests=MANIFESTS,
        data_config=rules.data_config.output.train,
    output:
        f"{TRAIN_DIR}/net_best_epoch_state.pt",
    log:
        f"{RESULTS}/logs/train.log",
    params:
        weaver=_weaver(),
        net=_network_opts(),
        gpus=str(TRAIN.get("gpus", "")),
        amp="--use-amp" if TRAIN.get("use_amp") else "",
        prefix=f"{TRAIN_DIR}/net",
        lr=lambda w: TRAIN.get("start_lr", 5e-4) * max(1, len([g for g in str(TRAIN.get("gpus", "")).split(",") if g.strip()])),
        steps=f"--steps-per-epoch {TRAIN['steps_per_epoch']}" if TRAIN.get("steps_per_epoch") else "",
        samples=f"--samples-per-epoch {TRAIN['samples_per_epoch']}" if TRAIN.get("samples_per_epoch") else "",
    resources:
        mem_mb=32000,
        runtime=2880,
        cpus_per_task=8,
        gpu=1,
    container:
        TRAIN_CONTAINER
    shell:
        "{params.weaver} --data-train $(python -m training.file_lists --split train --named --data-config {input.data_config} {input.manifests}) "
        "--data-val $(python -m training.file_lists --split val --data-config {input.data_config} {input.manifests}) "
        "--data-config {input.data_config} {params.net} {params.amp} --model-prefix {params.prefix} "
        "--num-epochs {TRAIN[epochs]} {params.steps} {params.samples} --batch-size {TRAIN[batch_size]} "
        "--start-lr {params.lr} --optimizer {TRAIN[optimizer]} --gpus '{params.gpus}' "
        "--num-workers {TRAIN[num_workers]} --fetch-step 1 --log-file {log} > {log}.out 2>&1 && "
        # weaver keeps a best epoch only if the validation accuracy ever exceeds 0 (tiny runs): fall back to the last
        "(test -f {output} || cp {params.prefix}_epoch-$(({TRAIN[epochs]} - 1))_state.pt {output})"


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
        net=_network_opts(),
    container:
        TRAIN_CONTAINER
    shell:
        "weaver --data-config {input.data_config} {params.net} -o export_embed True "
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
        net=_network_opts(),
        gpus=str(TRAIN.get("gpus", "")),
    container:
        TRAIN_CONTAINER
    shell:
        "weaver --predict --data-test $(python -m training.file_lists --split test --data-config {input.data_config} {input.manifests}) "
        "--data-config {input.data_config} {params.net} --model-prefix {input.model} --gpus '{params.gpus}' "
        "--batch-size {TRAIN[batch_size]} --num-workers {TRAIN[num_workers]} --predict-output {output.scores} > {log} 2>&1 && "
        "python -m training.evaluate {output.scores} -o {TRAIN_DIR}/evaluation >> {log} 2>&1"
