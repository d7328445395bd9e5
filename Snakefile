# JetClass-II production workflow: generate -> simulate -> ntuplize -> pack (-> train).
#   snakemake --cores 2                                  embedded default (config/config.yaml)
#   snakemake --cores 2 --config 'categories=[QCD]'      regenerate one category only
#   snakemake --profile slurm --configfile config/jetclass2_full.yaml
import os

import yaml
from snakemake.exceptions import WorkflowError

from jetclass2 import workflow_config

# A --configfile defines the whole configuration (no merge with the default's samples).
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


with open(os.path.join(workflow.basedir, "config", "schema.yaml")) as _f:
    _SCHEMA = yaml.safe_load(_f)
config.update(workflow_config.coerce(dict(config), _SCHEMA))  # --config leaves nested values as strings
_APPTAINER = any(m.name == "APPTAINER" for m in workflow.deployment_settings.deployment_method)
try:
    workflow_config.check_overrides(dict(workflow.config_settings.config))
    workflow_config.validate(config, _SCHEMA)
    PLAN = workflow_config.plan(config, apptainer=_APPTAINER)
except workflow_config.ConfigError as _exc:
    raise WorkflowError(str(_exc)) from None
if config["generation"]["backend"] == "container":
    # the LHAPDF sets the cards name, looked up where the jobs run: stop here, not at job time
    from jetclass2.generation import pdfsets, samples as _samples

    try:
        pdfsets.check(
            _samples.load_config(PLAN.samples_config),
            (config.get("container") or {}).get("pdf"),
            image=config["container"]["image"] if _APPTAINER else None,
        )
    except (pdfsets.PDFSetError, _samples.GenerationConfigError) as _exc:
        raise WorkflowError(f"config {_exc}") from None


include: "workflow/rules/common.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/ntuplize.smk"
include: "workflow/rules/pack.smk"
include: "workflow/rules/qa.smk"
include: "workflow/rules/release.smk"
if os.path.exists(os.path.join(workflow.basedir, "workflow/rules/train.smk")):

    include: "workflow/rules/train.smk"


rule all:
    input:
        [manifest(cat) for cat in CATEGORIES],
        QA_TARGETS,
    default_target: True
