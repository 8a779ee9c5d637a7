# facebench: raw datasets -> aligned faces -> embeddings -> metrics -> report/index.html
# Run: snakemake --cores 8            (config.yaml: public downloads)
#      snakemake --cores 2 --configfile config/lfw-local.yaml   (offline, ../shared/data)
from snakemake.utils import min_version

min_version("9.0")


# A --configfile replaces config.yaml instead of being merged into it: a profile is one complete file. Without one,
# config.yaml is read and --config key=value settings are merged into it.
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset=r"[A-Za-z0-9_-]+",
    model=r"[A-Za-z0-9_-]+",
    alignment=r"[A-Za-z0-9_-]+",
    template=r"[A-Za-z0-9_-]+",
    protocol=r"[A-Za-z0-9_-]+",
    features=r"plain|flip-concat|flip-sum",
    search=r"grid|exact",


include: "workflow/rules/data.smk"
include: "workflow/rules/landmarks.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


# Local rules: the ones that download (fetch_dataset, fetch_mtcnn_weights, fetch_weights), since cluster nodes often
# have no network, each marked `localrule: True` in its own rule rather than listed in a `localrules:` directive here:
# the flag follows a rule renamed by `use rule * from facebench as fb_*`, a list of names would not.
rule all:
    input:
        "report/index.html",
