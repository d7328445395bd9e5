rule ntuplize:
    """Delphes-format file -> JetClass-II jet ntuple (QCD labels for samples of kind qcd)."""
    input:
        delphes=f"{RESULTS}/delphes/{{sample}}/{{job}}.root",
        settings=PLAN.ntuplizer_config,
        kernels=KERNELS,
    output:
        f"{RESULTS}/ntuples/{{sample}}/{{job}}.root",
    log:
        f"{RESULTS}/logs/ntuplize/{{sample}}/{{job}}.log",
    params:
        radius=config["ntuplizer"]["jet_radius"],
        qcd=lambda w: "--qcd-labels" if PLAN.qcd_labels[w.sample] else "",
    resources:
        mem_mb=int(RES["ntuplize"]["mem_mb"]),
        runtime=lambda w: minutes_for(RES["ntuplize"], SAMPLES[w.sample]["events_per_job"]),
    conda:
        SOFTWARE
    shell:
        "ntuplize {input.delphes} -o {output} --config {input.settings} --jet-radius {params.radius} {params.qcd} "
        "> {log} 2>&1"
