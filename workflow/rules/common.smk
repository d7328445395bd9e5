import os

RESULTS = config["results"]
SAMPLES = config["samples"]


def category_of(sample):
    return sample.split("_", 1)[0]


# `--config categories=[QCD]` restricts the run (and the default target) to some categories
ALL_CATEGORIES = sorted({category_of(s) for s in SAMPLES})
CATEGORIES = config.get("categories", ALL_CATEGORIES)
for _c in CATEGORIES:
    if _c not in ALL_CATEGORIES:
        raise ValueError(f"config: unknown category {_c!r} (configured: {ALL_CATEGORIES})")


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
