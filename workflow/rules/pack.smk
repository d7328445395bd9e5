# Packing as a map-reduce (docs/packing.md):
#   pack_plan (checkpoint, per category)  ntuples -> plan.json: jet counts, labels checked, which jets go to which file
#   pack_scatter (per group of ntuples)   ntuples -> one shard, jets ordered by output file
#   pack_gather (per output file)         its jets of every shard, shuffled -> {Category}_NNNN.root|parquet
#   pack_tarball (per 10 files)           {Category}_AAAA-BBBB.tar
#   pack_finalize (per category)          manifest, conservation check, atomic swap into results/dataset
#   verify_category / verify_dataset      every file against its manifest; training depends on verified.ok
#                                         (and train, make_weight, evaluate check the dataset again themselves)
# The number of files is ceil(jets / jets_per_file), known once the plan has counted the jets: the
# gather and tarball jobs are created after the pack_plan checkpoint.
PACK = config["pack"]
PACK_WORK = f"{RESULTS}/pack"
DATASET = f"{RESULTS}/dataset"
PACK_FORMAT = PACK.get("format", "root")
PACK_SUFFIX = {"root": "root", "parquet": "parquet"}.get(PACK_FORMAT)
NTUPLES_PER_SCATTER = PACK.get("ntuples_per_scatter", 1)
VERIFIED = f"{DATASET}/verified.ok"

# caught at DAG construction (also by `snakemake -n`), before any job runs
if PACK_SUFFIX is None:
    raise ValueError(f"config: pack.format must be root or parquet, got {PACK_FORMAT!r}")
if len(PACK["split"]) != 3 or any(int(w) < 0 for w in PACK["split"]) or sum(int(w) for w in PACK["split"]) == 0:
    raise ValueError(f"config: pack.split must be three non-negative integers with a positive sum, got {PACK['split']}")
for _key in ("jets_per_file", "files_per_tarball", "jets_per_basket"):
    if int(PACK.get(_key, 1)) < 1:
        raise ValueError(f"config: pack.{_key} must be at least 1, got {PACK[_key]}")
if int(NTUPLES_PER_SCATTER) < 1:
    raise ValueError(f"config: pack.ntuples_per_scatter must be at least 1, got {NTUPLES_PER_SCATTER}")


_check_job_splits()


wildcard_constraints:
    group=r"\d{5}",
    index=r"\d\d\d\d+",
    first=r"\d\d\d\d+",
    last=r"\d\d\d\d+",


include: "pack_functions.smk"


checkpoint pack_plan:
    """Count and check the jets of every ntuple of a category; fix the output file of every jet."""
    input:
        lambda w: ntuples_of_category(w.category),
    output:
        f"{PACK_WORK}/{{category}}/plan.json",
    log:
        f"{RESULTS}/logs/pack/{{category}}/plan.log",
    params:
        jets_per_file=PACK["jets_per_file"],
        split=" ".join(map(str, PACK["split"])),
        sample_split="".join(f" --sample-split {s}={','.join(map(str, w))}" for s, w in (PACK.get("sample_split") or {}).items()),
        per_tar=PACK["files_per_tarball"],
        group=NTUPLES_PER_SCATTER,
        basket=PACK.get("jets_per_basket", 10000),
        seed=config["seed"],
        samples_config=config["generation"]["samples_config"],
    threads: int(RES["pack_plan"]["threads"])
    resources:
        mem_mb=int(RES["pack_plan"]["mem_mb"]),
        runtime=lambda w: int(RES["pack_plan"]["runtime"] + len(ntuples_of_category(w.category)) * RES["pack_plan"]["minutes_per_ntuple"]),
    conda:
        SOFTWARE
    shell:
        "python -m jetclass2.packing plan --category {wildcards.category} --inputs {input} --jets-per-file {params.jets_per_file} --jobs {threads} "
        "--split {params.split}{params.sample_split} --files-per-tarball {params.per_tar} --ntuples-per-scatter {params.group} --jets-per-basket {params.basket} "
        f"--format {PACK_FORMAT} --seed {{params.seed}} --samples-config {{params.samples_config}} -o {{output}} > {{log}} 2>&1"


rule pack_scatter:
    """One group of ntuples -> one shard (Arrow IPC), its jets ordered by output file."""
    input:
        plan=rules.pack_plan.output[0],
        ntuples=lambda w: scatter_groups(w.category)[int(w.group)],
    output:
        temp(f"{PACK_WORK}/{{category}}/scatter/{{group}}.arrow"),
    log:
        f"{RESULTS}/logs/pack/{{category}}/scatter_{{group}}.log",
    resources:
        mem_mb=int(RES["pack_scatter"]["mem_mb"]),
        runtime=int(RES["pack_scatter"]["runtime"] + RES["pack_scatter"]["minutes_per_ntuple"] * NTUPLES_PER_SCATTER),
    conda:
        SOFTWARE
    shell:
        "python -m jetclass2.packing scatter {input.plan} --group $((10#{wildcards.group})) -o {output} > {log} 2>&1"


rule pack_gather:
    """Its jets of every shard, shuffled -> one dataset file and its summary (jets, labels, hashes)."""
    input:
        plan=rules.pack_plan.output[0],
        shards=_shards,
    output:
        data=temp(f"{PACK_WORK}/{{category}}/files/{{category}}_{{index}}.{PACK_SUFFIX}"),
        summary=temp(f"{PACK_WORK}/{{category}}/files/{{category}}_{{index}}.{PACK_SUFFIX}.json"),
    log:
        f"{RESULTS}/logs/pack/{{category}}/gather_{{index}}.log",
    params:
        shard_dir=lambda w: f"{PACK_WORK}/{w.category}/scatter",
    resources:
        # two copies of the file's jets (~6 kB each in memory) plus the interpreter
        mem_mb=int(RES["pack_gather"]["mem_mb"] + RES["pack_gather"]["mem_mb_per_1k_jets"] * PACK["jets_per_file"] / 1000),
        runtime=int(RES["pack_gather"]["runtime"]),
    conda:
        SOFTWARE
    shell:
        "python -m jetclass2.packing gather {input.plan} --index $((10#{wildcards.index})) --shard-dir {params.shard_dir} "
        "-o {output.data} > {log} 2>&1"


rule pack_tarball:
    """Consecutive dataset files -> one tarball and its summary (SHA-256)."""
    input:
        plan=rules.pack_plan.output[0],
        files=_tarball_members,
    output:
        tar=temp(f"{PACK_WORK}/{{category}}/tar/{{category}}_{{first}}-{{last}}.tar"),
        summary=temp(f"{PACK_WORK}/{{category}}/tar/{{category}}_{{first}}-{{last}}.tar.json"),
    log:
        f"{RESULTS}/logs/pack/{{category}}/tar_{{first}}-{{last}}.log",
    params:
        number=lambda w: int(w.first) // PACK["files_per_tarball"],
        files_dir=lambda w: f"{PACK_WORK}/{w.category}/files",
    resources:
        mem_mb=int(RES["pack_tarball"]["mem_mb"]),
        runtime=int(RES["pack_tarball"]["runtime"]),
    conda:
        SOFTWARE
    shell:
        "python -m jetclass2.packing tarball {input.plan} --number {params.number} --files-dir {params.files_dir} -o {output.tar} > {log} 2>&1"


rule pack_finalize:
    """Manifest and conservation check; the new dataset of the category is swapped in atomically."""
    input:
        plan=rules.pack_plan.output[0],
        files=_packed_files,
        tarballs=_tarballs,
    output:
        f"{DATASET}/{{category}}.manifest.json",
    log:
        f"{RESULTS}/logs/pack/{{category}}/finalize.log",
    params:
        work=lambda w: f"{PACK_WORK}/{w.category}",
    threads: int(RES["pack_finalize"]["threads"])  # SHA-256 of every file before the swap
    resources:
        mem_mb=int(RES["pack_finalize"]["mem_mb"]),
        runtime=int(RES["pack_finalize"]["runtime"]),
    conda:
        SOFTWARE
    # once the category is live, no job needs its shards, gathered files or tarballs: they go here and
    # not only through temp(), whose clean-up a killed snakemake never does (a recovery run skips this job)
    shell:
        f"python -m jetclass2.packing finalize {{input.plan}} --work {{params.work}} --outdir {DATASET} --jobs {{threads}} > {{log}} 2>&1 && "
        "rm -rf {params.work}/scatter {params.work}/files {params.work}/tar"


rule verify_category:
    """Every file of a category against its manifest (size, SHA-256, jet and label counts)."""
    input:
        f"{DATASET}/{{category}}.manifest.json",
    output:
        f"{DATASET}/.verified/{{category}}.json",
    log:
        f"{RESULTS}/logs/verify/{{category}}.log",
    threads: int(RES["verify_category"]["threads"])
    resources:
        mem_mb=int(RES["verify_category"]["mem_mb"]),
        runtime=int(RES["verify_category"]["runtime"]),
    conda:
        SOFTWARE
    shell:
        f"python -m jetclass2.packing verify {DATASET} --categories {{wildcards.category}} --jobs {{threads}} --stamp {{output}} > {{log}} 2>&1"


rule verify_dataset:
    """The whole dataset verified (training's input): re-hashes only files changed since their category's check."""
    input:
        [f"{DATASET}/.verified/{c}.json" for c in ALL_CATEGORIES],
    output:
        VERIFIED,
    log:
        f"{RESULTS}/logs/verify/dataset.log",
    threads: int(RES["verify_dataset"]["threads"])
    resources:
        mem_mb=int(RES["verify_dataset"]["mem_mb"]),
        runtime=int(RES["verify_dataset"]["runtime"]),
    conda:
        SOFTWARE
    shell:
        f"python -m jetclass2.packing verify {DATASET} --categories {' '.join(ALL_CATEGORIES)} --since {{input}} --jobs {{threads}} "
        "--stamp {output} > {log} 2>&1"
