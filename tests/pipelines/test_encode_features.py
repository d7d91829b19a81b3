"""The feature cache end to end: `craft-jepa encode` on synthetic VPT shards, then training.

The bar: training from features gives the same losses as training from video on the same
clips. `--windows val` encodes exactly the window the video validation loader takes from
each segment, so the two validation loaders yield the same clips in the same order; a few
optimizer steps on those batches must then agree step by step (tightly with fp32 features,
within bf16 rounding with bf16 features).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from craft_jepa.data.clips import ClipConfig, Segment
from craft_jepa.data.feature_format import unpack_run
from craft_jepa.data.features import build_feature_val_loader
from craft_jepa.data.loader import build_val_loader
from craft_jepa.encoders import EncoderConfig, FrozenEncoder
from craft_jepa.models import ACPredictor, PredictorConfig
from craft_jepa.train.distributed import DistInfo
from craft_jepa.pipelines.encode_features import EncodeConfig, encode_features, pool_tokens
from craft_jepa.train.losses import LossConfig
from craft_jepa.train.optim import OptimConfig
from craft_jepa.train.schedule import ScheduleConfig
from craft_jepa.train.objectives.ac import ACObjective
from craft_jepa.train.step import StepRunner
from craft_jepa.vpt.layouts import get_action_layout, get_state_layout

CLIP = ClipConfig(frames=4, fps=5.0, size=64, action_layout="vpt13", state_layout="pitch")
ENC = EncoderConfig(name="vit_tiny", img_size=64)
SEED = 5  # validation.seed of both sides
REPO = Path(__file__).resolve().parents[2]


def encode(urls, out_dir, **kwargs):
    cfg = EncodeConfig(data=list(urls), out=str(Path(out_dir) / "features-{000000..}.tar"), seed=SEED,
                       progress=False, **{"windows": "val", "dtype": "fp32", **kwargs})
    return encode_features(CLIP, ENC, cfg)


@pytest.fixture(scope="module")
def encoded(synth_dataset, tmp_path_factory):
    """Output shard lists of three encodings of the synthetic shards."""
    root = tmp_path_factory.mktemp("encoded")
    return {
        "val_fp32": encode(synth_dataset.shard_urls, root / "val32").shards_written,
        "val_bf16": encode(synth_dataset.shard_urls, root / "val16", dtype="bf16").shards_written,
        "all_fp32": encode(synth_dataset.shard_urls, root / "all32", windows="all", frames_per_sample=20),
    }


@pytest.fixture(scope="module")
def video_batches(synth_dataset):
    """The video validation loader's batches (decoded once for the whole module)."""
    return video_val(synth_dataset)


def read_runs(urls):
    import webdataset as wds

    return [unpack_run(s, "test") for s in wds.tarfile_to_samples()(iter([{"url": u} for u in urls]))]


def video_val(synth_dataset, batch_size=2):
    return list(build_val_loader(CLIP, list(synth_dataset.shard_urls), batch_size=batch_size, num_workers=0,
                                 max_clips=None, seed=SEED))


def feature_val(urls, batch_size=2):
    return list(build_feature_val_loader(CLIP, urls, batch_size=batch_size, num_workers=0, max_clips=None, seed=SEED))


def make_runner(with_encoder: bool) -> StepRunner:
    predictor = ACPredictor(PredictorConfig(preset="ac_tiny", encoder_dim=ENC.embed_dim, grid_size=ENC.grid_size,
                                            action_dim=get_action_layout("vpt13").dim,
                                            state_dim=get_state_layout("pitch").dim, init_seed=0))
    encoder = FrozenEncoder.from_config(ENC) if with_encoder else None
    # eps 1e-4 keeps Adam's first steps from turning float32 noise on tiny gradients into lr-sized steps.
    objective = ACObjective(predictor, encoder, None, LossConfig(auto_steps=2), torch.device("cpu"))
    return StepRunner(objective, OptimConfig(lr=3e-3, eps=1e-4),
                      ScheduleConfig(total_steps=20, warmup_steps=0, decay_steps=0), DistInfo(), precision="fp32")


def test_val_encoding_yields_the_video_validation_clips(synth_dataset, encoded, video_batches):
    encoder = FrozenEncoder.from_config(ENC)
    video, features = video_batches, feature_val(encoded["val_fp32"])
    assert len(video) == len(features) and sum(len(b["key"]) for b in video) == len(synth_dataset.stems)
    for v, f in zip(video, features):
        assert v["key"] == f["key"]
        for name in ("start_tick", "actions", "states"):
            assert torch.equal(v[name], f[name]), name
        assert torch.allclose(f["tokens"], encoder(v["frames"]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("which, rel", [("val_fp32", 1e-5), ("val_bf16", 5e-3)])
def test_training_from_features_matches_training_from_video(synth_dataset, encoded, video_batches, which, rel):
    video, features = video_batches, feature_val(encoded[which])
    from_video, from_features = make_runner(True), make_runner(False)
    val_v, val_f = from_video.validate(video), from_features.validate(features)
    assert val_v["clips"] == val_f["clips"] == len(synth_dataset.stems)
    for name in ("loss", "copy_last"):
        assert val_f[name] == pytest.approx(val_v[name], rel=rel), name
    for step, (bv, bf) in enumerate(zip(video * 2, features * 2)):  # 4 optimizer steps on the same clips
        lv, lf = from_video.train_step([bv], step).losses, from_features.train_step([bf], step).losses
        for name in ("loss", "teacher_forcing", "rollout", "copy_last"):
            assert lf[name] == pytest.approx(lv[name], rel=rel), f"step {step} {name}"
    if which == "val_fp32":
        for (name, pv), pf in zip(from_video.predictor.named_parameters(), from_features.predictor.parameters()):
            assert torch.allclose(pv, pf, rtol=0, atol=1e-5), name


def test_all_windows_runs_hold_the_video_clips(synth_dataset, encoded):
    summary = encoded["all_fp32"]
    runs = read_runs(summary.shards_written)
    encoder = FrozenEncoder.from_config(ENC)
    layouts = get_action_layout(CLIP.action_layout), get_state_layout(CLIP.state_layout)
    segments = {}
    for stem in synth_dataset.stems:
        with open(synth_dataset.mp4(stem), "rb") as mp4, open(synth_dataset.jsonl(stem), "rb") as jsonl:
            segments[stem] = Segment(stem, mp4.read(), jsonl.read())
    try:
        expected_windows = sum(s.max_start(CLIP) // 4 + 1 for s in segments.values())
        assert summary.windows == expected_windows == sum(len(r.meta.frame_ticks) - 3 for r in runs)
        assert len({r.meta.key for r in runs}) == len(segments) and len(runs) > len(segments)  # segments span runs
        for run in runs:
            ticks = run.meta.frame_ticks
            for first in (0, len(ticks) - CLIP.frames):  # first and last window of each run
                (clip,) = segments[run.meta.key].cut([ticks[first]], CLIP, *layouts)
                frames = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float().div(255)  # (T, 3, H, W)
                mean, std = torch.tensor(CLIP.mean)[:, None, None], torch.tensor(CLIP.std)[:, None, None]
                tokens = encoder(((frames - mean) / std)[None])[0]
                assert torch.allclose(run.tokens[first:first + 4], tokens, rtol=0, atol=1e-4)
                assert torch.equal(run.actions[first:first + 3], torch.from_numpy(clip.actions))
                assert torch.equal(run.states[first:first + 4], torch.from_numpy(clip.states))
    finally:
        for segment in segments.values():
            segment.close()


def test_pooling_averages_neighbouring_patches(synth_dataset, encoded, tmp_path):
    pooled = read_runs(encode(synth_dataset.shard_urls, tmp_path, pool=2).shards_written)
    full = read_runs(encoded["val_fp32"])
    for p, f in zip(pooled, full):
        grid = ENC.grid_size
        image = f.tokens.reshape(-1, grid, grid, ENC.embed_dim)  # (L, g, g, D), patches row-major
        blocks = image.reshape(-1, grid // 2, 2, grid // 2, 2, ENC.embed_dim).mean(dim=(2, 4))  # (L, g/2, g/2, D)
        assert p.meta.grid_size == grid // 2 and p.meta.pool == 2
        assert torch.allclose(p.tokens, blocks.reshape(p.tokens.shape), atol=1e-6)
    assert torch.equal(pool_tokens(full[0].tokens, 1), full[0].tokens)


def test_ranks_split_shards_and_reruns_resume(synth_dataset, encoded, tmp_path):
    urls = list(synth_dataset.shard_urls)
    cfg = dict(windows="val", dtype="fp32", seed=SEED, progress=False)
    out = str(tmp_path / "features-{000000..}.tar")
    rank0 = encode_features(CLIP, ENC, EncodeConfig(data=urls, out=out, **cfg), rank=0, world_size=2)
    rank1 = encode_features(CLIP, ENC, EncodeConfig(data=urls, out=out, **cfg), rank=1, world_size=2)
    assert [os.path.basename(p) for p in rank0.shards_written] == ["features-000000.tar"]
    assert [os.path.basename(p) for p in rank1.shards_written] == ["features-000001.tar"]
    before = {p: os.stat(p).st_mtime_ns for p in rank0.shards_written + rank1.shards_written}
    again = encode_features(CLIP, ENC, EncodeConfig(data=urls, out=out, **cfg))
    assert again.shards_written == [] and sorted(again.shards_skipped) == sorted(before)

    # A killed job: shard 1 missing, a stale half-written .partial in its place.
    second = rank1.shards_written[0]
    os.remove(second)
    with open(second + ".partial", "wb") as f:
        f.write(b"half a tar")
    resumed = encode_features(CLIP, ENC, EncodeConfig(data=urls, out=out, **cfg))
    assert resumed.shards_written == [second] and resumed.shards_skipped == rank0.shards_written
    assert not os.path.exists(second + ".partial")
    assert os.stat(rank0.shards_written[0]).st_mtime_ns == before[rank0.shards_written[0]]
    new, reference = read_runs([second]), read_runs([encoded["val_fp32"][1]])
    assert [r.meta.key for r in new] == [r.meta.key for r in reference]
    assert all(torch.equal(a.tokens, b.tokens) for a, b in zip(new, reference))


def test_unreadable_input_shard_gets_no_output(synth_dataset, tmp_path):
    truncated = str(tmp_path / "cut.tar")
    with open(synth_dataset.shard_urls[0], "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read()[:100_000])
    summary = encode([synth_dataset.shard_urls[1], truncated], tmp_path / "out")
    assert list(summary.shards_failed) == [truncated]
    assert sorted(os.listdir(tmp_path / "out")) == ["features-000000.tar"]  # no final or partial output


@pytest.mark.slow
def test_cli_encode_then_train_from_pooled_features(synth_dataset, tmp_path):
    from craft_jepa.cli.main import main
    from craft_jepa.configuration import load_config
    from craft_jepa.train.config import RunConfig
    from craft_jepa.train.loop import train

    shards = tmp_path / "shards"
    shutil.copytree(synth_dataset.shard_dir, shards)
    features = tmp_path / "features"
    rc = main(["encode", "--config", str(REPO / "configs/tiny-cpu.yaml"), "--data", str(shards / "*.tar"),
               "--out", str(features / "features-{000000..}.tar"), "--pool", "2", "--no-progress"])
    assert rc == 0 and sorted(os.listdir(features)) == ["features-000000.tar", "features-000001.tar", "scaler.json"]
    overrides = [f"run_dir={tmp_path / 'run'}", "data.source=features", f"data.train_shards={features}",
                 "predictor.grid_size=2", "data.val_fraction=0.5", "schedule.total_steps=3",
                 "schedule.warmup_steps=1", "schedule.decay_steps=1", "validation.every=3",
                 "logging.progress_bar=false", "logging.tensorboard=false"]
    with pytest.raises(ValueError, match="needs data.scaler"):
        train(load_config(RunConfig, REPO / "configs/tiny-cpu.yaml", overrides), single_process=True)
    overrides.append(f"data.scaler={features / 'scaler.json'}")
    # Features of another random encoder (same name and width): refused, naming the shard and the seed.
    with pytest.raises(ValueError, match=r"features-00000\d\.tar.*another encoder.*encoder\.init_seed: 0 -> 1"):
        train(load_config(RunConfig, REPO / "configs/tiny-cpu.yaml", [*overrides, "encoder.init_seed=1"]),
              single_process=True)
    summary = train(load_config(RunConfig, REPO / "configs/tiny-cpu.yaml", overrides), single_process=True)
    assert summary.step == 3 and all(v == v for v in summary.train_losses.values())
    assert summary.val_losses["clips"] > 0
