"""The training input path: uint8 frames moved to the device and normalized there (StepRunner
with pixel_norm), the scaler's tensors cached, pinned batches on CUDA, mmap'ed checkpoint reads.
On the CPU every output must equal the float path exactly (the numbers the collator gives)."""

from __future__ import annotations

import itertools

import pytest
import torch

from testkit.train_configs import tiny_config
from craft_jepa.train.stream import TrainStream
from craft_jepa.data.sources import train_loader_factory
from craft_jepa.train.distributed import DistInfo
from craft_jepa.train.objectives.ac import ACObjective
from craft_jepa.train.step import StepRunner


@pytest.fixture(scope="module")
def setup(synth_dataset, tmp_path_factory):
    from craft_jepa.data.fit_scaler import FitScalerConfig, fit_action_scaler

    cfg = tiny_config(tmp_path_factory.mktemp("input"), synth_dataset.shard_urls,
                      **{"data.num_workers": 0, "data.shuffle_buffer_clips": 2, "data.batch_size": 2})
    scaler = fit_action_scaler(FitScalerConfig(data=list(synth_dataset.shard_urls), val_fraction=0.0,
                                               max_steps=500, progress=False)).scaler
    urls = list(synth_dataset.shard_urls)

    def take(uint8: bool, pin: bool = False) -> list[dict]:
        factory = train_loader_factory(cfg.data, cfg.clip, urls, uint8_frames=uint8, pin_memory=pin)
        return list(itertools.islice(TrainStream(factory, seed=3, chunk_batches=2), 3))

    return cfg, scaler, take


def _runner(cfg, scaler, device: str = "cpu", pixel_norm: bool = True) -> StepRunner:
    from craft_jepa.encoders import FrozenEncoder
    from craft_jepa.models import ACPredictor

    objective = ACObjective(ACPredictor(cfg.predictor), FrozenEncoder.from_config(cfg.encoder, device), scaler,
                            cfg.loss, torch.device(device))
    return StepRunner(objective, cfg.optim, cfg.schedule, DistInfo(device=torch.device(device)), precision="fp32",
                      pixel_norm=(cfg.clip.mean, cfg.clip.std) if pixel_norm else None)


def test_loader_ships_uint8_frames(setup):
    _, _, take = setup
    for f, r in zip(take(uint8=False), take(uint8=True)):
        assert r["frames"].dtype == torch.uint8 and r["frames"].shape == f["frames"].shape  # (B, T, 3, H, W)
        assert r["frames"].is_contiguous() and r["key"] == f["key"]


def test_cpu_step_inputs_equal_the_float_path(setup):
    cfg, scaler, take = setup
    runner = _runner(cfg, scaler)
    for f, r in zip(take(uint8=False), take(uint8=True)):
        for got, want in zip(runner.prepare(r), runner.prepare(f)):  # z, scaled actions, states
            assert torch.equal(got, want)


def test_uint8_frames_without_pixel_norm_are_refused(setup):
    cfg, scaler, take = setup
    with pytest.raises(ValueError, match="pixel_norm"):
        _runner(cfg, scaler, pixel_norm=False).prepare(take(uint8=True)[0])


def test_scaler_tensors_are_built_once_per_device_and_dtype():
    from craft_jepa.vpt.layouts import get_action_layout
    from craft_jepa.vpt.scaler import ActionScaler

    layout = get_action_layout("vpt38")
    scaler = ActionScaler.identity(layout)
    actions = torch.randn(2, 3, layout.dim)
    first = scaler._vectors_like(actions)
    assert scaler._vectors_like(actions.clone())[0] is first[0]  # cached, not rebuilt per step
    assert torch.equal(scaler.transform(actions), actions)
    assert scaler._vectors_like(actions.double())[0].dtype == torch.float64


def test_mmap_read_of_one_entry_equals_a_full_read(tmp_path):
    from craft_jepa.runs.checkpoints import atomic_torch_save, load_checkpoint

    state = {"predictor": {"w": torch.arange(6.0)}, "optimizer": {"big": torch.zeros(1000)}, "step": 3}
    atomic_torch_save(state, tmp_path / "c.pt")
    mapped = load_checkpoint(tmp_path / "c.pt", mmap=True)
    assert torch.equal(mapped["predictor"]["w"], state["predictor"]["w"]) and mapped["step"] == 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_are_pinned_and_normalize_like_the_cpu(setup):
    cfg, scaler, take = setup
    raw = take(uint8=True, pin=True)
    assert raw[0]["frames"].is_pinned()
    runner = _runner(cfg, scaler, "cuda")
    for f, r in zip(take(uint8=False), raw):
        frames = runner._normalize_pixels(r["frames"].to("cuda", non_blocking=True))
        torch.testing.assert_close(frames.cpu(), f["frames"], rtol=0, atol=1e-6)
