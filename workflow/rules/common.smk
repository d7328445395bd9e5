# Names shared by the rules, from the checked configuration (PLAN: jetclass2.workflow_config).
RESULTS = config["results"]
SAMPLES = PLAN.samples
ALL_CATEGORIES = PLAN.all_categories
# Software of the jobs that run this project's console scripts: the current environment, or
# with `--sdm conda` an environment built from this checkout (workflow/envs/jetclass2.yaml).
SOFTWARE = "../envs/jetclass2.yaml"
# `--config categories=[QCD]` restricts the run (and the default target) to some categories
CATEGORIES = PLAN.categories


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
