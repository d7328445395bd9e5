EMBEDDED = config["generation"]["backend"] == "embedded"
_min_pt = config["generation"].get("min_pt")


rule pileup_library:
    output:
        f"{RESULTS}/pileup/minbias_{config['detector']['pileup_library_events']}.parquet",
    log:
        f"{RESULTS}/logs/pileup_library.log",
    params:
        events=config["detector"]["pileup_library_events"],
        seed=config["seed"],
        samples_config=config["generation"]["samples_config"],
    resources:
        mem_mb=2000,
        runtime=240,
    shell:
        "pileup-library --events {params.events} --seed {params.seed} --samples-config {params.samples_config} "
        "-o {output} > {log} 2>&1"


if EMBEDDED:

    rule generate:
        """Pythia 8 + fast detector simulation of one job -> Delphes-format file."""
        input:
            pileup=rules.pileup_library.output[0],
        output:
            f"{RESULTS}/delphes/{{sample}}/{{job}}.root",
        log:
            f"{RESULTS}/logs/generate/{{sample}}/{{job}}.log",
        params:
            events=lambda w: SAMPLES[w.sample]["events_per_job"],
            seed=config["seed"],
            samples_config=config["generation"]["samples_config"],
            card=config["detector"]["card"],
            pileup_mean=config["detector"]["pileup_mean"],
            min_pt=f"--min-pt {_min_pt}" if _min_pt is not None else "",
        resources:
            mem_mb=2000,
            runtime=lambda w: max(30, SAMPLES[w.sample]["events_per_job"] // 20),
        shell:
            "generate --sample {wildcards.sample} --job $((10#{wildcards.job})) --events {params.events} "
            "--seed {params.seed} --samples-config {params.samples_config} --detector-card {params.card} "
            "--pileup-library {input.pileup} --pileup-mean {params.pileup_mean} {params.min_pt} "
            "-o {output} > {log} 2>&1"

else:

    rule generate:
        """MadGraph5_aMC@NLO -> Pythia 8 -> Delphes (JetClass-II card) in the generation container."""
        output:
            f"{RESULTS}/delphes/{{sample}}/{{job}}.root",
        log:
            f"{RESULTS}/logs/generate/{{sample}}/{{job}}.log",
        params:
            events=lambda w: SAMPLES[w.sample]["events_per_job"],
            seed=config["seed"],
            samples_config=config["generation"]["samples_config"],
            card=config["container"]["delphes_card"],
            pileup=config["container"]["pileup_file"],
            workdir=lambda w: f"{RESULTS}/work/{w.sample}/{w.job}",
        container:
            config["container"]["image"]
        resources:
            mem_mb=4000,
            runtime=1440,
        shell:
            "render-cards --sample {wildcards.sample} --job $((10#{wildcards.job})) --events {params.events} "
            "--seed {params.seed} --samples-config {params.samples_config} -o {params.workdir} > {log} 2>&1 && "
            "run-container-job {wildcards.sample} {params.workdir} {params.card} {params.pileup} {output} >> {log} 2>&1"
