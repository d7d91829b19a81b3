"""Atomic checkpoint writes, retention, full disk, strict loading, RNG round trip."""

from __future__ import annotations

import errno
import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from craft_jepa.runs import checkpoints as ckpt
from craft_jepa.runs.checkpoints import CheckpointConfig, CheckpointManager, atomic_torch_save, load_checkpoint
from craft_jepa.encoders import load_state_dict_strict
from craft_jepa.train.rng import capture_rng_state, restore_rng_state


def test_retention_latest_every_n_keep_last_and_best(tmp_path):
    manager = CheckpointManager(tmp_path, CheckpointConfig(every=2, keep_last=2))
    for step in range(1, 8):
        manager.save({"step": step, "w": torch.full((3,), float(step))}, step, best=(step == 3))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["best.pt", "latest.pt", "step_00000004.pt", "step_00000006.pt"]
    assert load_checkpoint(tmp_path / "latest.pt")["step"] == 7
    assert load_checkpoint(tmp_path / "best.pt")["step"] == 3  # untouched by later writes
    assert load_checkpoint(tmp_path / "step_00000006.pt")["step"] == 6
    assert manager.resume_path() == tmp_path / "latest.pt"


def test_full_disk_fails_loudly_and_keeps_previous(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"
    atomic_torch_save({"step": 1}, path)

    def no_space(obj, handle, *args, **kwargs):
        handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt.torch, "save", no_space)
    with pytest.raises(OSError, match=r"latest\.pt failed: No space left on device \(disk full\?\)"):
        atomic_torch_save({"step": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert os.listdir(tmp_path) == ["latest.pt"]  # no temporary left behind


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / "latest.pt.tmp-123").write_bytes(b"torn")
    manager = CheckpointManager(tmp_path, CheckpointConfig())
    assert [p.name for p in manager.remove_stale_temporaries()] == ["latest.pt.tmp-123"]
    assert manager.resume_path() is None


def test_weights_only_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"obj": nn.Linear(2, 2)}, path)  # a pickled module, not plain weights
    with pytest.raises(RuntimeError, match="cannot load checkpoint .*evil.pt"):
        load_checkpoint(path)


def test_strict_loading_lists_problems():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    state = model.state_dict()
    state["0.weight"] = torch.zeros(4, 2)
    del state["1.bias"]
    state["extra"] = torch.zeros(1)
    with pytest.raises(RuntimeError) as err:
        load_state_dict_strict(model, state, "predictor")
    text = str(err.value)
    assert "1 missing key(s): 1.bias" in text and "1 unexpected key(s): extra" in text
    assert "0.weight (checkpoint (4, 2) vs model (3, 2))" in text


def test_rng_round_trip_through_weights_only_file(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = capture_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(2))
    atomic_torch_save({"rng": state}, tmp_path / "r.pt")
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng_state(load_checkpoint(tmp_path / "r.pt")["rng"])
    got = (random.random(), np.random.rand(), torch.rand(2))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])
