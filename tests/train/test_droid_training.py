"""A tiny DROID-format run on CPU with the ordinary training machinery: trains, validates,
resumes exactly, exports; the ViT-g DROID preset resolves to Meta's recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("h5py")
pytest.importorskip("scipy")

from craft_jepa.configuration import load_config  # noqa: E402
from craft_jepa.data.droid_synth import write_droid_dataset  # noqa: E402
from craft_jepa.train.config import RunConfig  # noqa: E402
from craft_jepa.runs.export import export_run
from craft_jepa.runs.loading import load_exported  # noqa: E402
from craft_jepa.train.loop import train  # noqa: E402
from craft_jepa.vpt.scaler import ActionScaler  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def path_list(tmp_path_factory) -> Path:
    return write_droid_dataset(tmp_path_factory.mktemp("droid"), [40, 44, 48], seed=2)


def droid_config(run_dir: Path, path_list: Path, **overrides) -> RunConfig:
    tree = yaml.safe_load((REPO / "configs" / "droid-tiny-cpu.yaml").read_text())
    tree["run_dir"] = str(run_dir)
    tree["data"].update(train_shards=str(path_list), val_fraction=0.34, batch_size=2)
    tree["schedule"].update(total_steps=4, warmup_steps=1, decay_steps=1)
    tree["validation"].update(every=2, max_clips=2)
    tree["checkpoint"].update(latest_every=2, every=2)
    tree["logging"]["every"] = 1
    for dotted, value in overrides.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return load_config(RunConfig, tree)


@pytest.fixture(scope="module")
def uninterrupted(path_list, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("droid_run")
    return run_dir, train(droid_config(run_dir, path_list), single_process=True)


def test_tiny_droid_run_trains_validates_and_exports(uninterrupted, tmp_path) -> None:
    run_dir, summary = uninterrupted
    assert summary.step == 4 and summary.skipped_steps == 0
    assert all(torch.isfinite(torch.tensor(row["loss"])) for row in summary.history)
    assert summary.val_losses and summary.best_val_loss is not None
    assert sum(summary.bad_inputs.values()) == 0
    scaler = ActionScaler.load(run_dir / "scaler.json")  # DROID actions are fed raw, as Meta does
    assert scaler.layout_name == "droid7" and (scaler.mean == 0).all() and (scaler.scale == 1).all()
    export_run(run_dir, tmp_path / "export")
    exported = load_exported(tmp_path / "export")
    assert (exported.predictor.action_dim, exported.predictor.state_dim) == (7, 7)
    assert exported.clip.action_layout == "droid7" and exported.scaler.layout_name == "droid7"
    assert exported.predictor_state["action_encoder.weight"].shape[1] == 7


def test_droid_run_resumes_exactly(uninterrupted, path_list, tmp_path) -> None:
    _, reference = uninterrupted
    cfg = droid_config(tmp_path, path_list)
    assert train(cfg, stop_at_step=2, single_process=True).step == 2
    resumed = train(cfg, single_process=True)
    assert resumed.resumed_from == 2
    for got, want in zip(resumed.history, reference.history[2:]):
        assert got["loss"] == pytest.approx(want["loss"], abs=1e-6)


def test_droid_training_needs_one_state_per_frame(path_list, tmp_path) -> None:
    with pytest.raises(ValueError, match="tubelet_size must be 1"):
        droid_config(tmp_path, path_list, **{"data.droid.tubelet_size": 2})


def test_vitg_droid_preset_is_metas_recipe(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PRETRAIN_CHECKPOINT", str(tmp_path / "vitg.pt"))
    monkeypatch.setenv("DROID_PATH_LIST", str(tmp_path / "droid_paths.csv"))
    cfg = load_config(RunConfig, REPO / "configs" / "vitg16" / "droid-256px-8f.yaml")
    assert (cfg.clip.frames, cfg.clip.fps, cfg.clip.size) == (8, 4.0, 256)
    assert (cfg.predictor.depth, cfg.predictor.width, cfg.predictor.heads) == (24, 1024, 16)
    assert (cfg.predictor.action_dim, cfg.predictor.state_dim, cfg.predictor.rope) == (7, 7, "meta")
    assert cfg.data.source == "droid" and cfg.data.droid.camera_views == ["left_mp4_path"]
    assert cfg.loss.auto_steps == 2


def test_bad_trajectories_reach_the_run_log(path_list, tmp_path) -> None:
    import csv
    import warnings

    from craft_jepa.data.loader import DataWarning

    with_bad = tmp_path / "paths.csv"
    with_bad.write_text(path_list.read_text() + f"{tmp_path / 'nowhere'}\n")
    cfg = droid_config(tmp_path / "run", with_bad, **{"data.val_fraction": 0.0, "schedule.total_steps": 2,
                                                     "schedule.warmup_steps": 0, "validation.every": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        summary = train(cfg, single_process=True)
    assert summary.bad_inputs.get("not_a_directory", 0) >= 1
    with open(tmp_path / "run" / "metrics.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == "train"]
    assert int(float(rows[-1]["skipped_not_a_directory"])) == summary.bad_inputs["not_a_directory"]
