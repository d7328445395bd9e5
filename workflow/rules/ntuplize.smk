rule ntuplize:
    """Delphes-format file -> JetClass-II jet ntuple (QCD labels for the QCD sample)."""
    input:
        f"{RESULTS}/delphes/{{sample}}/{{job}}.root",
    output:
        f"{RESULTS}/ntuples/{{sample}}/{{job}}.root",
    log:
        f"{RESULTS}/logs/ntuplize/{{sample}}/{{job}}.log",
    params:
        config=config["ntuplizer"]["config"],
        radius=config["ntuplizer"]["jet_radius"],
        qcd=lambda w: "--qcd-labels" if category_of(w.sample) == "QCD" else "",
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "ntuplize {input} -o {output} --config {params.config} --jet-radius {params.radius} {params.qcd} > {log} 2>&1"
