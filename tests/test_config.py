"""Config validation: the schema fills defaults and every error names the key."""
from __future__ import annotations

import copy

import pytest
import yaml
from facebench.config import ConfigError, check_paths, validate_config

SCHEMA = "workflow/schemas/config.schema.yaml"


@pytest.fixture()
def smoke(root):
    return yaml.safe_load((root / "config/smoke.yaml").read_text())


@pytest.fixture(autouse=True)
def in_root(root, monkeypatch):
    monkeypatch.chdir(root)


def test_every_shipped_profile_is_valid(root):
    for path in [root / "config.yaml", *sorted((root / "config").glob("*.yaml"))]:
        validate_config(yaml.safe_load(path.read_text()), SCHEMA)


def test_defaults_are_filled(smoke):
    cfg = validate_config(smoke, SCHEMA)
    assert cfg["embed"] == {"batch_size": 16, "gpu_batch_size": 256, "device": "auto", "threads": 2}
    assert cfg["verification"]["threshold_search"] == ["grid", "exact"]
    assert cfg["alignments"]["center"] == {"method": "center"}
    assert cfg["detect"]["mtcnn"]["factor"] == 0.709
    assert cfg["detect"]["mtcnn"]["select"] == "central"


@pytest.mark.parametrize("edit,match", [
    (lambda c: c.setdefault("embed", {}).update(batch_size="big"), r"config key embed.batch_size: 'big' is not of "
                                                                   r"type 'integer'"),
    (lambda c: c.setdefault("embed", {}).update(batch_size=0), r"config key embed.batch_size: 0 is less than"),
    (lambda c: c["models"]["pretrained"].update(backbone="resnet9000"), r"models.pretrained.backbone: unknown "
                                                                        r"backbone 'resnet9000'"),
    (lambda c: c["models"]["pretrained"]["weights"].update(sha256="xyz"), r"models.pretrained.weights.sha256"),
    (lambda c: c["datasets"]["lfw"]["images"].pop("path"), r"datasets.lfw.images: needs exactly one of \['path', "
                                                           r"'pip', 'url'\]"),
    (lambda c: c["evaluate"][0].update(model="nope"), r"evaluate.0.model: 'nope' is not a key of models"),
    (lambda c: c["evaluate"][0].update(alignments=["dlib"]), r"evaluate.0.alignments: 'dlib' is not a key of "
                                                             r"alignments"),
    (lambda c: c.pop("detect"), r"evaluate.0.alignments: 'mtcnn' uses MTCNN landmarks, but config key detect.mtcnn"),
    (lambda c: c["detect"]["mtcnn"].update(factor=1.5), r"config key detect.mtcnn.factor: 1.5 is greater than or "
                                                        r"equal to the maximum"),
    (lambda c: c["detect"]["mtcnn"].update(select="biggest"), r"config key detect.mtcnn.select: 'biggest' is not "
                                                              r"one of"),
    (lambda c: c["detect"]["mtcnn"]["weights"].pop("onet"), r"config key detect.mtcnn.weights: 'onet' is a "
                                                            r"required property"),
    (lambda c: c["datasets"]["lfw"]["landmarks"].update(mtcnn={"path": "x.txt"}), r"datasets.lfw.landmarks.mtcnn: "
                                                                                  r"the name is reserved"),
    (lambda c: c.update(colour="red"), r"Additional properties are not allowed \('colour' was unexpected\)"),
    (lambda c: c.setdefault("verification", {}).update(far=[-0.1]), r"verification.far.0: -0.1 is less than or "
                                                                     r"equal to the minimum"),
    (lambda c: c["datasets"]["lfw"]["verification"]["view2"].update(pairs="pairsX"), r"view2.pairs: 'pairsX' is "
                                                                                      r"not a key"),
    (lambda c: c["models"]["softmax"]["train"].update(loss="hingeface"), r"config key models.softmax.train.loss: "
                                                                           r"unknown loss 'hingeface'; registered: "),
    (lambda c: c["models"]["softmax"]["train"].update(lr=-0.1), r"config key models.softmax.train.lr: -0.1 is less "
                                                                r"than or equal to the minimum of 0"),
    (lambda c: c["models"]["arcface"]["train"].update(loss_args={"margin": 0.5}), r"models.arcface.train.loss_args: "
                                                                                  r"loss 'arcface' has no option "
                                                                                  r"'margin'"),
    (lambda c: c["models"]["softmax"]["train"].update(dataset="casia"), r"models.softmax.train.dataset: 'casia' is "
                                                                        r"not a key of datasets"),
    (lambda c: c["datasets"]["lfw"].pop("training"), r"models.softmax.train.dataset: datasets.lfw has no training "
                                                      r"list"),
    (lambda c: c["models"]["softmax"]["train"].update(init="softmax"), r"models.softmax.train.init: 'softmax' is not "
                                                                       r"another key of models"),
    (lambda c: c["models"]["softmax"]["train"].update(schedule={"kind": "linear"}), r"models.softmax.train.schedule"
                                                                                    r".kind: 'linear' is not one of"),
    (lambda c: c["models"]["softmax"].update(backbone_args={"width": 2}), r"models.softmax.backbone_args.width: irse8 "
                                                                           r"takes no argument 'width'"),
    (lambda c: c["models"]["softmax"].update(backbone_args={"input_size": [64, 64]}), r"models.softmax.backbone_args"
                                                                                      r".input_size: \[64, 64\] "
                                                                                      r"disagrees"),
    (lambda c: c["models"]["softmax"].update(weights={"path": "x.pth"}), r"models.softmax: .*valid under each of"),
    (lambda c: c["models"]["pretrained"].update(backbone_args={"embedding_size": 0}),
     r"config key models.pretrained.backbone_args.embedding_size: 0 is not a positive integer"),
    (lambda c: c["models"]["softmax"]["input"].update(size=[40, 40]), r"config key models.softmax.input: irse8 "
                                                                       r"cannot take a 40x40 input: each side at "
                                                                       r"least 32 and a multiple of 16 \(input.size\)"),
    (lambda c: c["models"]["pretrained"].update(backbone="inception_resnet_v1", backbone_args={},
                                                input={"template": "arcface112", "size": [64, 64]}),
     r"models.pretrained.input: inception_resnet_v1 cannot take a 64x64"),
    (lambda c: c["alignments"]["provided-lr16"].pop("size"), r"alignments.provided-lr16.size: method 'degrade' "
                                                              r"needs a size"),
    (lambda c: c["alignments"]["provided-lr16"].update(source="lr"), r"alignments.provided-lr16.source: 'lr' must "
                                                                     r"name an alignment"),
    (lambda c: c["alignments"].update(lr2={"method": "degrade", "source": "provided-lr16", "size": 8}),
     r"alignments.lr2.source: 'provided-lr16' must name an alignment by landmarks or centre crop"),
    (lambda c: c.setdefault("analysis", {}).update(scorers=["cosine", "svm"]), r"analysis.scorers.1: 'svm' is not "
                                                                               r"one of"),
    (lambda c: c["report"]["studies"]["finetune"]["models"].append("arcface-3d"),
     r"report.studies.finetune.models: 'arcface-3d' is not evaluated on lfw with alignment 'provided'"),
    (lambda c: c["report"]["studies"]["finetune"].update(protocol="devtest"),
     r"report.studies.finetune.protocol: 'devtest' is not a key of datasets.lfw.verification"),
])
def test_bad_config_names_the_key(smoke, edit, match):
    cfg = copy.deepcopy(smoke)
    edit(cfg)
    with pytest.raises(ConfigError, match=match):
        validate_config(cfg, SCHEMA)


def fine_tuned(c, **train):
    """A model fine-tuned from smoke's softmax model."""
    c["models"]["ft"] = copy.deepcopy(c["models"]["softmax"])
    c["models"]["ft"]["train"].update(init="softmax", **train)
    return c


def test_fine_tuning_and_validation_keys_are_accepted(smoke):
    validate_config(fine_tuned(smoke, trainable="output", loss="siamese",
                               validate={"dataset": "lfw", "protocol": "view2", "alignment": "provided"}), SCHEMA)


@pytest.mark.parametrize("edit,match", [
    (lambda c: fine_tuned(c, trainable="body"), r"models.ft.train.trainable: 'body' is not one of"),
    (lambda c: c["models"]["softmax"]["train"].update(trainable="head"), r"models.softmax.train.trainable: 'head' "
                                                                          r"freezes the backbone, which needs"),
    (lambda c: fine_tuned(c, validate={"dataset": "lfw", "protocol": "view9", "alignment": "provided"}),
     r"models.ft.train.validate.protocol: 'view9' is not a key of datasets.lfw.verification"),
    (lambda c: fine_tuned(c, validate={"dataset": "casia", "protocol": "view2", "alignment": "provided"}),
     r"models.ft.train.validate.dataset: 'casia' is not a key of datasets"),
    (lambda c: fine_tuned(c, validate={"dataset": "lfw", "protocol": "view2", "alignment": "dlib"}),
     r"models.ft.train.validate.alignment: 'dlib' is not a key of alignments"),
    (lambda c: fine_tuned(c, validate={"dataset": "lfw", "protocol": "view2"}),
     r"models.ft.train.validate: 'alignment' is a required property"),
    (lambda c: fine_tuned(c, loss="siamese", loss_args={"classifier": "triplet"}),
     r"models.ft.train.loss_args: loss 'siamese': option classifier must be a classifying loss"),
])
def test_bad_fine_tuning_names_the_key(smoke, edit, match):
    cfg = copy.deepcopy(smoke)
    edit(cfg)
    with pytest.raises(ConfigError, match=match):
        validate_config(cfg, SCHEMA)


def test_every_missing_local_path_is_named_with_its_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "pairs.txt").write_text("10 300\n")
    config = {
        "datasets": {"lfw": {"images": {"path": "images"}, "files": {"pairs": {"path": "pairs.txt"},
                                                                      "people": {"path": "people.txt"}}}},
        "models": {"m": {"weights": {"path": str(tmp_path / "no-such-weights.pth")}}},
        "evaluate": [{"model": "m", "dataset": "lfw", "alignments": ["center"]}],
    }
    (tmp_path / "people.txt").write_text("")
    (tmp_path / "no-such-weights.pth").write_text("")
    check_paths(config)  # every path is there
    for made in ("people.txt", "no-such-weights.pth"):
        (tmp_path / made).unlink()
    config["datasets"]["lfw"]["images"]["path"] = "gone"
    with pytest.raises(ConfigError) as err:
        check_paths(config)
    problems = str(err.value).splitlines()[1:]
    assert [p.split(":")[0].strip() for p in problems] == [
        "config key datasets.lfw.images.path", "config key datasets.lfw.files.people.path",
        "config key models.m.weights.path"]
    assert f"relative paths are read from {tmp_path}" in problems[0]


def test_config_settings_merge_into_config_yaml_and_a_configfile_replaces_it(tmp_path):
    """`--config key=value` alone reads config.yaml and merges into it; `--configfile` replaces config.yaml."""
    import subprocess
    import sys

    from conftest import ROOT

    def dry(*args):
        cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--snakefile", str(ROOT / "Snakefile"),
               "--directory", str(tmp_path), *args, "--printshellcmds"]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)

    merged = dry("--config", "seed=7")
    assert merged.returncode == 0, merged.stderr[-3000:]
    assert "--seed 7" in merged.stdout and "fetch-dataset lfw" in merged.stdout  # config.yaml's datasets, seed 7
    own = tmp_path / "own.yaml"
    own.write_text("seed: 3\n")  # a complete profile would hold datasets; alone it is refused, not merged
    replaced = dry("--configfile", str(own))
    assert replaced.returncode != 0 and "datasets" in replaced.stderr + replaced.stdout
