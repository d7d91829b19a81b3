"""The training input path: uint8 frames moved to the device and normalized there, the scaler's
tensors cached, pinned batches on CUDA, mmap'ed checkpoint reads. On the CPU every output must
equal the float path exactly (the numbers the collator produced before)."""

from __future__ import annotations

import itertools

import pytest
import torch

from train_helpers import tiny_config
from craft_jepa.train.data import TrainStream, train_loader_factory


@pytest.fixture(scope="module")
def streams(synth_dataset, tmp_path_factory):
    cfg = tiny_config(tmp_path_factory.mktemp("input"), synth_dataset.shard_urls,
                      **{"data.num_workers": 0, "data.shuffle_buffer_clips": 2, "data.batch_size": 2})
    urls = list(synth_dataset.shard_urls)

    def take(device, uint8: bool, pin: bool = False) -> list[dict]:
        factory = train_loader_factory(cfg.data, cfg.clip, urls, uint8_frames=uint8, pin_memory=pin)
        stream = TrainStream(factory, seed=3, chunk_batches=2, device=torch.device(device),
                             pixel_norm=(cfg.clip.mean, cfg.clip.std))
        return list(itertools.islice(stream, 3))

    return cfg, take


def test_uint8_path_gives_the_float_batches_on_the_cpu(streams):
    _, take = streams
    floats, raw = take("cpu", uint8=False), take("cpu", uint8=True)
    for f, r in zip(floats, raw):
        assert r["key"] == f["key"] and r["frames"].dtype == torch.float32
        assert r["frames"].shape == f["frames"].shape and r["frames"].is_contiguous()  # (B, T, 3, H, W)
        assert torch.equal(r["frames"], f["frames"])


def test_loader_ships_uint8_frames(streams, synth_dataset):
    cfg, _ = streams
    factory = train_loader_factory(cfg.data, cfg.clip, list(synth_dataset.shard_urls), uint8_frames=True)
    batch = next(iter(factory(3, 0, 2)))
    assert batch["frames"].dtype == torch.uint8 and batch["frames"].shape[2] == 3  # (B, T, 3, H, W): 4x fewer bytes


def test_uint8_frames_without_a_device_are_refused(streams, synth_dataset):
    cfg, _ = streams
    factory = train_loader_factory(cfg.data, cfg.clip, list(synth_dataset.shard_urls), uint8_frames=True)
    with pytest.raises(ValueError, match="device / pixel_norm"):
        next(TrainStream(factory, seed=3, chunk_batches=2))


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
    from craft_jepa.train.checkpoint import atomic_torch_save, load_checkpoint

    state = {"predictor": {"w": torch.arange(6.0)}, "optimizer": {"big": torch.zeros(1000)}, "step": 3}
    atomic_torch_save(state, tmp_path / "c.pt")
    mapped = load_checkpoint(tmp_path / "c.pt", mmap=True)
    assert torch.equal(mapped["predictor"]["w"], state["predictor"]["w"]) and mapped["step"] == 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_are_pinned_and_normalize_like_the_cpu(streams, synth_dataset):
    cfg, take = streams
    factory = train_loader_factory(cfg.data, cfg.clip, list(synth_dataset.shard_urls), uint8_frames=True,
                                   pin_memory=True)
    assert next(iter(factory(3, 0, 2)))["frames"].is_pinned()
    for f, g in zip(take("cpu", uint8=False), take("cuda", uint8=True, pin=True)):
        assert g["frames"].device.type == "cuda"
        torch.testing.assert_close(g["frames"].cpu(), f["frames"], rtol=0, atol=1e-6)
