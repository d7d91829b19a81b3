"""The pixel decoder (models/decoder.py) trained by the decoder objective on the shared run loop.

The decoder of a frozen random-weight vit_tiny (32 px frames, 2x2 tokens) trained for a few
dozen steps on 2 synthetic recordings must beat the mean training frame on held-out
recordings by PSNR_MARGIN_DB; loading is strict.
"""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from craft_jepa.runs.decoder_files import DECODER_META, DECODER_WEIGHTS, load_decoder, save_decoder
from craft_jepa.models.pixel_decoder import DecoderConfig, TokenDecoder, psnr, ssim

PSNR_MARGIN_DB = 2.0  # held-out decoder PSNR - mean-frame PSNR (measured: about 4 dB after 60 steps)
STEPS = 60
RUN = [f"schedule.total_steps={STEPS}", "schedule.decay_steps=15", "logging.progress_bar=false",
       "logging.tensorboard=false"]


def test_ssim_and_psnr_order_images_by_their_distortion():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 32, 32, generator=g)
    noisy = [(x + s * torch.randn(x.shape, generator=g)).clamp(0, 1) for s in (0.02, 0.1, 0.3)]
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)
    scores = [ssim(x, n).item() for n in noisy]
    db = [psnr(n, x).mean().item() for n in noisy]
    assert scores == sorted(scores, reverse=True) and db == sorted(db, reverse=True)


def test_decoder_shapes_and_a_strict_load(tmp_path):
    decoder = TokenDecoder(DecoderConfig(width=32), embed_dim=96, grid_size=4, img_size=64)
    out = decoder(torch.randn(2, 3, 16, 96))
    assert out.shape == (2, 3, 3, 64, 64) and out.min() >= 0 and out.max() <= 1
    save_decoder(tmp_path, decoder, {"encoder": {}})
    loaded = load_decoder(tmp_path, embed_dim=96, grid_size=4, img_size=64)
    z = torch.randn(5, 16, 96)
    torch.testing.assert_close(loaded(z), decoder.eval()(z))
    with pytest.raises(ValueError, match="powers of 2"):
        TokenDecoder(DecoderConfig(), 96, 3, 64)
    # a weights file with a key missing and one renamed is refused, naming both
    from safetensors.torch import load_file, save_file

    from craft_jepa.encoders.checkpoint import StateDictMismatchError

    state = load_file(str(tmp_path / DECODER_WEIGHTS))
    state["head.extra"] = state.pop("head.bias")
    save_file(state, str(tmp_path / DECODER_WEIGHTS))
    with pytest.raises(StateDictMismatchError, match="head.bias"):
        load_decoder(tmp_path, embed_dim=96, grid_size=4, img_size=64)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synth_dataset):
    from craft_jepa.pipelines import demo
    from craft_jepa.configuration import dump_config
    from craft_jepa.pipelines.decoder_training import train_decoder

    root = tmp_path_factory.mktemp("decoder-run")
    cfg = demo._config([f"run_dir={root}", "data.train_shards=unused", "clip.size=32", "encoder.img_size=32",
                        "predictor.grid_size=2"])
    dump_config(cfg, root / "config.yaml")  # an AC run's config: the decoder reads its encoder and clip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the trained weights must not depend on the machine's core count
    try:
        record = train_decoder(root, synth_dataset.shard_urls[:1], heldout_shards=synth_dataset.shard_urls[1:],
                               overrides=RUN)
    finally:
        torch.set_num_threads(threads)
    return root, record


def test_decoder_beats_the_mean_frame_on_held_out_recordings(trained):
    root, record = trained
    scores = record["scores"]
    print("decoder held-out scores:", scores)
    assert scores["heldout"] and scores["frames"] >= 8
    assert scores["margin_db"] >= PSNR_MARGIN_DB, scores
    assert scores["l1"] < scores["mean_frame_l1"], scores
    assert scores["frames_better_than_mean_frame"] == 1.0, scores
    meta = json.loads((root / "decoder" / DECODER_META).read_text())
    assert meta["scores"] == scores and meta["steps"] == STEPS
    assert meta["encoder"]["name"] == "vit_tiny" and meta["img_size"] == 32 and meta["grid_size"] == 2


def test_a_decoder_run_resumes_and_refuses_another_network(trained):
    """The shared loop's resume: the decoder run continues from its latest.pt; a wider decoder is refused."""
    from craft_jepa.runs.compat import CheckpointMismatchError
    from craft_jepa.train.loop import train
    from craft_jepa.pipelines.decoder_training import decoder_run_config

    root, _ = trained
    train_shards = yaml.safe_load((root / "decoder" / "config.yaml").read_text())["data"]["train_shards"]
    cfg = decoder_run_config(root, train_shards, RUN)
    summary = train(cfg, single_process=True)
    assert summary.resumed_from == STEPS and summary.step == STEPS  # nothing left to do
    wider = decoder_run_config(root, train_shards, [*RUN, "decoder.width=128"])
    with pytest.raises(CheckpointMismatchError, match="decoder.width"):
        train(wider, single_process=True)


def test_a_feature_cache_stands_for_the_video_shards_it_was_encoded_from(tmp_path, synth_dataset):
    import shutil

    from craft_jepa.pipelines import demo
    from craft_jepa.pipelines.decoder_training import video_shards_for

    video = list(synth_dataset.shard_urls[:1])
    folder = demo.encode_cache(video, tmp_path / "features", "val",
                               overrides=["clip.size=32", "encoder.img_size=32", "predictor.grid_size=2"])
    features = sorted(str(p) for p in folder.glob("*.tar"))
    assert features and video_shards_for(features) == video
    assert video_shards_for(video) == video  # video shards stay what they are
    moved = tmp_path / "moved.tar"
    shutil.copyfile(video[0], moved)
    cache = tmp_path / "cache-of-moved"
    demo.encode_cache([str(moved)], cache, "val",
                      overrides=["clip.size=32", "encoder.img_size=32", "predictor.grid_size=2"])
    moved.unlink()
    with pytest.raises(FileNotFoundError, match="feature shard"):
        video_shards_for(sorted(str(p) for p in cache.glob("*.tar")))
