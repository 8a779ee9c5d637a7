# Shared wiring: config validation, the results layout, and input functions. No computation here.
import json
import os
import re
import shlex
import sys
from pathlib import Path

# the checkout: this file's folder's grandparent (workflow.basedir is the folder of the outermost Snakefile, another
# one where this workflow is used as a module)
ROOT = Path(workflow.current_basedir).parents[1]
# Snakemake's own process reads the config checks from the checkout: Snakemake alone is installed there (conda users),
# and facebench.config imports only PyYAML, jsonschema and the light name lists (facebench.names, .templates).
sys.path.insert(0, str(ROOT / "workflow"))
from facebench.config import check_paths, validate_config  # noqa: E402

validate_config(config, ROOT / "workflow/schemas/config.schema.yaml")
if workflow.is_main_process:  # a job runs where its inputs were checked, maybe on a node that lacks the others
    check_paths(config)

# The jobs run `python -m facebench` with workflow/ on PYTHONPATH. Exported by every job's shell prefix, which runs
# after a conda env's activation: Snakemake drops PYTHONPATH from --use-conda jobs (so an environment variable set
# here never reached them), and cluster jobs parse this file again. The prefix keeps Snakemake's own bash default.
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(str(ROOT / 'workflow'))}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)
# The one prefix of every input, output, log and benchmark pattern. Commands are given the folders they write as
# derived from their outputs (params: lambda w, output: ...), never a path spelled here, so the workflow runs as a
# Snakemake module with a prefix (`module facebench: ... prefix: "fb"`: every output lands under fb/).
RESULTS = "results"
# Logs: a job's stdout and stderr go to its log file alone (`> {log} 2>&1`): `| tee` showed no live progress bar
# either (stderr is a pipe then), and interleaved parallel jobs; show-failed-logs prints the log of a failed job.
# tracked inputs of the report live in the repository, wherever the workflow is run from (--directory)
PUBLISHED = str(ROOT / config["report"]["published"])
REPORT_TEMPLATE = str(ROOT / "report/templates/index.html.j2")
# the shipped profiles: a seed-table row this profile cannot fill names the one that does (facebench.report.profiles)
SHIPPED_PROFILES = [str(ROOT / "config.yaml")] + sorted(str(p) for p in (ROOT / "config").glob("*.yaml"))


def as_json(obj):
    """A config value as one shell-quoted JSON argument."""
    return shlex.quote(json.dumps(obj, sort_keys=True))


def folder(path):
    """The folder holding an input or output file: where a command reads or writes a whole store or stage."""
    return str(Path(path).parent)


def dataset_spec(w):
    return config["datasets"][w.dataset]


def model_spec(w):
    return config["models"][w.model]


# how a fetched checkpoint is read (rule import_weights), not where it comes from (rule fetch_weights)
CONVERSION_KEYS = ("key_prefix", "rename", "container", "drop", "map")


def weights_source(w):
    """A published model's weights source without its conversion options: changing those reruns the import, not
    the download."""
    return {k: v for k, v in model_spec(w)["weights"].items() if k not in CONVERSION_KEYS}


def template_of(model):
    return config["models"][model]["input"]["template"]


def store(dataset, alignment, template):
    return f"{RESULTS}/aligned/{dataset}/{alignment}/{template}"


def align_landmarks(w):
    """The landmark file an alignment needs (none for a centre crop, nor for the faces an insightface .bin gives
    aligned, method given): its points (method landmarks), or the detector's boxes, which only its landmark file
    carries (method box, landmarks: mtcnn)."""
    spec = config["alignments"][w.alignment]
    if spec["method"] in ("center", "given"):
        return []
    return f"{RESULTS}/landmarks/{w.dataset}/{spec['landmarks']}.tsv"


def align_box_options(w):
    """The align command's --margin and --size, for a box alignment only."""
    spec = config["alignments"][w.alignment]
    if spec["method"] != "box":
        return ""
    return f"--margin {spec['margin']} --size {spec['size']}"


def experiments():
    """(model, dataset, alignment) for every evaluation listed in config."""
    for entry in config["evaluate"]:
        for alignment in entry["alignments"]:
            yield entry["model"], entry["dataset"], alignment


def metrics_files():
    out = []
    for model, dataset, alignment in experiments():
        base = f"{RESULTS}/metrics/{model}/{dataset}/{alignment}"
        for protocol in config["datasets"][dataset].get("verification", {}):
            for features in config["verification"]["features"]:
                for search in config["verification"]["threshold_search"]:
                    out.append(f"{base}/{protocol}-{features}-{search}.json")
        if config["datasets"][dataset].get("identification"):
            for features in config["verification"]["features"]:
                out.append(f"{base}/rank-{features}.json")
    return out


def dev_threshold_files():
    """The dev-threshold metrics of every evaluated protocol that names a development protocol (its `dev` key). Kept
    out of metrics_files: the report reads those as verify or rank results, these as their own table."""
    out = []
    for model, dataset, alignment in experiments():
        base = f"{RESULTS}/metrics/{model}/{dataset}/{alignment}"
        for protocol, spec in config["datasets"][dataset].get("verification", {}).items():
            if spec.get("dev"):
                for features in config["verification"]["features"]:
                    out.append(f"{base}/{protocol}-{features}-devthreshold.json")
    return out


def dev_protocol(w):
    """The development protocol of a test protocol (datasets.<dataset>.verification.<protocol>.dev)."""
    return config["datasets"][w.dataset]["verification"][w.protocol]["dev"]


def mtcnn_options():
    """The detector's settings from config, as command-line options."""
    m = config["detect"]["mtcnn"]
    return (
        f"--min-face-size {m['min_face_size']} --factor {m['factor']} "
        f"--thresholds {' '.join(str(t) for t in m['thresholds'])} --select {m['select']} "
        f"--batch-size {m['batch_size']} --device {m['device']}"
    )


def landmark_studies():
    """mtcnn-vs-<file> agreement files for every evaluated dataset whose alignments use MTCNN landmarks."""
    out = []
    for model, dataset, alignment in experiments():
        if config["alignments"][alignment].get("landmarks") == "mtcnn":
            for reference in config["datasets"][dataset].get("landmarks", {}):
                out.append(f"{RESULTS}/landmarks/{dataset}/mtcnn-vs-{reference}.json")
    return sorted(set(out))


def provenance(rule_name, **values):
    """What a metrics file records about how it was made (merged into its JSON)."""
    return as_json({"provenance": {"rule": rule_name, "profile": config["profile"], "config": values}})


def eval_protocol_files(w):
    """The evaluation protocol files of a dataset: one pairs TSV per verification protocol, the identification list."""
    spec = config["datasets"][w.dataset]
    files = [f"{RESULTS}/protocols/{w.dataset}/pairs-{p}.tsv" for p in spec.get("verification", {})]
    if spec.get("identification"):
        files.append(f"{RESULTS}/protocols/{w.dataset}/identification.tsv")
    return files


def protocol_files(w):
    """Every protocol file of a dataset: the evaluation ones and the training list (so one aligned-face store
    serves evaluation and training)."""
    spec = config["datasets"][w.dataset]
    files = eval_protocol_files(w)
    if spec.get("training"):
        files.append(f"{RESULTS}/protocols/{w.dataset}/train.tsv")
    return files


DEGRADED = sorted(a for a, spec in config["alignments"].items() if spec["method"] == "degrade")
CUT = sorted(a for a in config["alignments"] if a not in DEGRADED)  # stores cut from images by the align rule


def degrade_source(w):
    """The store a degraded store is made from: the same dataset and template, the source alignment."""
    return store(w.dataset, config["alignments"][w.alignment]["source"], w.template)


def analysis_files():
    """Every analysis output the report shows: kernels per evaluated model, scorer comparisons per protocol,
    distance/clustering statistics where the dataset has an identification list, and CPD for every degrade alignment
    whose source a model is evaluated on."""
    spec, out = config["analysis"], set()
    for model, dataset, alignment in experiments():
        ds = config["datasets"][dataset]
        # an ONNX model's weights are inside its graph, which onnxruntime runs but does not expose: no kernels
        if spec["kernels"] and config["models"][model]["backbone"] != "onnx":
            out.add(f"{RESULTS}/analysis/kernels/{model}.npz")
        if alignment in DEGRADED:
            continue  # the analyses describe a model on its faces as cut; degraded stores feed CPD below
        if spec["scorers"]:
            # a development protocol (another's `dev`) only sets a threshold: no scorer comparison of its own
            devs = {p.get("dev") for p in ds.get("verification", {}).values()}
            for protocol in (p for p in ds.get("verification", {}) if p not in devs):
                out.add(f"{RESULTS}/analysis/scorers/{model}/{dataset}/{alignment}/{protocol}.json")
        if spec["embedding_stats"] and ds.get("identification") and ds.get("verification"):
            out.add(f"{RESULTS}/analysis/embedding-stats/{model}/{dataset}/{alignment}.json")
        if spec["cpd"]:
            for degraded in DEGRADED:
                if config["alignments"][degraded]["source"] == alignment:
                    out.add(f"{RESULTS}/analysis/cpd/{model}/{dataset}/{alignment}-vs-{degraded}.json")
    return sorted(out)


def threshold_metrics(w):
    """The metrics file whose verification threshold cuts a model's clustering: its first protocol, plain features,
    the first threshold search of config."""
    protocol = next(iter(config["datasets"][w.dataset]["verification"]))
    search = config["verification"]["threshold_search"][0]
    return f"{RESULTS}/metrics/{w.model}/{w.dataset}/{w.alignment}/{protocol}-plain-{search}.json"


def published_roc_files():
    """The published ROC files the report overlays (config report.published_roc), each checked to exist."""
    spec = config["report"]["published_roc"]
    if spec.get("methods") and not spec.get("path"):
        raise ValueError("config key report.published_roc.path: needed when report.published_roc.methods is set")
    files = [Path(spec["path"]) / m for m in spec.get("methods", [])]
    for i, f in enumerate(files):
        if not f.is_file():
            raise ValueError(f"config key report.published_roc.methods[{i}]: no such file {f}")
    return [os.path.abspath(f) for f in files]  # absolute: a module's prefix applies to outputs, not to these


IMPORTED = sorted(m for m, spec in config["models"].items() if "weights" in spec)
TRAINED = sorted(m for m, spec in config["models"].items() if "train" in spec)


def one_of(names):
    """A wildcard pattern matching exactly these names (never empty: a name no config key can have)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def train_store(w):
    """The aligned-face store a model trains on: its training dataset and alignment, at its template."""
    t = config["models"][w.model]["train"]
    return store(t["dataset"], t["alignment"], template_of(w.model))


def train_init(w):
    """The model file whose weights start the run (fine-tuning), or nothing."""
    init = config["models"][w.model]["train"].get("init")
    return [f"{RESULTS}/models/{init}/model.pt"] if init else []


def train_launcher(w):
    """What runs the facebench module: python, or torchrun's data-parallel processes (train.processes > 1). The --
    ends torchrun's options: its parser would take facebench's --log for an abbreviation of its --log-dir."""
    n = config["models"][w.model]["train"].get("processes", 1)
    return "python -m" if n == 1 else f"torchrun --standalone --nproc-per-node {n} -m --"


def train_gpus(w):
    """The train job's gpu resource: one GPU per process, none on CPU."""
    t = config["models"][w.model]["train"]
    return 0 if t["device"] == "cpu" else t.get("processes", 1)


def train_process_threads(w, threads):
    """Torch threads of each training process: the job's threads shared among its processes."""
    return max(1, threads // config["models"][w.model]["train"].get("processes", 1))


def train_validation(w):
    """What a trained model is validated on after every epoch (train.validate): the aligned faces of the pairs, at
    the model's template, and the pairs file; nothing without validation."""
    v = config["models"][w.model]["train"].get("validate")
    if not v:
        return {}
    return {
        "val_faces": f"{store(v['dataset'], v['alignment'], template_of(w.model))}/faces.npy",
        "val_pairs": f"{RESULTS}/protocols/{v['dataset']}/pairs-{v['protocol']}.tsv",
    }


def train_validation_options(w, input):
    """The train command's validation options (the store holding val_faces, the pairs file), or nothing."""
    if not input.get("val_pairs"):
        return ""
    return f"--val-store {Path(input.val_faces).parent} --val-pairs {input.val_pairs}"
