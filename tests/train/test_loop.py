"""The training loop end to end on the synthetic shards: exact resume, checkpoints, export."""

from __future__ import annotations

import errno

import pytest
import torch

from testkit.train_configs import tiny_config
from craft_jepa.runs import checkpoints as ckpt_module
from craft_jepa.runs.export import export_run
from craft_jepa.runs.loading import load_exported
from craft_jepa.train.loop import train


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], rtol=0, atol=1e-6), name


@pytest.fixture(scope="module")
def uninterrupted(synth_dataset, tmp_path_factory):
    """6 steps in one go: the reference for every resume test."""
    run_dir = tmp_path_factory.mktemp("run_full")
    summary = train(tiny_config(run_dir, synth_dataset.shard_urls), single_process=True)
    return run_dir, summary


def test_run_dir_layout(uninterrupted):
    run_dir, summary = uninterrupted
    assert summary.step == 6 and summary.resumed_from is None and summary.skipped_steps == 0
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == ["best.pt", "latest.pt", "step_00000004.pt", "step_00000006.pt"]
    assert (run_dir / "config.yaml").is_file() and (run_dir / "scaler.json").is_file()
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert len([r for r in rows if ",train," in r]) == 6 and len([r for r in rows if ",val," in r]) == 2
    state = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)
    assert not any(k.startswith("encoder") for k in state["predictor"])  # never the frozen encoder
    assert {"optimizer", "rng", "data_stream", "config", "scaler", "step"} <= set(state)


@pytest.mark.parametrize("stop", [2, 3])  # 2: at a stream-chunk boundary; 3: mid-chunk (fast-forward)
def test_resume_is_exact(synth_dataset, tmp_path, uninterrupted, predictor_state, stop):
    ref_dir, ref = uninterrupted
    cfg = tiny_config(tmp_path, synth_dataset.shard_urls)
    first = train(cfg, stop_at_step=stop, single_process=True)
    assert first.step == stop
    second = train(cfg, single_process=True)
    assert second.resumed_from == stop and second.step == 6
    for got, want in zip(second.history, ref.history[stop:]):
        assert got["loss"] == pytest.approx(want["loss"], abs=1e-6)
    assert_same_weights(predictor_state(tmp_path / "checkpoints" / "latest.pt"),
                        predictor_state(ref_dir / "checkpoints" / "latest.pt"))
    assert second.best_val_loss == pytest.approx(ref.best_val_loss, abs=1e-6)


def test_full_disk_keeps_previous_checkpoint_and_resume_works(
    synth_dataset, tmp_path, uninterrupted, predictor_state, monkeypatch
):
    ref_dir, _ = uninterrupted
    cfg = tiny_config(tmp_path, synth_dataset.shard_urls)
    real_save = torch.save
    calls = {"n": 0}

    def save_then_fill_disk(obj, handle, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 2:  # the first checkpoint (step 2) lands, the next write hits ENOSPC
            handle.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(ckpt_module.torch, "save", save_then_fill_disk)
    with pytest.raises(OSError, match="No space left on device"):
        train(cfg, single_process=True)
    monkeypatch.undo()
    folder = tmp_path / "checkpoints"
    assert not [p for p in folder.iterdir() if ".tmp-" in p.name]
    assert torch.load(folder / "latest.pt", weights_only=True)["step"] == 2  # previous one intact
    summary = train(cfg, single_process=True)
    assert summary.resumed_from == 2 and summary.step == 6
    assert_same_weights(predictor_state(folder / "latest.pt"), predictor_state(ref_dir / "checkpoints" / "latest.pt"))


def test_export_round_trip(uninterrupted, tmp_path):
    run_dir, _ = uninterrupted
    from_run = load_exported(run_dir, "latest")
    out = export_run(run_dir, tmp_path / "export", "latest")
    from_export = load_exported(out)
    assert from_export.predictor == from_run.predictor and from_export.clip == from_run.clip
    assert from_export.encoder == from_run.encoder and from_export.step == 6
    assert from_export.scaler.to_dict() == from_run.scaler.to_dict()
    assert_same_weights(from_export.predictor_state, from_run.predictor_state)
    from craft_jepa.models import ACPredictor

    ACPredictor(from_export.predictor).load_state_dict(from_export.predictor_state, strict=True)


def test_nonfinite_streak_stops_with_a_clear_message(synth_dataset, tmp_path, monkeypatch):
    from craft_jepa.train.loop import NonFiniteLossError
    from craft_jepa.train.step import StepRunner

    real_prepare = StepRunner.prepare

    def poisoned(self, batch):  # corrupt the inputs, as a broken shard or a diverged encoder would
        z, actions, states = real_prepare(self, batch)
        return z * float("nan"), actions, states

    monkeypatch.setattr(StepRunner, "prepare", poisoned)
    cfg = tiny_config(tmp_path, synth_dataset.shard_urls, max_nonfinite_steps=2, **{"validation.every": 0})
    with pytest.raises(NonFiniteLossError, match="stopping at step 2: 2 optimizer steps in a row had a non-finite"):
        train(cfg, single_process=True)
    assert not (tmp_path / "checkpoints" / "latest.pt").exists()  # nothing bad was checkpointed
