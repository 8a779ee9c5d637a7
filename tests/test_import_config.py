"""Checkpoint import by config (a model's ``weights``: container, rename, drop, map: by-order), on local stand-ins:
a small project model's own weights saved the way other projects save theirs, imported back into a fresh model,
which must then give the very same embedding; and the parse-time checks of those keys, which need no torch."""
from __future__ import annotations

import copy
import re

import pytest
import torch
import yaml
from conftest import ROOT
from facebench.config import ConfigError, validate_config
from facebench.models import build
from facebench.models.checkpoint import load_model, save_model
from facebench.models.convert import ConversionError, import_checkpoint
from facebench.weights import CheckpointError

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
WHERE = "models.other.weights"
ARGS = {"embedding_size": 32, "input_size": (32, 32)}


def fresh() -> torch.nn.Module:
    return build("irse8", **ARGS)


@pytest.fixture(scope="module")
def original() -> torch.nn.Module:
    """A model whose every tensor is set from a seed, unlike a fresh model's: an import that misplaces one shows."""
    model, g = fresh(), torch.Generator().manual_seed(0)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if key.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g) * 0.2)
    return model.eval()


def embed(model: torch.nn.Module) -> torch.Tensor:
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        return model.eval()(x)


def state(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def saved(tmp_path, payload, name="ck.pth"):
    torch.save(payload, tmp_path / name)
    return tmp_path / name


def test_container_and_regex_rename_give_the_same_embedding(tmp_path, original):
    # stored as another project might: under net_state_dict, beside training state, with 'module.' in front,
    # '/' for '.', and body.N called trunk/N
    stored = {"module." + re.sub(r"^body", "trunk", k).replace(".", "/"): v for k, v in state(original).items()}
    path = saved(tmp_path, {"epoch": 7, "net_state_dict": stored, "optimizer": {"lr": 0.1}})
    weights = {"container": "net_state_dict", "key_prefix": "module.",
               "rename": [{"pattern": "/", "replace": "."},  # in order: the next rule sees the dots
                          {"pattern": r"^trunk\.(\d+)", "replace": r"body.\1"}]}
    model = fresh()
    assert not torch.equal(embed(model), embed(original))
    report = import_checkpoint(path, model, weights, WHERE)
    assert torch.equal(embed(model), embed(original))
    assert report["tensors"] == len(stored) and report["container"] == "net_state_dict"
    assert report["map"] == "by-name" and report["dropped"] == 0
    # the rules in the other order leave keys the model has no place for, named
    with pytest.raises(ConversionError, match=r"model has no place for: \['trunk\.0"):
        import_checkpoint(path, fresh(), {**weights, "rename": weights["rename"][::-1]}, WHERE)


def test_without_container_a_state_dict_entry_is_still_opened(tmp_path, original):
    path = saved(tmp_path, {"state_dict": state(original), "epoch": 1})
    model = fresh()
    assert import_checkpoint(path, model, {}, WHERE)["container"] == "state_dict"  # the automatic default
    assert torch.equal(embed(model), embed(original))
    flat = saved(tmp_path, state(original), "flat.pth")
    assert import_checkpoint(flat, fresh(), {}, WHERE)["container"] is None


def test_by_order_under_a_nested_container_gives_the_same_embedding(tmp_path, original):
    stored = {f"layer{i:03d}": v for i, v in enumerate(state(original).values())}  # other names, same order
    path = saved(tmp_path, {"model": {"module": stored, "step": 3}, "meta": {"arch": "x"}})
    model = fresh()
    report = import_checkpoint(path, model, {"container": "model.module", "map": "by-order"}, WHERE)
    assert torch.equal(embed(model), embed(original)) and report["map"] == "by-order"
    # a key that itself holds a dot is found too
    dotted = saved(tmp_path, {"model.module": stored}, "dotted.pth")
    import_checkpoint(dotted, model, {"container": "model.module", "map": "by-order"}, WHERE)
    # by name, the same file is refused: none of its names is the model's
    with pytest.raises(ConversionError, match=r"203 model tensor\(s\) not in the checkpoint"):
        import_checkpoint(path, fresh(), {"container": "model.module"}, WHERE)


def test_a_by_order_mismatch_is_refused_with_a_table(tmp_path, original):
    stored = {f"layer{i:03d}": v for i, v in enumerate(state(original).values())}
    model_keys = list(original.state_dict())
    stored["layer007"] = torch.zeros(5, 5)
    path = saved(tmp_path, {"model": stored})
    before = state(fresh_model := fresh())
    with pytest.raises(ConversionError) as err:
        import_checkpoint(path, fresh_model, {"container": "model", "map": "by-order"}, WHERE)
    msg = str(err.value)
    assert f"config key {WHERE}.map: 'by-order' does not fit the model: 1 pair(s) differ" in msg
    lines = msg.splitlines()
    assert lines[1].split() == ["index", "source", "key", "source", "shape", "model", "key", "model", "shape"]
    shape = tuple(original.state_dict()[model_keys[7]].shape)
    assert re.fullmatch(rf"\s*7\s+layer007\s+\(5, 5\)\s+{re.escape(model_keys[7])}\s+{re.escape(str(shape))}",
                        lines[2]), lines[2]
    assert all(torch.equal(v, before[k]) for k, v in fresh_model.state_dict().items())  # left untouched
    # a count mismatch (the last tensor left out): the missing side shows '-'
    stored = {f"layer{i:03d}": v for i, v in enumerate(state(original).values()) if i < 202}
    path = saved(tmp_path, {"model": stored})
    with pytest.raises(ConversionError, match=r"202 source tensors for the model's 203; 1 pair\(s\) differ") as err:
        import_checkpoint(path, fresh(), {"container": "model", "map": "by-order"}, WHERE)
    assert re.search(rf"\n\s*202\s+-\s+-\s+{re.escape(model_keys[202])}\s+\(\)$", str(err.value)), str(err.value)
    # an integer tensor where the model has a floating one, though the shapes agree
    stored = {f"layer{i:03d}": v for i, v in enumerate(state(original).values())}
    stored["layer000"] = stored["layer000"].to(torch.int64)
    path = saved(tmp_path, {"model": stored})
    with pytest.raises(ConversionError, match=r"layer000\s+\(\d+, 3, 3, 3\) torch.int64"):
        import_checkpoint(path, fresh(), {"container": "model", "map": "by-order"}, WHERE)


def test_a_container_that_is_not_there_is_refused_listing_the_keys(tmp_path, original):
    path = saved(tmp_path, {"epoch": 7, "net_state_dict": state(original), "optimizer": {"lr": 0.1}})
    with pytest.raises(ConversionError) as err:
        import_checkpoint(path, fresh(), {"container": "state_dict_ema"}, WHERE)
    msg = str(err.value)
    assert str(path) in msg and f"config key {WHERE}.container: 'state_dict_ema' is not in the file" in msg
    assert "the file's top-level keys: ['epoch', 'net_state_dict', 'optimizer']" in msg
    with pytest.raises(ConversionError, match=r"'optimizer' is there but has no 'ema'; its keys: \['lr'\]"):
        import_checkpoint(path, fresh(), {"container": "optimizer.ema"}, WHERE)
    with pytest.raises(ConversionError, match=r"container: 'epoch' is a int, not a state dict"):
        import_checkpoint(path, fresh(), {"container": "epoch"}, WHERE)
    # given, the container is exactly that: the automatic state_dict is not looked for
    path = saved(tmp_path, {"state_dict": state(original)}, "sd.pth")
    with pytest.raises(ConversionError, match=r"'model' is not in the file; the file's top-level keys: "
                                              r"\['state_dict'\]"):
        import_checkpoint(path, fresh(), {"container": "model"}, WHERE)


def test_dropped_classifier_tensors_are_counted_and_recorded(tmp_path, original):
    stored = state(original)
    stored["logits.weight"], stored["logits.bias"] = torch.zeros(10, 32), torch.zeros(10)
    path = saved(tmp_path, stored)
    with pytest.raises(ConversionError, match=r"2 checkpoint tensor\(s\) the model has no place for: "
                                              r"\['logits.bias', 'logits.weight'\]"):
        import_checkpoint(path, fresh(), {}, WHERE)
    model = fresh()
    report = import_checkpoint(path, model, {"drop": [r"^logits\."]}, WHERE)
    assert torch.equal(embed(model), embed(original))
    assert report["dropped"] == 2 and report["dropped_keys"] == ["logits.weight", "logits.bias"]
    # dropped by order too, and before key_prefix: a tensor outside the prefix can be dropped
    by_order = {f"net.t{i}": v for i, v in enumerate(state(original).values())}
    by_order["head.kernel"] = torch.zeros(32, 10)
    path = saved(tmp_path, {"net": by_order}, "order.pth")
    report = import_checkpoint(path, model, {"container": "net", "map": "by-order", "key_prefix": "net.",
                                             "drop": ["^head\\."]}, WHERE)
    assert report["dropped_keys"] == ["head.kernel"]
    # the report is what the model file's meta records, read back weights-only
    save_model(tmp_path / "m.pt", model, backbone="irse8", backbone_args=ARGS, input_spec={"template": "arcface112"},
               meta=report)
    assert load_model(tmp_path / "m.pt")[1]["meta"]["dropped"] == 1


class Exec:
    """A pickled object whose loading would run code: it would create ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def test_a_file_that_carries_code_is_still_refused(tmp_path, original):
    marker = tmp_path / "code-ran"
    path = saved(tmp_path, {"net_state_dict": {**state(original), "hook": Exec(marker)}})
    with pytest.raises(CheckpointError, match=r"ck.pth: refused by weights-only loading .*exec"):
        import_checkpoint(path, fresh(), {"container": "net_state_dict", "map": "by-order"}, WHERE)
    assert not marker.exists()


def test_an_unknown_map_is_refused_naming_the_key(tmp_path, original):
    path = saved(tmp_path, {f"arcface.{k}": v for k, v in state(original).items()})
    with pytest.raises(ConversionError, match=rf"config key {WHERE}.map: 'by-name' is not one of \['by-order'\]"):
        import_checkpoint(path, fresh(), {"key_prefix": "arcface.", "map": "by-name"}, WHERE)
    with pytest.raises(ConversionError, match=rf"config key {WHERE}.rename: a list of"):
        import_checkpoint(path, fresh(), {"key_prefix": "arcface.", "rename": {"a": "b"}}, WHERE)


# ---------------------------------------------------------------- parse time: no torch, errors name the key
@pytest.fixture()
def config():
    cfg = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    return cfg


KEY = "config key models.pretrained.weights"


@pytest.mark.parametrize("edit,match", [
    ({"rename": [{"pattern": "^a", "replace": "b"}, {"pattern": "(unclosed", "replace": "x"}]},
     rf"{KEY}.rename\[1\].pattern: '\(unclosed' is not a regular expression \(missing \), unterminated subpattern"),
    ({"rename": [{"pattern": "^(a)", "replace": r"\2"}]}, rf"{KEY}.rename\[0\].replace: '\\\\2' does not fit its "
                                                          r"pattern \(invalid group reference 2"),
    ({"drop": ["logits", "[a-"]}, rf"{KEY}.drop\[1\]: '\[a-' is not a regular expression"),
    ({"map": "by-name"}, rf"{KEY}.map: 'by-name' is not a way to match tensors; the one there is: 'by-order'"),
    ({"rename": {"conv": "stem"}}, rf"{KEY}.rename: {{'conv': 'stem'}} is not of type 'array'"),  # the former form
    ({"rename": [{"pattern": "^a"}]}, rf"{KEY}.rename.0: 'replace' is a required property"),
    ({"container": ""}, rf"{KEY}.container: ''"),
])
def test_bad_import_options_are_refused_at_parse_time(config, edit, match):
    config["models"]["pretrained"]["weights"].update(edit)
    with pytest.raises(ConfigError, match=match):
        validate_config(config, SCHEMA)


def test_good_import_options_pass(config):
    config["models"]["pretrained"]["weights"].update(
        container="module.state_dict", map="by-order", drop=[r"^logits\.", "num_batches_tracked$"],
        rename=[{"pattern": r"^backbone\.(\w+)", "replace": r"\g<1>"}])
    validate_config(copy.deepcopy(config), SCHEMA)
