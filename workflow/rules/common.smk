# Names shared by the rules, from the checked configuration (PLAN: jetclass2.workflow_config).
RESULTS = config["results"]
SAMPLES = PLAN.samples
ALL_CATEGORIES = PLAN.all_categories
# Software of the jobs that run this project's console scripts: the current environment, or
# with `--sdm conda` an environment built from this checkout (workflow/envs/jetclass2.yaml).
SOFTWARE = "../envs/jetclass2.yaml"
# Compiled numba kernels: one cache per production, found by every job (a shared file system on a
# cluster); NUMBA_CACHE_DIR set here reaches local jobs and, as Slurm exports the environment, cluster
# jobs. A NUMBA_CACHE_DIR set by the user wins. The stamp is an existence-only input (ancient): warming
# the cache again never reruns a job.
NUMBA_CACHE = os.environ.setdefault(
    "NUMBA_CACHE_DIR", os.path.abspath(config.get("numba_cache") or os.path.join(RESULTS, ".numba_cache"))
)
KERNELS = ancient(f"{NUMBA_CACHE}/warm.ok")
# `--config categories=[QCD]` restricts the run (and the default target) to some categories
CATEGORIES = PLAN.categories


def _resources():
    """Cluster requests per rule: config/resources.yaml, overridden by the `resources` section of the configuration."""
    path = os.path.join(workflow.basedir, "config", "resources.yaml")
    with open(path) as f:
        table = yaml.safe_load(f)
    for name, values in config.get("resources", {}).items():
        unknown = [name] if name not in table else [f"{name}.{k}" for k in values if k not in table[name]]
        if unknown:
            known = sorted(table[name] if name in table else table)
            raise WorkflowError(f"config resources.{unknown[0]}: not in config/resources.yaml (known: {', '.join(known)})")
        table[name] = {**table[name], **values}
    return table


# RES["generate"]["mem_mb"]: what each job of the rule asks a cluster for (memory MB, runtime minutes, threads)
RES = _resources()


def minutes_for(res, events):
    """Runtime request [min] of a job of `events` events: res's per-event term, at least res["runtime"]."""
    return max(int(res["runtime"]), int(events * res["seconds_per_event"] / 60))


def container_runtime(w):
    """Minutes requested for a container-backend job: Pythia + Delphes per event, MadGraph per job and per
    batch (not QCD). Time of a job on one core from config/resources.yaml (benchmarks/bench_real_chain.py,
    docs/container.md): MadGraph process output once per job, a MadGraph launch per batch whatever its
    size, Pythia + Delphes with 50 pile-up per event."""
    res = RES["generate_container"]
    events = SAMPLES[w.sample]["events_per_job"]
    batches = -(-events // (config["container"].get("events_per_grid_point") or PLAN.events_per_grid_point))
    minutes = events * res["seconds_per_event"] / 60
    if not PLAN.qcd_labels[w.sample]:  # resonant samples run MadGraph
        minutes += res["minutes_per_job"] + batches * res["minutes_per_batch"]
    return max(int(res["runtime"]), int(minutes))


def category_of(sample):
    """The dataset category of a sample (`category:` in the samples file)."""
    return PLAN.category[sample]


def jobs_of(sample):
    return range(SAMPLES[sample]["jobs"])


def ntuples_of_category(cat):
    return [f"{RESULTS}/ntuples/{s}/{j:05d}.root" for s in SAMPLES if category_of(s) == cat for j in jobs_of(s)]


def manifest(cat):
    return f"{RESULTS}/dataset/{cat}.manifest.json"


wildcard_constraints:
    sample="|".join(SAMPLES),
    job=r"\d{5}",
    category="|".join(ALL_CATEGORIES),
