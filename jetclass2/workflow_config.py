"""The workflow configuration, checked when Snakemake builds the DAG (``snakemake -n`` included).

:func:`coerce` types the values that ``--config`` leaves as strings, as the schema says;
:func:`validate` checks the schema (unknown keys included) with a one-line error; :func:`check_overrides`
refuses ``--config`` values that Snakemake would merge away; :func:`plan` checks every file the configuration names (samples, cards, ntuplizer settings,
pile-up library size) and returns what the rules need: each sample's category and QCD-label
flag, and the files that shape each job's output (the rules' ``input:``). A problem raises
:class:`ConfigError` with the config key and the file, so it stops the dry run, not a job
hours later.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .resources import resolve

#: The Pythia settings every generation job and the pile-up library read first (jetclass2.generation.samples).
COMMON_PYTHIA_CARD = "cards/pythia/common.cmnd"
#: Container backend: the Delphes card that turns Pythia minimum-bias events into the pile-up file.
PILEUP_CONVERTER_CARD = "cards/delphes/pileup_converter.tcl"
_INCLUDE = re.compile(r"^\s*#include\s+(\S+)")


class ConfigError(ValueError):
    """A configuration that cannot produce the dataset: names the key and the file."""


# --------------------------------------------------------------------------------------------
# typing of --config values


def _allows_string(schema: dict) -> bool:
    types = schema.get("type")
    if types is None and "enum" not in schema:
        return True  # untyped: leave as given
    types = [types] if isinstance(types, str) else list(types or [])
    return "string" in types or any(isinstance(v, str) for v in schema.get("enum", []))


def coerce(value, schema: dict):
    """``value`` with strings read as YAML where ``schema`` expects no string.

    Snakemake parses nested ``--config`` values with YAML's base loader, which keeps every
    scalar a string (``pack={split: [4, 1, 1]}`` gives ``['4', '1', '1']``).
    """
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {k: coerce(v, props.get(k, extra if isinstance(extra, dict) else {})) for k, v in value.items()}
    if isinstance(value, list):
        items = schema.get("items", {})
        return [coerce(v, items if isinstance(items, dict) else {}) for v in value]
    if isinstance(value, str) and not _allows_string(schema):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        return value if isinstance(parsed, str) else parsed
    return value


def validate(config: dict, schema: dict) -> None:
    """Raise :class:`ConfigError` naming the key if ``config`` breaks ``schema`` (JSON Schema)."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        hint = error.schema.get("description") if isinstance(error.schema, dict) else None
        raise ConfigError(f"config {where}: {error.message}" + (f" ({hint})" if hint else ""))


def check_overrides(overrides, where: str = "") -> None:
    """Refuse an empty mapping given with ``--config`` (``samples={}``): Snakemake merges it into
    the config file's mapping, which then stands unchanged, so the request would be ignored."""
    for key, value in (overrides or {}).items():
        name = f"{where}.{key}" if where else str(key)
        if isinstance(value, dict):
            if not value:
                raise ConfigError(f"config {name}: --config gives an empty mapping, which Snakemake merges into the "
                                  "config file's (nothing is removed); give the whole section in a --configfile")
            check_overrides(value, name)


# --------------------------------------------------------------------------------------------
# files named by the configuration


def _existing(path, key: str, what: str) -> str:
    """``path`` resolved as the jobs resolve it (working directory, else the shipped copy)."""
    if path is None or str(path).strip() == "":
        raise ConfigError(f"config {key}: no {what} given")
    p = resolve(path)
    if not p.is_file():
        raise ConfigError(f"config {key}: {what} {path} not found")
    return str(p)


def _read_yaml(path: str, key: str, what: str) -> dict:
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config {key}: cannot read {what} {path} ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config {key}: {what} {path} is not a YAML mapping")
    return data


def pythia_card_files(card, key: str) -> list[str]:
    """A Pythia card and the cards it ``#include``s (relative to its directory), recursively."""
    path = _existing(card, key, "Pythia card")
    files = [path]
    for line in Path(path).read_text().splitlines():
        m = _INCLUDE.match(line)
        if m:
            files += pythia_card_files(str(Path(path).parent / m.group(1)), f"{key} (#include in {path})")
    return files


def _container_cards(info: dict, key: str) -> list[str]:
    """The cards a sample's container-backend job reads: MadGraph process/launch cards, the Pythia
    card of each batch (LHE shower or Pythia alone) and the decay tables, ``#include``s followed."""
    files = []
    cards = {**(info.get("container") or {}), **{f"madgraph.{k}": v for k, v in (info.get("madgraph") or {}).items()}}
    if info.get("decay_card"):
        cards["decay_card"] = info["decay_card"]
    for part, card in cards.items():
        if "madgraph" in part:
            files.append(_existing(card, f"{key}.{part}", "MadGraph card"))
        else:
            files += pythia_card_files(card, f"{key}.{part}")
    return files


@dataclass
class Plan:
    """What the rules need from a checked configuration."""

    samples: dict[str, dict]             # workflow sample -> {jobs, events_per_job}
    category: dict[str, str]             # sample -> dataset category (samples.yaml `category:`)
    qcd_labels: dict[str, bool]          # sample -> ntuplize with QCD labels
    all_categories: list[str]
    categories: list[str]                # the categories this run produces
    samples_config: str
    ntuplizer_config: str
    detector_card: str | None            # embedded backend
    delphes_card: str | None             # container backend: the Delphes card ...
    pileup_converter_card: str | None    # ... and the converter card of its pile-up file
    generate_inputs: dict[str, list[str]] = field(default_factory=dict)  # sample -> files shaping its jobs
    pileup_cards: list[str] = field(default_factory=list)               # cards of the pile-up library / file
    events_per_grid_point: int = 100     # the samples file's (container backend: runtime requests)


def _sample_kind(info: dict) -> str:
    """``kind`` of a samples.yaml entry; entries without one are resonance samples if they name a resonance."""
    return str(info.get("kind", "resonance" if "resonance" in info else "qcd"))


def plan(config: dict, apptainer: bool = False) -> Plan:
    """Check the files the (schema-valid) ``config`` names; raise :class:`ConfigError` on the first problem.

    ``apptainer``: jobs run in their containers (``--use-apptainer``): a local image must exist.
    """
    gen, det, ntp = config["generation"], config["detector"], config["ntuplizer"]
    results = Path(config["results"])
    if results.exists() and not results.is_dir():
        raise ConfigError(f"config results: {config['results']} is a file, not a directory (the outputs go there)")
    backend = gen["backend"]
    samples_config = _existing(gen["samples_config"], "generation.samples_config", "samples file")
    scfg = _read_yaml(samples_config, "generation.samples_config", "samples file")
    known = scfg.get("samples") or {}
    category, qcd, inputs = {}, {}, {}
    delphes_card = converter_card = None
    if backend == "container":
        container = config.get("container") or {}
        delphes_card = _existing(container.get("delphes_card"), "container.delphes_card", "Delphes card")
        converter_card = _existing(PILEUP_CONVERTER_CARD, "container (pile-up file)", "Delphes converter card")
        image = container.get("image")
        if apptainer and image and "://" not in image:
            _existing(image, "container.image", "generation container image (containers/generation.def)")
    common = pythia_card_files(COMMON_PYTHIA_CARD, f"{samples_config}: (common Pythia settings)")
    for sample in config["samples"]:
        if sample not in known:
            raise ConfigError(f"config samples.{sample}: not a sample of {samples_config} (known: {', '.join(known)})")
        info = known[sample] or {}
        if not info.get("category"):
            raise ConfigError(f"config samples.{sample}: {samples_config} gives the sample no category")
        category[sample] = str(info["category"])
        qcd[sample] = _sample_kind(info) == "qcd"
        if backend == "container":
            files = [samples_config, *_container_cards(info, f"{samples_config}: samples.{sample}"), delphes_card]
        else:
            files = [samples_config, *common, *pythia_card_files(info.get("pythia_card"), f"{samples_config}: samples.{sample}.pythia_card")]
            if info.get("decay_card"):
                files += pythia_card_files(info["decay_card"], f"{samples_config}: samples.{sample}.decay_card")
            mode = info.get("embedded_production")
            if mode:  # the hard process of the chosen mode: its Pythia card and Python-process card
                spec = (info.get("embedded_modes") or {}).get(mode) or {}
                key = f"{samples_config}: samples.{sample}.embedded_modes.{mode}"
                files += pythia_card_files(spec.get("pythia_card"), f"{key}.pythia_card")
                if spec.get("process_card"):
                    files.append(_existing(spec["process_card"], f"{key}.process_card", "process card"))
        inputs[sample] = list(dict.fromkeys(files))
    all_categories = sorted(set(category.values()))
    selected = list(config.get("categories") or all_categories)
    unknown = [c for c in selected if c not in all_categories]
    if unknown:
        raise ConfigError(f"config categories: unknown {unknown} (the configured samples give {all_categories})")

    card, pileup_cards = None, []
    pileup_card = (scfg.get("pileup") or {}).get("pythia_card")
    if backend == "container":  # Delphes' pile-up file: Pythia minimum bias through the converter card
        pileup_cards = list(dict.fromkeys([*common, *pythia_card_files(pileup_card, f"{samples_config}: pileup.pythia_card"),
                                           converter_card]))
    if backend == "embedded":
        card = _existing(det["card"], "detector.card", "fast-simulation card")
        cdata = _read_yaml(card, "detector.card", "fast-simulation card")
        min_events = int((cdata.get("pileup") or {}).get("min_library_events", 1))
        if det["pileup_mean"] > 0 and det["pileup_library_events"] < min_events:
            raise ConfigError(f"config detector.pileup_library_events: {det['pileup_library_events']} minimum-bias events "
                              f"are fewer than the {min_events} the card {card} requires (pileup.min_library_events)")
        pileup_cards = list(dict.fromkeys([*common, *pythia_card_files(pileup_card, f"{samples_config}: pileup.pythia_card")]))
        for sample in inputs:
            inputs[sample].append(card)

    ntuplizer_config = _existing(ntp["config"], "ntuplizer.config", "ntuplizer settings")
    ncfg = _read_yaml(ntuplizer_config, "ntuplizer.config", "ntuplizer settings")
    radii = sorted(float(r) for r in (ncfg.get("jet_algorithms") or {}))
    if float(ntp["jet_radius"]) not in radii:
        raise ConfigError(f"config ntuplizer.jet_radius: {ntp['jet_radius']} has no clustering settings in "
                          f"{ntuplizer_config} (jet_algorithms: {radii})")
    return Plan(samples=dict(config["samples"]), category=category, qcd_labels=qcd, all_categories=all_categories,
                categories=selected, samples_config=samples_config, ntuplizer_config=ntuplizer_config,
                detector_card=card, delphes_card=delphes_card, pileup_converter_card=converter_card, generate_inputs=inputs,
                pileup_cards=pileup_cards, events_per_grid_point=int(scfg.get("events_per_grid_point") or 100))
