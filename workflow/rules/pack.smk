rule pack:
    """All ntuples of a category -> shuffled {category}_NNNN.root files, tarballs, manifest."""
    input:
        lambda w: ntuples_of_category(w.category),
    output:
        f"{RESULTS}/dataset/{{category}}.manifest.json",
    log:
        f"{RESULTS}/logs/pack/{{category}}.log",
    params:
        outdir=f"{RESULTS}/dataset",
        jets_per_file=config["pack"]["jets_per_file"],
        split=" ".join(map(str, config["pack"]["split"])),
        per_tar=config["pack"]["files_per_tarball"],
        seed=config["seed"],
    resources:
        mem_mb=4000,
        runtime=240,
    shell:
        "pack --category {wildcards.category} --inputs {input} --outdir {params.outdir} "
        "--jets-per-file {params.jets_per_file} --split {params.split} --files-per-tarball {params.per_tar} "
        "--seed {params.seed} > {log} 2>&1"
