# The public release (docs/dataset.md): `snakemake --cores 2 release`, not part of the default target.
# The verified dataset -> results/release: {Category}_NNNN.parquet (published schema, ZSTD, row groups of
# release.row_group_jets jets, provenance in the key-value metadata) and the dataset card README.md.
# release-dataset replaces results/release only once the new one is complete; the declared output is
# its summary (Snakemake deletes a job's outputs before running it: never the release itself).
RELEASE = f"{RESULTS}/release"


rule release:
    """The verified dataset in the published layout, with a Hugging Face dataset card."""
    input:
        verified=VERIFIED,
        manifests=[manifest(c) for c in ALL_CATEGORIES],
        # provenance: the generation jobs' grid points and seeds (declared where the rule generate writes them)
        gridpoints=[f"{RESULTS}/delphes/{s}/{j:05d}.root.gridpoints.json" for s in SAMPLES for j in jobs_of(s)] if EMBEDDED else [],
    output:
        f"{RESULTS}/release.json",
    log:
        f"{RESULTS}/logs/release.log",
    params:
        row_group_jets=int((config.get("release") or {}).get("row_group_jets", 10000)),
    resources:
        mem_mb=int(RES["release"]["mem_mb"]),
        runtime=int(RES["release"]["runtime"]),
    conda:
        SOFTWARE
    shell:
        f"release-dataset {DATASET} -o {RELEASE} --row-group-jets {{params.row_group_jets}} "
        f"--provenance-dir {RESULTS}/delphes --categories {' '.join(ALL_CATEGORIES)} > {{log}} 2>&1 "
        f"&& cp {RELEASE}/release.json {{output}}"
