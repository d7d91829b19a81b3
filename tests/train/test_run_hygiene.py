"""Smaller run-level guarantees: finite numbers in configs, a real CPU memory peak, a refused
resume that leaves RUN_DIR/config.yaml alone, and worker timeouts for both loaders."""

from __future__ import annotations

import gc

import numpy as np
import psutil
import pytest

from testkit.train_configs import tiny_config, tiny_tree
from craft_jepa.configuration import ConfigError, load_config
from craft_jepa.train.config import RunConfig


@pytest.mark.parametrize("key", ["optim.lr", "optim.weight_decay", "optim.eps", "optim.grad_clip",
                                 "schedule.start_lr", "data.worker_timeout_s"])
@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_non_finite_numbers_are_refused_naming_the_key(tmp_path, synth_dataset, key, value):
    with pytest.raises(ConfigError, match="finite|expected a number") as caught:  # nan: not a number at all
        load_config(RunConfig, tiny_tree(tmp_path, synth_dataset.shard_urls, **{key: value}))
    section, name = key.split(".")
    assert section in str(caught.value) and name in str(caught.value), caught.value


def test_lr_inf_from_yaml_is_refused(tmp_path, synth_dataset):
    import yaml

    text = yaml.safe_dump(tiny_tree(tmp_path, synth_dataset.shard_urls)).replace("lr: 0.003", "lr: .inf")
    assert "lr: .inf" in text
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError, match="lr must be a finite number"):
        load_config(RunConfig, tmp_path / "c.yaml")


def test_cpu_peak_memory_is_a_high_water_mark():
    from craft_jepa.train.loop import _peak_memory_mb

    import torch

    gc.collect()
    rss = psutil.Process().memory_info().rss / 2**20
    extra = max(0.0, _peak_memory_mb(torch.device("cpu")) - rss) + 200  # MiB above any earlier peak
    block = np.ones(int(extra * 2**20), dtype=np.uint8)  # touched: resident
    high = psutil.Process().memory_info().rss / 2**20
    del block
    gc.collect()
    after = psutil.Process().memory_info().rss / 2**20
    peak = _peak_memory_mb(torch.device("cpu"))
    assert after < high - 100  # the block is gone from the current RSS ...
    assert peak >= high - 5  # ... but not from the peak


def test_refused_resume_leaves_config_yaml_alone(tmp_path, synth_dataset):
    from craft_jepa.runs.compat import CheckpointMismatchError
    from craft_jepa.train.loop import train

    cfg = tiny_config(tmp_path, synth_dataset.shard_urls, **{"schedule.total_steps": 4, "validation.every": 0})
    train(cfg, stop_at_step=2, single_process=True)
    written = (tmp_path / "config.yaml").read_text()
    other = tiny_config(tmp_path, synth_dataset.shard_urls, **{
        "schedule.total_steps": 4, "validation.every": 0, "predictor.width": 64})
    with pytest.raises(CheckpointMismatchError, match="predictor.width"):
        train(other, single_process=True)
    assert (tmp_path / "config.yaml").read_text() == written


@pytest.mark.parametrize("source", ["video", "features"])
def test_both_loaders_get_the_worker_timeout(tmp_path, synth_dataset, source):
    from craft_jepa.data.config import DataConfig
    from craft_jepa.data.sources import build_val_batches, train_loader_factory

    cfg = DataConfig(source=source, train_shards=list(synth_dataset.shard_urls), num_workers=1,
                     worker_timeout_s=123.0)
    clip = tiny_config(tmp_path, synth_dataset.shard_urls).clip
    loader = train_loader_factory(cfg, clip, list(synth_dataset.shard_urls))(0, 0, 4)
    assert loader.timeout == 123.0
    val = build_val_batches(cfg, clip, list(synth_dataset.shard_urls), batch_size=2, max_clips=2, seed=0)
    assert val.loader.timeout == 123.0
