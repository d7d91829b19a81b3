"""The eval runner end to end on synthetic shards with an untrained tiny export (fast)."""

from __future__ import annotations

import json

import pytest

from craft_jepa.eval.overlap import TrainingDataOverlap
from craft_jepa.eval.heldout import EvalConfig
from craft_jepa.planning.action_space import ActionSpaceConfig
from craft_jepa.planning.cem import CEMConfig
from craft_jepa.pipelines.evaluate import evaluate_run
from craft_jepa.planning.offline import OfflinePlanConfig

from testkit.runs import make_tiny_export


def _configs(seed: int = 0):
    eval_cfg = EvalConfig(clips=6, windows_per_segment=2, batch_size=4, seed=seed, progress=False)
    plan_cfg = OfflinePlanConfig(pairs=3, landscape_points=5, plan_batch=2, cem_seeds=(seed, seed + 1),
                                 cem=CEMConfig(horizon=2, samples=16, top_k=4, iterations=2),
                                 action_space=ActionSpaceConfig(plan="actions"))
    return eval_cfg, plan_cfg


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return make_tiny_export(tmp_path_factory.mktemp("export"))


def test_report_files_and_contents(export_dir, synth_dataset, tmp_path):
    report, paths = evaluate_run(export_dir, list(synth_dataset.shard_urls), tmp_path / "a", *_configs())
    for name in ("json", "markdown", "horizons", "sensitivity", "landscape"):
        assert paths[name].is_file() and paths[name].stat().st_size > 0, name
    assert paths["horizons"].read_bytes()[:4] == b"\x89PNG"
    assert report["clips"] == 6 and report["horizon"] == 3
    for mode in ("tf", "rollout"):
        assert set(report["horizons"][mode]) == {"model", "copy_last", "dataset_mean",
                                                 "zero_actions", "shuffled_actions"}
        assert all(len(v["l1"]) == 3 for v in report["horizons"][mode].values())
    assert {"camera", "movement", "hotbar", "buttons", "gui"} <= set(report["sensitivity"])
    assert {"real", "predicted", "no_future", "majority"} <= set(report["probe"])
    summary = report["planning"]["summary"]
    assert summary["pairs"] == 3 and 0.0 <= summary["key_agreement"] <= 1.0
    for baseline in ("key_agreement_all_zero_plan", "key_agreement_majority_plan", "yaw_majority_sign_rate",
                     "zero_camera_error_deg", "mean_camera_error_deg"):
        assert baseline in summary, baseline
    assert summary["cem_seeds"]["seeds"] == [0, 1]
    head = report["headline"]
    row = head["shuffled_over_model_h1"]
    assert row["lo"] <= row["value"] <= row["hi"] and row["margin"] == 1.05
    assert row["clears_margin"] == (row["lo"] >= 1.05)
    assert len(report["planning"]["landscape"]["energy"]) == 5
    assert isinstance(report["data_stats"], dict)
    loaded = json.loads(paths["json"].read_text())  # strict JSON (no NaN)
    assert loaded["headline"]["model_l1_h1"] == pytest.approx(report["headline"]["model_l1_h1"])
    markdown = paths["markdown"].read_text()
    assert "copy last frame" in markdown and "Offline planning" in markdown
    assert "majority sign" in markdown and "all-zero plan" in markdown


def test_same_seed_same_report(export_dir, synth_dataset, tmp_path):
    a, _ = evaluate_run(export_dir, list(synth_dataset.shard_urls), tmp_path / "a", *_configs())
    b, _ = evaluate_run(export_dir, list(synth_dataset.shard_urls), tmp_path / "b", *_configs())
    a.pop("timings"), b.pop("timings")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_repeated_windows_are_dropped_and_counted(export_dir):
    import torch

    from craft_jepa.runs.loading import load_run
    from craft_jepa.eval.heldout import encode_batches

    def batch(keys, ticks, seed):
        g = torch.Generator().manual_seed(seed)
        n = len(keys)
        return {"tokens": torch.randn(n, 4, 4, 96, generator=g), "actions": torch.zeros(n, 3, 38),
                "states": torch.zeros(n, 4, 0), "key": keys, "start_tick": torch.tensor(ticks),
                "stats": {"bad_jsonl_lines": torch.tensor([1] * n)}}

    run = load_run(export_dir)
    first = batch(["a", "b"], [0, 8], 0)
    clips = encode_batches(run, [first, first, batch(["a", "c"], [4, 0], 1)], 10, progress=False)
    assert clips.keys == ["a", "b", "a", "c"]
    assert clips.stats["duplicate_windows"] == 2 and clips.stats["bad_jsonl_lines"] == 6
    torch.testing.assert_close(clips.z[:2], torch.nn.functional.layer_norm(first["tokens"], (96,)))


def test_eval_refuses_data_the_run_trained_on(export_dir, synth_dataset, tmp_path):
    import shutil

    # An export whose run trained on the synthetic shards.
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shards = list(synth_dataset.shard_urls)
    (run_dir / "config.yaml").write_text(json.dumps({"data": {"train_shards": shards[:-1]}}))
    export = tmp_path / "export"
    shutil.copytree(export_dir, export)
    meta = json.loads((export / "craft_jepa.json").read_text())
    meta["source"] = str(run_dir)
    (export / "craft_jepa.json").write_text(json.dumps(meta))
    eval_cfg, _ = _configs()
    with pytest.raises(TrainingDataOverlap, match="training shards of"):
        evaluate_run(export, shards, tmp_path / "a", eval_cfg, None)
    # the same recordings packed again under another name: caught by segment key
    again = tmp_path / "again.tar"
    shutil.copy(shards[0], again)
    with pytest.raises(TrainingDataOverlap, match="also sit in training shard"):
        evaluate_run(export, [str(again)], tmp_path / "b", eval_cfg, None)
    # held-out shards pass, and --allow-train-data lets a user evaluate on training data on purpose
    evaluate_run(export, shards[-1:], tmp_path / "c", eval_cfg, None)
    evaluate_run(export, shards, tmp_path / "d", eval_cfg, None, allow_train_data=True)


def test_segment_keys_of_video_and_feature_shards(tmp_path):
    import io
    import tarfile

    from craft_jepa.eval.overlap import segment_keys

    stem = "brave-ivory-marten-78e0b2d9d1d0-20210616-134107"
    for name, members in (("video.tar", [f"{stem}.mp4", f"{stem}.jsonl", f"{stem}.options.json"]),
                          ("features.tar", [f"{stem}_000000.json", f"{stem}_000244.safetensors"])):
        with tarfile.open(tmp_path / name, "w") as archive:
            for member in members:
                info = tarfile.TarInfo(member)
                info.size = 1
                archive.addfile(info, io.BytesIO(b"x"))
        assert segment_keys(str(tmp_path / name)) == {stem}, name


def test_to_rgb_undoes_the_input_normalization(export_dir):
    import numpy as np
    import torch

    from craft_jepa.runs.loading import load_run

    run = load_run(export_dir)
    size = run.clip.size
    images = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    rgb = run.to_rgb(run.frames_to_input(images))  # (2, 3, size, size)
    assert rgb.shape == (2, 3, size, size)
    assert torch.allclose(rgb.permute(0, 2, 3, 1), torch.as_tensor(images).float() / 255, atol=1e-5)
