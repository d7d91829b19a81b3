"""Untrusted files: pickles that would run code are refused (and the code does not run), JSON
metadata with wrong keys or types is an error naming file and key, configs cannot run code, and
a checkpoint from another setup is refused with every difference named.

Already covered elsewhere (cited in docs/reliability.md, not repeated here): a scaler JSON with
wrong keys/types (tests/vpt/test_scaler.py), a YAML file with a python tag
(tests/test_configuration.py::test_yaml_is_never_executed), feature shards of another encoder
(tests/data/test_features.py::test_shards_for_another_setup_are_a_clear_error).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from testkit.runs import make_tiny_export
from testkit.train_configs import tiny_config

from craft_jepa.configuration import ConfigError
from craft_jepa.runs.layout import META_FILE, WEIGHTS_FILE
from craft_jepa.runs.loading import load_exported
from craft_jepa.vpt.layouts import get_action_layout
from craft_jepa.vpt.scaler import ActionScaler

STEPS = 2


class RunsCode:
    """Unpickling this calls os.mkdir(marker): a stand-in for any code an attacker would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _scaler(tmp: Path, layout: str, shift: float = 0.0) -> str:
    scaler = ActionScaler.identity(get_action_layout(layout))
    scaler.mean = scaler.mean + shift
    path = tmp / f"scaler-{layout}-{shift}.json"
    scaler.save(path)
    return str(path)


@pytest.fixture(scope="module")
def trained(synth_dataset, tmp_path_factory):
    """A RUN_DIR with checkpoints after STEPS steps of the tiny preset, and its settings."""
    from craft_jepa.train.loop import train

    root = tmp_path_factory.mktemp("untrusted")
    settings = {"data.scaler": _scaler(root, "vpt38"), "data.val_shards": None, "data.num_workers": 0,
                "schedule.total_steps": 6, "validation.every": 0, "checkpoint.latest_every": STEPS}
    train(tiny_config(root / "run", synth_dataset.shard_urls, **settings), stop_at_step=STEPS, single_process=True)
    return root, settings


def _copy_run(trained, tmp_path: Path) -> Path:
    shutil.copytree(trained[0] / "run", tmp_path / "run")
    return tmp_path / "run"


# ------------------------------------------------------------------ pickles that run code


def test_the_payload_is_live(tmp_path):
    """Sanity check of the stand-in: a plain (unsafe) torch.load does run it."""
    torch.save({"x": RunsCode(tmp_path / "ran")}, tmp_path / "evil.pt")
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert (tmp_path / "ran").is_dir()


def test_checkpoint_with_code_is_refused_everywhere_it_is_read(trained, synth_dataset, tmp_path):
    from craft_jepa.api import WorldModel
    from craft_jepa.encoders.checkpoint import read_meta_checkpoint
    from craft_jepa.runs.checkpoints import load_checkpoint
    from craft_jepa.train.loop import train

    run_dir = _copy_run(trained, tmp_path)
    latest = run_dir / "checkpoints" / "latest.pt"
    state = torch.load(latest, weights_only=True)
    marker = tmp_path / "code-ran"
    state["predictor"]["extra"] = RunsCode(marker)  # a real checkpoint with one poisoned entry
    state["target_encoder"] = {"payload": RunsCode(marker)}
    torch.save(state, latest)

    with pytest.raises(RuntimeError, match="cannot load checkpoint .*latest.pt"):
        load_checkpoint(latest)
    with pytest.raises(RuntimeError, match="cannot load checkpoint .*latest.pt"):  # resume
        train(tiny_config(run_dir, synth_dataset.shard_urls, **trained[1]), single_process=True)
    with pytest.raises(RuntimeError, match="cannot load checkpoint .*latest.pt"):
        load_exported(run_dir, which="latest")
    with pytest.raises(RuntimeError, match="cannot load checkpoint .*latest.pt"):  # best.pt missing: latest
        WorldModel.from_pretrained(run_dir)
    with pytest.raises(ValueError, match="latest.pt: cannot load encoder checkpoint with weights_only"):
        read_meta_checkpoint(latest, "target_encoder")  # the same file offered as encoder weights
    assert not marker.exists()


def test_export_weights_that_are_a_pickle_are_refused(tmp_path):
    export = make_tiny_export(tmp_path / "export")
    marker = tmp_path / "code-ran"
    torch.save({"w": RunsCode(marker)}, export / WEIGHTS_FILE)
    with pytest.raises(ValueError, match=f"{WEIGHTS_FILE}: not a readable safetensors file"):
        load_exported(export)
    assert not marker.exists()


def test_config_override_with_a_python_tag_is_refused(tmp_path):
    from craft_jepa.configuration import load_config
    from craft_jepa.train.config import RunConfig

    marker = tmp_path / "code-ran"
    with pytest.raises(ConfigError, match="run_dir=.*not valid YAML"):
        load_config(RunConfig, {"data": {"train_shards": "x"}},
                    [f"run_dir=!!python/object/apply:os.mkdir ['{marker}']"])
    assert not marker.exists()


# ------------------------------------------------------------------ JSON metadata


def _edit_meta(export: Path, edit) -> None:
    meta = json.loads((export / META_FILE).read_text())
    edit(meta)
    (export / META_FILE).write_text(json.dumps(meta))


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.pop("scaler"), "key 'scaler' should be a JSON object, got missing"),
    (lambda m: m.update(predictor="big"), "key 'predictor' should be a JSON object, got a str"),
    (lambda m: m.update(step="12"), "key 'step' should be an integer"),
    (lambda m: m.update(format="pickle"), "not a craft-jepa export"),
    (lambda m: m["predictor"].update(action_dim="38"), "predictor.action_dim: expected an integer"),
    (lambda m: m["clip"].update(fsp=5), "unknown key 'clip.fsp'; did you mean 'clip.fps'"),
    (lambda m: m["encoder"].pop("name") and m["encoder"].update(nmae="vit_tiny"), "unknown key 'encoder.nmae'"),
    (lambda m: m["scaler"].pop("mean"), "missing key 'mean'"),
    (lambda m: m["scaler"].update(scale="1"), "key 'scale' should be a list"),
])
def test_export_metadata_with_wrong_keys_or_types_names_the_key(tmp_path, edit, message):
    export = make_tiny_export(tmp_path / "export")
    _edit_meta(export, edit)
    with pytest.raises(ValueError, match=message) as err:
        load_exported(export)
    assert str(export / META_FILE) in str(err.value)


@pytest.mark.parametrize("text", [b"\x80\x04\x95 pickle bytes", b"[1, 2]", b"{\"format\": "])
def test_export_metadata_that_is_not_a_json_object_is_refused(tmp_path, text):
    export = make_tiny_export(tmp_path / "export")
    (export / META_FILE).write_bytes(text)
    with pytest.raises(ValueError, match="craft_jepa.json: (not valid JSON|expected a JSON object)"):
        load_exported(export)


def test_checkpoint_config_with_a_wrong_type_names_the_key(trained, tmp_path):
    run_dir = _copy_run(trained, tmp_path)
    latest = run_dir / "checkpoints" / "latest.pt"
    state = torch.load(latest, weights_only=True)
    state["config"]["predictor"]["depth"] = "two"
    torch.save(state, latest)
    with pytest.raises(ConfigError, match="latest.pt: predictor.depth: 'two' matches none of int"):
        load_exported(run_dir, which="latest")


# ------------------------------------------------------------------ another setup's checkpoint


@pytest.mark.parametrize("change, named", [
    ({"encoder.init_seed": 7}, ["encoder.init_seed: 0 -> 7"]),
    ({"clip.action_layout": "vpt13", "predictor.action_dim": 13, "data.scaler": "vpt13"},
     ["clip.action_layout: 'vpt38' -> 'vpt13'", "predictor.action_dim: 38 -> 13", "scaler.layout"]),
    ({"clip.state_layout": "pitch", "predictor.state_dim": 1}, ["clip.state_layout: 'none' -> 'pitch'"]),
    ({"clip.fps": 4.0}, ["clip.fps: 5.0 -> 4.0"]),
    ({"data.scaler": "shifted"}, ["scaler.mean"]),
])
def test_resume_refuses_a_checkpoint_of_another_setup_naming_what_differs(trained, synth_dataset, tmp_path,
                                                                           change, named):
    from craft_jepa.runs.compat import CheckpointMismatchError
    from craft_jepa.train.loop import train

    run_dir = _copy_run(trained, tmp_path)
    change = dict(change)
    if change.get("data.scaler") == "vpt13":
        change["data.scaler"] = _scaler(tmp_path, "vpt13")
    elif change.get("data.scaler") == "shifted":
        change["data.scaler"] = _scaler(tmp_path, "vpt38", shift=1.0)
    cfg = tiny_config(run_dir, synth_dataset.shard_urls, **{**trained[1], **change})
    with pytest.raises(CheckpointMismatchError) as err:
        train(cfg, single_process=True)
    message = str(err.value)
    assert "latest.pt" in message
    for part in named:
        assert part in message, message
    before = torch.load(trained[0] / "run" / "checkpoints" / "latest.pt", weights_only=True)
    after = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)
    assert after["step"] == before["step"] == STEPS  # nothing was overwritten


def test_resume_allows_settings_that_do_not_change_the_model(trained, synth_dataset, tmp_path):
    from craft_jepa.train.loop import train

    run_dir = _copy_run(trained, tmp_path)
    change = {"optim.lr": 1e-3, "data.batch_size": 3, "clip.frames": 4, "encoder.dtype": "float32"}
    summary = train(tiny_config(run_dir, synth_dataset.shard_urls, **{**trained[1], **change}),
                    stop_at_step=STEPS + 1, single_process=True)
    assert summary.resumed_from == STEPS and summary.step == STEPS + 1


def test_export_of_another_action_layout_is_refused_naming_the_weights(tmp_path):
    """vpt38 weights under metadata that claims a vpt13 model: strict loading lists the
    mis-shaped action weights."""
    from craft_jepa.api import WorldModel

    export = make_tiny_export(tmp_path / "export")
    scaler13 = ActionScaler.identity(get_action_layout("vpt13")).to_dict()

    def to_vpt13(meta):
        meta["clip"]["action_layout"] = "vpt13"
        meta["predictor"]["action_dim"] = 13
        meta["scaler"] = scaler13

    _edit_meta(export, to_vpt13)
    with pytest.raises(RuntimeError, match=r"predictor: state dict does not match the model\n"
                                           r"  1 mis-shaped key\(s\): action_encoder\.weight "
                                           r"\(checkpoint \(\d+, 38\) vs model \(\d+, 13\)\)"):
        WorldModel.from_pretrained(export)
