"""The tiny preset learns: on the synthetic shards, the teacher-forcing loss falls clearly
below the copy-last-frame baseline (predict z[t+1] = z[t]) within a small CPU budget."""

from __future__ import annotations

import pytest
from train_helpers import tiny_config

from craft_jepa.train.loop import train

STEPS = 150
WINDOW = 25


@pytest.mark.slow
def test_tiny_preset_beats_copy_last_baseline(synth_dataset, tmp_path):
    cfg = tiny_config(
        tmp_path, synth_dataset.shard_urls,
        **{
            # The tiny-cpu preset as shipped (4 frames, batch 8, 150 steps), without side work.
            "clip.frames": 4, "clip.clips_per_segment": 4, "data.batch_size": 8,
            "data.shuffle_buffer_clips": 16, "schedule.total_steps": STEPS,
            "schedule.warmup_steps": 10, "schedule.decay_steps": 30,
            "validation.every": 0, "checkpoint.latest_every": STEPS, "logging.every": 25,
        },
    )
    summary = train(cfg, single_process=True)
    first, last = summary.history[:WINDOW], summary.history[-WINDOW:]
    mean = lambda rows, key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    tf_last, copy_last = mean(last, "teacher_forcing"), mean(last, "copy_last")
    print(f"teacher forcing {mean(first, 'teacher_forcing'):.3f} -> {tf_last:.3f}; copy-last {copy_last:.3f}")
    assert tf_last < 0.9 * copy_last
