"""The demo's pre-training stage: the encoder the recipe freezes is the one pre-trained on the
training recordings, starting from the recipe's own encoder settings."""

from __future__ import annotations

import csv

import torch
import yaml


def _flat(encoder) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in encoder.parameters()])


def test_pretrain_encoder_pretrains_the_recipes_encoder_and_logs_its_spread(synth_dataset, tmp_path):
    from craft_jepa.encoders.frozen import EncoderConfig, FrozenEncoder
    from craft_jepa.pipelines.demo import pretrain_encoder

    train, val = list(synth_dataset.shard_urls[:1]), list(synth_dataset.shard_urls[1:])
    checkpoint = pretrain_encoder(train, val, tmp_path / "pretrain", seed=0, overrides=["encoder.init_seed=3"],
                                  steps=4)
    config = yaml.safe_load((tmp_path / "pretrain" / "config.yaml").read_text())
    assert config["objective"] == "vjepa" and config["encoder"]["init_seed"] == 3  # the recipe's encoder
    assert config["data"]["train_shards"] == train and config["data"]["val_shards"] == val
    assert config["schedule"]["total_steps"] == 4

    # The checkpoint is an encoder.checkpoint as it is (strict load of the target encoder)...
    pretrained = FrozenEncoder.from_config(EncoderConfig(name="vit_tiny", img_size=64, checkpoint=str(checkpoint)))
    start = FrozenEncoder.from_config(EncoderConfig(name="vit_tiny", img_size=64, init_seed=3))
    other = FrozenEncoder.from_config(EncoderConfig(name="vit_tiny", img_size=64, init_seed=0))
    # ...that moved away from the recipe's random weights it started from (init seed 3, not 0).
    moved = (_flat(pretrained.encoder) - _flat(start.encoder)).norm()
    assert moved > 0
    assert moved < 0.1 * (_flat(pretrained.encoder) - _flat(other.encoder)).norm()

    # The validation rows carry the collapse check the demo's summary points at.
    rows = [r for r in csv.DictReader(open(tmp_path / "pretrain" / "metrics.csv")) if r["split"] == "val"]
    assert rows and all(float(r["target_rank"]) > 1.0 and float(r["target_std"]) > 0 for r in rows)
