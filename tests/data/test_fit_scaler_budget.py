"""A step budget for the auto-fitted scaler is spread over the shards, in a seeded order.

Shards here stand for players with different habits: shard i turns the mouse by 10*i per tick.
A budget that only reads the first shards in list order fits the first players' scale.
"""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest

from craft_jepa.data.fit_scaler import FitScalerConfig, fit_action_scaler
from craft_jepa.data.synth import SynthConfig, generate_recording
from craft_jepa.vpt.layouts import get_action_layout

SHARDS = 12


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def player_shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("players")
    lines, _ = generate_recording(SynthConfig(seconds=4.0, seed=3))  # 80 ticks: 20 steps at 5 fps
    for shard in range(SHARDS):
        parsed = [json.loads(line) for line in lines]
        for line in parsed:
            line["mouse"]["dx"] = 10.0 * shard
        data = ("\n".join(json.dumps(line) for line in parsed) + "\n").encode()
        with tarfile.open(root / f"shard-{shard:06d}.tar", "w") as tar:
            for seg in range(3):
                _add(tar, f"p{shard}-{seg}.mp4", b"\0" * 100)
                _add(tar, f"p{shard}-{seg}.jsonl", data)
    return root


def _mouse_dx_mean(result) -> float:
    layout = get_action_layout("vpt38")
    column = list(layout.continuous_indices).index(layout.feature_names.index("mouse_dx"))
    return float(np.asarray(result.scaler.to_dict()["mean"])[column])


def test_budget_is_spread_over_the_shards(player_shards):
    # 120 steps: 6 of the 12 shards' worth if read in order (mean 25); spread: 10 steps from each.
    result = fit_action_scaler(FitScalerConfig(data=str(player_shards), val_fraction=0.0, max_steps=120,
                                               progress=False, seed=1))
    assert result.scaler.count == 120 and result.stats.shards == SHARDS
    every_player = 4 * np.mean([10.0 * s for s in range(SHARDS)])  # 4 ticks aggregate into one step
    assert _mouse_dx_mean(result) == pytest.approx(every_player, rel=0.05)


def test_a_narrow_spread_samples_a_seeded_subset(player_shards):
    kwargs = dict(data=str(player_shards), val_fraction=0.0, max_steps=40, budget_spread=2, progress=False)
    a = fit_action_scaler(FitScalerConfig(seed=1, **kwargs))
    b = fit_action_scaler(FitScalerConfig(seed=1, **kwargs))
    c = fit_action_scaler(FitScalerConfig(seed=2, **kwargs))
    assert a.stats.shards == 2 and a.scaler.to_dict() == b.scaler.to_dict()
    assert _mouse_dx_mean(a) != _mouse_dx_mean(c)  # another seed, other shards: not list order
