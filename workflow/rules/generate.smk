# Generation and detector simulation. Every file that shapes a job's output is an input of its
# rule (samples file, Pythia/MadGraph cards with their #includes, detector card, pile-up
# library), so editing one reruns exactly the jobs that read it.
EMBEDDED = config["generation"]["backend"] == "embedded"
_min_pt = config["generation"].get("min_pt")
_PILEUP = config["detector"]["pileup_mean"] > 0


_check_samples_config()


rule pileup_library:
    """Minimum-bias events for the pile-up overlay, generated once."""
    input:
        samples_config=PLAN.samples_config,
        cards=PLAN.pileup_cards,
    output:
        f"{RESULTS}/pileup/minbias_{config['detector']['pileup_library_events']}.parquet",
    log:
        f"{RESULTS}/logs/pileup_library.log",
    params:
        events=config["detector"]["pileup_library_events"],
        seed=config["seed"],
    resources:
        mem_mb=int(RES["pileup_library"]["mem_mb"]),
        runtime=minutes_for(RES["pileup_library"], config["detector"]["pileup_library_events"]),
    conda:
        SOFTWARE
    shell:
        "pileup-library --events {params.events} --seed {params.seed} --samples-config {input.samples_config} "
        "-o {output} > {log} 2>&1"


rule warm_kernels:
    """Compile the numba kernels once into the production's cache (NUMBA_CACHE_DIR), before any job needs them."""
    output:
        f"{NUMBA_CACHE}/warm.ok",
    log:
        f"{RESULTS}/logs/warm_kernels.log",
    params:
        samples_config=PLAN.samples_config,
    resources:
        mem_mb=int(RES["warm_kernels"]["mem_mb"]),
        runtime=int(RES["warm_kernels"]["runtime"]),
    conda:
        SOFTWARE
    shell:
        "warm-kernels --samples-config {params.samples_config} -o {output} > {log} 2>&1"


if EMBEDDED:

    rule generate:
        """Pythia 8 + fast detector simulation of one job -> Delphes-format file."""
        input:
            pileup=rules.pileup_library.output[0] if _PILEUP else [],
            settings=lambda w: PLAN.generate_inputs[w.sample],
            kernels=KERNELS,
        output:
            delphes=f"{RESULTS}/delphes/{{sample}}/{{job}}.root",
            # provenance: the job's grid points (one per batch of events) and their seeds
            gridpoints=f"{RESULTS}/delphes/{{sample}}/{{job}}.root.gridpoints.json",
        log:
            f"{RESULTS}/logs/generate/{{sample}}/{{job}}.log",
        params:
            events=lambda w: SAMPLES[w.sample]["events_per_job"],
            seed=config["seed"],
            samples_config=PLAN.samples_config,
            card=PLAN.detector_card,
            pileup_mean=config["detector"]["pileup_mean"],
            pileup=lambda w, input: f"--pileup-library {input.pileup}" if _PILEUP else "",
            min_pt=f"--min-pt {_min_pt}" if _min_pt is not None else "",
        resources:
            mem_mb=int(RES["generate"]["mem_mb"]),
            runtime=lambda w: minutes_for(RES["generate"], SAMPLES[w.sample]["events_per_job"]),
        conda:
            SOFTWARE
        shell:
            "generate --sample {wildcards.sample} --job $((10#{wildcards.job})) --events {params.events} "
            "--seed {params.seed} --samples-config {params.samples_config} --detector-card {params.card} "
            "{params.pileup} --pileup-mean {params.pileup_mean} {params.min_pt} "
            "-o {output.delphes} > {log} 2>&1"

else:
    # Container backend (docs/container.md): MadGraph5_aMC@NLO -> Pythia 8 -> Delphes 3.5.0, run by
    # containers/run-container-job from this checkout (its code and cards, not the image's copy), in
    # the generation image with --use-apptainer, natively when the stack's setup.sh is sourced.
    _CONTAINER = config["container"]
    _DRIVER = f"bash {workflow.basedir}/containers/run-container-job"
    _PDF = f"--pdf {_CONTAINER['pdf']}" if _CONTAINER.get("pdf") else ""
    _EPG = _CONTAINER.get("events_per_grid_point")
    _BATCH = f"--events-per-grid-point {_EPG}" if _EPG else ""
    _OUTPUTS = f"--delphes-outputs {_CONTAINER.get('delphes_outputs', 'ntuples')}" + (
        " --delphes-per-batch" if _CONTAINER.get("delphes_program", "batches") == "per_batch" else "")
    _DELPHES_PILEUP = f"{RESULTS}/pileup/MinBias_{config['detector']['pileup_library_events']}.pileup"
    _RES_CONTAINER = RES["generate_container"]

    rule delphes_pileup:
        """Delphes' pile-up file: Pythia SoftQCD:inelastic -> DelphesPythia8 -> root2pileup, generated once."""
        input:
            samples_config=PLAN.samples_config,
            cards=PLAN.pileup_cards,
            converter=PLAN.pileup_converter_card,
        output:
            _DELPHES_PILEUP,
        log:
            f"{RESULTS}/logs/delphes_pileup.log",
        params:
            events=config["detector"]["pileup_library_events"],
            seed=config["seed"],
            workdir=f"{RESULTS}/work/delphes_pileup",
            driver=_DRIVER,
        container:
            _CONTAINER["image"]
        resources:
            mem_mb=int(RES["delphes_pileup"]["mem_mb"]),
            runtime=minutes_for(RES["delphes_pileup"], config["detector"]["pileup_library_events"]),  # measured 8 ms CPU per event
        shell:
            "{params.driver} pileup --events {params.events} --seed {params.seed} --samples-config {input.samples_config} "
            "--converter-card {input.converter} --workdir {params.workdir} -o {output} > {log} 2>&1"

    rule generate:
        """MadGraph5_aMC@NLO (per batch) -> Pythia 8 -> Delphes (JetClass-II card, pile-up file) of one job."""
        input:
            settings=lambda w: PLAN.generate_inputs[w.sample],
            pileup=_DELPHES_PILEUP,
        output:
            f"{RESULTS}/delphes/{{sample}}/{{job}}.root",
        log:
            f"{RESULTS}/logs/generate/{{sample}}/{{job}}.log",
        params:
            events=lambda w: SAMPLES[w.sample]["events_per_job"],
            seed=config["seed"],
            samples_config=PLAN.samples_config,
            delphes_card=PLAN.delphes_card,
            pileup_mean=config["detector"]["pileup_mean"],
            workdir=lambda w: f"{RESULTS}/work/{w.sample}/{w.job}",
            driver=_DRIVER,
            options=f"{_PDF} {_BATCH} {_OUTPUTS}",
        threads: _CONTAINER.get("threads", 1)
        container:
            _CONTAINER["image"]
        resources:
            mem_mb=int(_RES_CONTAINER["mem_mb"]),
            runtime=container_runtime,  # common.smk
        shell:
            "{params.driver} generate --sample {wildcards.sample} --job $((10#{wildcards.job})) --events {params.events} "
            "--seed {params.seed} --samples-config {params.samples_config} {params.options} "
            "--delphes-card {params.delphes_card} --pileup {input.pileup} --pileup-mean {params.pileup_mean} "
            "--cores {threads} --workdir {params.workdir} -o {output} > {log} 2>&1"
