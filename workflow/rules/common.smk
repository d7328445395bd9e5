# Names shared by the rules, from the checked configuration (PLAN: jetclass2.workflow_config).
RESULTS = config["results"]
SAMPLES = PLAN.samples
ALL_CATEGORIES = PLAN.all_categories
# Software of the jobs that run this project's console scripts: the current environment, or
# with `--sdm conda` an environment built from this checkout (workflow/envs/jetclass2.yaml).
SOFTWARE = "../envs/jetclass2.yaml"
# `--config categories=[QCD]` restricts the run (and the default target) to some categories
CATEGORIES = PLAN.categories


def _resources():
    """Per-rule cluster requests: config/resources.yaml, overridden by the configuration's `resources:`."""
    path = os.path.join(workflow.basedir, "config", "resources.yaml")
    with open(path) as f:
        table = yaml.safe_load(f)
    for rule, values in config.get("resources", {}).items():
        unknown = [rule] if rule not in table else [f"{rule}.{k}" for k in values if k not in table[rule]]
        if unknown:
            known = sorted(table[rule] if rule in table else table)
            raise WorkflowError(f"config resources.{unknown[0]}: not in config/resources.yaml (known: {', '.join(known)})")
        table[rule] = {**table[rule], **values}
    return table


# RES["generate"]["mem_mb"]: what a job of a rule asks a cluster for (memory MB, runtime minutes, threads)
RES = _resources()


def minutes_for(res, events):
    """Runtime request [min] of a job of `events` events: res's per-event term, at least res["runtime"]."""
    return max(int(res["runtime"]), int(events * res["seconds_per_event"] / 60))


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
