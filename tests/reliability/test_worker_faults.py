"""Loader worker faults surface as clear errors, fast, never as a hang; NaN/inf losses stop a run
after `max_nonfinite_steps` skipped steps in a row, with a message that says what to do.

SIGKILL during training and during a checkpoint write, and a full disk on a checkpoint write,
are covered by tests/reliability/test_train_faults.py and tests/train/test_loop.py; the skip of
a single non-finite step by tests/train/test_step.py::test_nonfinite_loss_skips_the_update.
"""

from __future__ import annotations

import shlex
import time
import warnings

import pytest

from testkit.train_configs import tiny_config

from craft_jepa.data.clips import ClipConfig
from craft_jepa.data.loader import ClipStream, DataWarning, StreamConfig, _data_loader, build_train_loader

CLIP = ClipConfig(frames=3, fps=5.0, size=32, clips_per_segment=1)
# A shard "URL" whose shell kills the loader worker that opened it ($PPID of `sh -c`): the
# stand-in for the OOM killer or a segfault in a decoder.
KILL_WORKER = "pipe:kill -9 $PPID"


def _stalled(url: str, seconds: int) -> str:
    """A shard URL that delivers nothing for `seconds` (a hung NFS/S3 read), then the shard."""
    return f"pipe:sleep {seconds}; cat {shlex.quote(url)}"


def _first_batch(loader) -> float:
    start = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        next(iter(loader))
    return time.monotonic() - start


def test_killed_worker_is_a_clear_error_not_a_hang(synth_dataset):
    loader = build_train_loader(CLIP, [KILL_WORKER], batch_size=2, num_workers=1, seed=0,
                                shuffle_buffer_clips=0)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid.*\) (is killed by signal|exited unexpectedly)"):
        _first_batch(loader)
    assert time.monotonic() - start < 30


class _BuggyStream(ClipStream):
    """A stream with a bug in its clip cutting: the error must reach the training process."""

    def _segment_clips(self, sample, rng, counters):
        raise ZeroDivisionError(f"bug while cutting {sample['__key__']}")


def test_worker_exception_is_re_raised_with_its_message(synth_dataset):
    stream = _BuggyStream(CLIP, list(synth_dataset.shard_urls), StreamConfig(train=True, shuffle_buffer_clips=0))
    loader = _data_loader(stream, batch_size=2, num_workers=1, drop_last=True, multiprocessing_context=None,
                          timeout_s=60)
    with pytest.raises(ZeroDivisionError, match="bug while cutting"):
        _first_batch(loader)


def test_stalled_worker_times_out_instead_of_hanging(synth_dataset):
    stalled = _stalled(synth_dataset.shard_urls[0], 5)
    loader = build_train_loader(CLIP, [stalled], batch_size=2, num_workers=1, seed=0, shuffle_buffer_clips=0,
                                timeout_s=2)
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 2(\.0)? seconds"):
        _first_batch(loader)
    # ... while the same slow shard is waited for when the timeout allows it
    slow = build_train_loader(CLIP, [_stalled(synth_dataset.shard_urls[0], 1)], batch_size=2, num_workers=1,
                              seed=0, shuffle_buffer_clips=0, timeout_s=60)
    assert _first_batch(slow) >= 1


def test_training_stops_with_a_clear_error_when_a_worker_dies(synth_dataset, identity_scaler, tmp_path):
    from craft_jepa.train.loop import train

    cfg = tiny_config(tmp_path / "run", [KILL_WORKER], **{
        "data.scaler": identity_scaler, "data.val_shards": None, "data.num_workers": 1,
        "validation.every": 0})
    with pytest.raises(RuntimeError, match="DataLoader worker"):
        train(cfg, single_process=True)


def test_training_stops_with_a_clear_error_when_a_worker_stalls(synth_dataset, identity_scaler, tmp_path):
    from craft_jepa.train.loop import train

    cfg = tiny_config(tmp_path / "run", [_stalled(synth_dataset.shard_urls[0], 5)], **{
        "data.scaler": identity_scaler, "data.val_shards": None, "data.num_workers": 1,
        "data.worker_timeout_s": 2, "validation.every": 0})
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 2(\.0)? seconds"):
        train(cfg, single_process=True)


def test_non_finite_losses_stop_the_run_after_n_in_a_row(synth_dataset, tmp_path, capsys):
    """A scaler whose scale underflows float32 turns every action into inf, so every step's loss
    is non-finite: each update is skipped and counted, and the run stops at the limit."""
    import csv

    from craft_jepa.train.loop import NonFiniteLossError, train
    from craft_jepa.vpt.layouts import get_action_layout
    from craft_jepa.vpt.scaler import ActionScaler

    scaler = ActionScaler.identity(get_action_layout("vpt38"))
    scaler.scale = scaler.scale * 1e-300
    scaler.save(tmp_path / "tiny-scale.json")
    run_dir = tmp_path / "run"
    cfg = tiny_config(run_dir, synth_dataset.shard_urls, **{
        "data.scaler": str(tmp_path / "tiny-scale.json"), "data.val_shards": None, "data.num_workers": 0,
        "validation.every": 0, "max_nonfinite_steps": 3, "checkpoint.latest_every": 2})
    with pytest.raises(NonFiniteLossError, match="stopping at step 3: 3 optimizer steps in a row had a non-finite"
                                                 r".*latest\.pt"):
        train(cfg, single_process=True)
    with open(run_dir / "metrics.csv", newline="") as handle:
        skipped = [int(float(r["skipped_steps"])) for r in csv.DictReader(handle) if r["split"] == "train"]
    assert skipped == [1, 2]  # the metric rows before the stop ...
    err = capsys.readouterr().err  # ... and every skipped step in the log
    for step in (1, 2, 3):
        assert f"step {step}: non-finite loss or gradients, update skipped ({step} in a row" in err, err[-2000:]
