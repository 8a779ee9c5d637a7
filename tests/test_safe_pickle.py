"""Looking inside a pickle without running it (facebench.safe_pickle), and what config validation does with it: the
container of a local checkpoint checked at parse time, without torch in Snakemake's process."""
from __future__ import annotations

import collections
import copy
import pickle

import pytest
import torch
import yaml
from facebench import safe_pickle
from facebench.config import ConfigError, validate_config

SCHEMA = "workflow/schemas/config.schema.yaml"


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))  # would create the marker file if anything ran it


def test_a_pickle_that_calls_code_loads_as_placeholders_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    data = pickle.dumps({"state_dict": {"w": Evil(marker)}, "epoch": 3, "names": ["a", "b"]})
    loaded = safe_pickle.loads(data)
    assert not marker.exists()
    placeholder = loaded["state_dict"]["w"]
    assert isinstance(placeholder, safe_pickle.Placeholder) and placeholder.qualname == "io.open"
    assert placeholder.args == (str(marker), "w")
    assert loaded["epoch"] == 3 and loaded["names"] == ["a", "b"]


def test_the_plain_values_policy_refuses_code_with_the_callers_error_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    policy = safe_pickle.PlainValues(lambda what: ValueError(f"data.pkl: refused {what}"))
    with pytest.raises(ValueError, match=r"data.pkl: refused global (io|_io|builtins)\.open"):
        safe_pickle.loads(pickle.dumps([b"x", Evil(marker)]), policy)
    assert not marker.exists()
    with pytest.raises(ValueError, match=r"refused global collections.OrderedDict"):
        safe_pickle.loads(pickle.dumps(collections.OrderedDict(a=1)), policy)
    import numpy as np

    got = safe_pickle.loads(pickle.dumps(([b"a", bytearray(b"b")], np.array([True, False]), (1, "s")), protocol=2),
                            policy)
    assert got[0] == [b"a", bytearray(b"b")] and got[2] == (1, "s")
    assert isinstance(got[1], safe_pickle.PendingArray) and safe_pickle.dtype_name(got[1].dtype) == "b1"
    assert bytes(got[1].raw) == b"\x01\x00" and tuple(got[1].shape) == (2,)


def test_a_torch_file_shows_its_keys_with_tensors_as_placeholders(tmp_path):
    path = tmp_path / "ck.pth"
    torch.save({"net_state_dict": {"conv.weight": torch.zeros(2, 3)}, "epoch": 30}, path)
    top = safe_pickle.torch_file_object(path)
    assert set(top) == {"net_state_dict", "epoch"} and top["epoch"] == 30
    assert isinstance(top["net_state_dict"]["conv.weight"], safe_pickle.Placeholder)
    legacy = tmp_path / "legacy.pth"
    torch.save({"a": torch.zeros(1)}, legacy, _use_new_zipfile_serialization=False)
    assert safe_pickle.torch_file_object(legacy) is None  # the legacy format: left to the import
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="text.pth: not a torch file"):
        safe_pickle.torch_file_object(tmp_path / "text.pth")


@pytest.fixture()
def with_checkpoint(root, tmp_path, monkeypatch):
    monkeypatch.chdir(root)
    cfg = yaml.safe_load((root / "config/smoke.yaml").read_text())
    path = tmp_path / "ck.pth"
    torch.save({"model": {"module": {"w": torch.zeros(1)}}, "optimizer": {}}, path)

    def config(**weights):
        c = copy.deepcopy(cfg)
        c["models"]["pretrained"]["weights"] = {"path": str(path), **weights}
        return c
    return config, path


def test_an_unknown_container_of_a_local_checkpoint_is_refused_at_parse_time(with_checkpoint):
    config, path = with_checkpoint
    validate_config(config(container="model.module"), SCHEMA)  # a dotted path into the file
    with pytest.raises(ConfigError, match=r"config key models.pretrained.weights.container: 'state_dict_ema' is not "
                                          r"in the file.*top-level keys: \['model', 'optimizer'\]"):
        validate_config(config(container="state_dict_ema"), SCHEMA)
    path.write_text("not a checkpoint")
    with pytest.raises(ConfigError, match=r"config key models.pretrained.weights.path: .*not a torch file"):
        validate_config(config(container="model"), SCHEMA)
