"""`craft-jepa pretrain` on 2 gloo processes: DDP over the context encoder and predictor, the EMA
target on every rank, and a SIGTERM on one rank then resume ending where an uninterrupted run does."""

from __future__ import annotations

import pytest
import torch

from test_distributed_loop import run_ranks
from test_vjepa_run import pretrain_tree


def _weights(path):
    state = torch.load(path, weights_only=True)
    return {k: state[k] for k in ("encoder", "target_encoder", "predictor")}


@pytest.mark.slow
def test_two_ranks_preempted_and_resumed_equal_the_uninterrupted_run(synth_dataset, tmp_path):
    def tree(run_dir):
        return pretrain_tree(run_dir, synth_dataset.shard_urls, **{
            "data.num_workers": 0, "data.shuffle_buffer_clips": 0, "optim.eps": 1e-4, "checkpoint.every": 0,
            "vjepa.ema": [0.9, 0.99]})

    ref = tree(tmp_path / "ref")
    straight = run_ranks(tmp_path, [ref, ref])
    assert all(r["ok"] and r["step"] == 4 for r in straight), straight
    assert straight[0]["history"] == pytest.approx(straight[1]["history"], abs=1e-7)  # all-reduced losses
    t = tree(tmp_path / "run")
    first = run_ranks(tmp_path, [t, t], sigterm_after=2)
    assert all(r["ok"] and r["preempted"] and r["step"] == 2 for r in first), first
    second = run_ranks(tmp_path, [t, t])
    assert all(r["ok"] and r["resumed_from"] == 2 and r["step"] == 4 for r in second), second
    assert second[0]["history"] == pytest.approx(straight[0]["history"][2:], abs=1e-6)
    a, b = _weights(tmp_path / "ref/checkpoints/latest.pt"), _weights(tmp_path / "run/checkpoints/latest.pt")
    for entry in a:
        for k in a[entry]:
            assert torch.allclose(a[entry][k], b[entry][k], rtol=0, atol=1e-6), (entry, k)
