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
NUMBA_CACHE = config.get("numba_cache") or os.path.join(RESULTS, ".numba_cache")
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.abspath(NUMBA_CACHE))
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
    docs/container.md): MadGraph process output and first compilation once per job, a MadGraph launch per
    batch whatever its size (in sessions, recompiling only what the batch's cards change), Pythia + Delphes
    with 50 pile-up per event."""
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


def _category_ntuples(cat):
    return [f"{RESULTS}/ntuples/{s}/{j:05d}.root" for s in SAMPLES if category_of(s) == cat for j in jobs_of(s)]


def ntuples_of_category(cat):
    """A category's ntuples in the packing plan's order: train jobs, then val, then test (pack.split per sample)."""
    return _pack_order(cat)[0]


def manifest(cat):
    return f"{RESULTS}/dataset/{cat}.manifest.json"


wildcard_constraints:
    sample="|".join(SAMPLES),
    job=r"\d{5}",
    category="|".join(ALL_CATEGORIES),


def _check_samples_config():
    """The samples file against its schema and its grids (e.g. a Y mass grid leaving an X mass without Y): at the dry run."""
    from jetclass2.generation.samples import GenerationConfigError, load_config

    try:
        load_config(PLAN.samples_config)
    except GenerationConfigError as exc:
        raise WorkflowError(f"config generation.samples_config: {exc}") from None


def _check_job_splits():
    """Every split of every category gets at least one generation job (the splits are made of whole jobs)."""
    from jetclass2.packing.plan import SPLITS, job_splits

    per_sample = PACK.get("sample_split") or {}
    for s in per_sample:
        if s not in SAMPLES:
            raise WorkflowError(f"config pack.sample_split.{s}: not a sample of this configuration (samples: {', '.join(SAMPLES)})")
    for cat in ALL_CATEGORIES:
        members = [s for s in SAMPLES if category_of(s) == cat]
        got = {name: 0 for name in SPLITS}
        for s in members:
            for name in job_splits(SAMPLES[s]["jobs"], per_sample.get(s, PACK["split"])):
                got[name] += 1
        for k, name in enumerate(SPLITS):
            if got[name] == 0 and any(per_sample.get(s, PACK["split"])[k] > 0 for s in members):
                jobs = ", ".join(f"{s}: {SAMPLES[s]['jobs']} jobs" for s in members)
                raise WorkflowError(f"config pack.split: category {cat} gets no {name} job: splits are made of whole "
                                    f"generation jobs ({jobs}; split {list(PACK['split'])} of each sample's jobs); "
                                    f"configure more jobs or other weights (pack.split, pack.sample_split)")
