# Dataset QA (docs/packing.md): per category PASS/WARN/FAIL checks and plots, one summary page.
# `snakemake --report report.html` puts them on one HTML page.
QA = config.get("qa", {})
QA_DIR = f"{RESULTS}/qa"
QA_PLOTS = ["labels", "kinematics", "mass", "constituents", "reference", "grid"]  # jetclass2.jetdata.qa_plots.PLOTS
QA_TARGETS = [f"{QA_DIR}/summary.html"]


rule qa_category:
    """Checks and plots of one packed category (after its verification against the manifest)."""
    input:
        manifest=f"{DATASET}/{{category}}.manifest.json",
        verified=f"{DATASET}/.verified/{{category}}.json",
    output:
        summary=f"{QA_DIR}/{{category}}/summary.json",
        plots=[report(f"{QA_DIR}/{{category}}/{p}.png", caption=f"../report/qa_{p}.rst", category="Dataset QA",
                      subcategory="{category}") for p in QA_PLOTS],
    log:
        f"{RESULTS}/logs/qa/{{category}}.log",
    params:
        outdir=lambda w, output: os.path.dirname(os.path.dirname(output.summary)),  # QA_DIR
        reference=QA.get("reference", "../shared/reference/jetclass2/jetclass2_sample_100jets.parquet"),
        max_jets=QA.get("max_jets", 200000),
        min_jets=QA.get("min_jets_all_labels", 1000000),
        samples_config=config["generation"]["samples_config"],
    resources:
        mem_mb=int(RES["qa_category"]["mem_mb"]),
        runtime=int(RES["qa_category"]["runtime"]),
    conda:
        SOFTWARE
    shell:
        f"python -m jetclass2.jetdata.qa {DATASET} --outdir {{params.outdir}} --categories {{wildcards.category}} "
        f"--provenance-dir {RESULTS}/delphes --reference {{params.reference}} --samples-config {{params.samples_config}} "
        "--max-jets {params.max_jets} --min-jets-all-labels {params.min_jets} > {log} 2>&1"


localrules:
    qa_summary,  # joins the categories' summaries into one page: no cluster job


rule qa_summary:
    """One page: overall PASS/WARN/FAIL, every check and plot (embedded) of every category. The categories of
    this run are inputs; the page also keeps every other category of the dataset whose QA an earlier run
    wrote (`--config categories=[QCD]` reruns QCD and keeps the others on the page)."""
    input:
        [f"{QA_DIR}/{c}/summary.json" for c in CATEGORIES],
        [f"{QA_DIR}/{c}/{p}.png" for c in CATEGORIES for p in QA_PLOTS],
    output:
        report(f"{QA_DIR}/summary.html", caption="../report/qa_summary.rst", category="Dataset QA", subcategory="Summary"),
    log:
        f"{RESULTS}/logs/qa/summary.log",
    params:
        outdir=lambda w, output: os.path.dirname(output[0]),  # QA_DIR
        categories=" ".join(CATEGORIES),
    conda:
        SOFTWARE
    shell:
        f"python -m jetclass2.jetdata.qa {DATASET} --outdir {{params.outdir}} --categories {{params.categories}} --summary-only > {{log}} 2>&1"
