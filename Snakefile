# JetClass-II production workflow: generate -> simulate -> ntuplize -> pack (-> train).
#   snakemake --cores 2                                  embedded default (config/config.yaml)
#   snakemake --cores 2 --config 'categories=[QCD]'      regenerate one category only
#   snakemake --profile slurm --configfile config/jetclass2_full.yaml
from snakemake.utils import validate

configfile: "config/config.yaml"
validate(config, "config/schema.yaml")

include: "workflow/rules/common.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/ntuplize.smk"
include: "workflow/rules/pack.smk"
include: "workflow/rules/qa.smk"
if os.path.exists(os.path.join(workflow.basedir, "workflow/rules/train.smk")):
    include: "workflow/rules/train.smk"


rule all:
    input:
        [manifest(cat) for cat in CATEGORIES],
        QA_TARGETS,
    default_target: True
