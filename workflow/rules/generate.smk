# Generation and detector simulation. Every file that shapes a job's output is an input of its
# rule (samples file, Pythia/MadGraph cards with their #includes, detector card, pile-up
# library), so editing one reruns exactly the jobs that read it.
EMBEDDED = config["generation"]["backend"] == "embedded"
_min_pt = config["generation"].get("min_pt")
_PILEUP = config["detector"]["pileup_mean"] > 0
# Wall time of an embedded job per event, for the runtime request: measured 0.026 s on one
# core here (Pythia 16 ms, fast simulation with 50 pile-up 7 ms, writing 3 ms); 8x margin for
# slower nodes and the hardest grid points.
EMBEDDED_SECONDS_PER_EVENT = 0.2


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
        mem_mb=2000,
        runtime=240,
    conda:
        SOFTWARE
    shell:
        "pileup-library --events {params.events} --seed {params.seed} --samples-config {input.samples_config} "
        "-o {output} > {log} 2>&1"


if EMBEDDED:

    rule generate:
        """Pythia 8 + fast detector simulation of one job -> Delphes-format file."""
        input:
            pileup=rules.pileup_library.output[0] if _PILEUP else [],
            settings=lambda w: PLAN.generate_inputs[w.sample],
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
            mem_mb=2000,
            runtime=lambda w: max(30, int(SAMPLES[w.sample]["events_per_job"] * EMBEDDED_SECONDS_PER_EVENT / 60)),
        conda:
            SOFTWARE
        shell:
            "generate --sample {wildcards.sample} --job $((10#{wildcards.job})) --events {params.events} "
            "--seed {params.seed} --samples-config {params.samples_config} --detector-card {params.card} "
            "{params.pileup} --pileup-mean {params.pileup_mean} {params.min_pt} "
            "-o {output.delphes} > {log} 2>&1"

else:

    rule generate:
        """MadGraph5_aMC@NLO -> Pythia 8 -> Delphes (JetClass-II card) in the generation container."""
        input:
            settings=lambda w: PLAN.generate_inputs[w.sample],
        output:
            f"{RESULTS}/delphes/{{sample}}/{{job}}.root",
        log:
            f"{RESULTS}/logs/generate/{{sample}}/{{job}}.log",
        params:
            events=lambda w: SAMPLES[w.sample]["events_per_job"],
            seed=config["seed"],
            samples_config=PLAN.samples_config,
            workdir=lambda w: f"{RESULTS}/work/{w.sample}/{w.job}",
            delphes_card=PLAN.delphes_card,
            pileup=PLAN.delphes_pileup,
        container:
            config["container"]["image"]
        resources:
            mem_mb=4000,
            runtime=1440,
        shell:
            "render-cards --sample {wildcards.sample} --job $((10#{wildcards.job})) --events {params.events} "
            "--seed {params.seed} --samples-config {params.samples_config} -o {params.workdir} > {log} 2>&1 && "
            "run-container-job {wildcards.sample} {params.workdir} {params.delphes_card} {params.pileup} {output} >> {log} 2>&1"
