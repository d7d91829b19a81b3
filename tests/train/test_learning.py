"""The tiny preset learns: on the synthetic shards, the teacher-forcing loss falls well below
the copy-last-frame baseline (predict z[t+1] = z[t]).

At 200 steps it beat copy-last by a thin margin (0.402-0.416 against 0.444-0.479: ratio 0.84-0.87),
so it trains 400. Measured (2-core AMD EPYC, 2026-12-07), mean over the last 25 steps: teacher
forcing 0.329 against copy-last 0.426 (ratio 0.77; steps 1-25: 0.640), the same to the printed
digit with 1 and 2 torch threads; 87-97 s. The bars: ratio < 0.85, and a fall to < 0.6 x the start.
"""

from __future__ import annotations

import pytest
from testkit.train_configs import tiny_config

from craft_jepa.train.loop import train

STEPS = 400
WINDOW = 25


@pytest.mark.slow
def test_tiny_preset_beats_copy_last_baseline(synth_dataset, tmp_path):
    cfg = tiny_config(
        tmp_path, synth_dataset.shard_urls,
        **{
            # The tiny-cpu preset (4 frames, batch 8), without validation and checkpoints.
            "clip.frames": 4, "clip.clips_per_segment": 4, "data.batch_size": 8,
            "data.shuffle_buffer_clips": 16, "schedule.total_steps": STEPS,
            "schedule.warmup_steps": 10, "schedule.decay_steps": 30,
            "validation.every": 0, "checkpoint.latest_every": STEPS, "logging.every": 25,
        },
    )
    summary = train(cfg, single_process=True)
    first, last = summary.history[:WINDOW], summary.history[-WINDOW:]
    mean = lambda rows, key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    tf_first, tf_last, copy_last = mean(first, "teacher_forcing"), mean(last, "teacher_forcing"), mean(last, "copy_last")
    print(f"teacher forcing {tf_first:.3f} -> {tf_last:.3f}; copy-last {copy_last:.3f}")
    assert tf_last < 0.6 * tf_first
    assert tf_last < 0.85 * copy_last
