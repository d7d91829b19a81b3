"""Camera alignment and units of VPT-format recordings: image shift vs recorded yaw/pitch.

For every STEM.mp4 + STEM.jsonl under RAW_DIR (e.g. `craft-jepa record --shards` writes them
to OUT/raw), prints the rank correlation of the horizontal phase-correlation shift of frames
i -> i+1 with the recorded yaw delta of line i at lags -3..3 (peak lag, value at lag 0, Pearson
r at lag 0, margin over the other lags), the pixels per degree, the same for the first
differences ("change", whose peak is sharp), and the pitch's correlation with the vertical
shift; then the min / median / max over the recordings.

    .venv/bin/python benchmarks/engine_alignment.py RAW_DIR [--max-frames 600]
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import numpy as np

from craft_jepa.eval.recording_alignment import recording_alignment

COLUMNS = ("yaw r", "yaw pearson", "px/deg", "yaw margin", "change r", "change margin", "yaw lag",
           "change lag", "pitch r", "pitch lag")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw_dir")
    parser.add_argument("--max-frames", type=int, default=None, help="frames read per recording")
    args = parser.parse_args()
    mp4s = sorted(glob.glob(os.path.join(args.raw_dir, "*.mp4")))
    if not mp4s:
        raise SystemExit(f"no mp4 under {args.raw_dir}")
    rows = []
    started = time.perf_counter()
    print(" | ".join(("recording",) + COLUMNS))
    for mp4 in mp4s:
        result = recording_alignment(mp4, mp4[: -len(".mp4")] + ".jsonl", max_frames=args.max_frames)
        yaw, change, pitch = result["yaw"], result["yaw_change"], result["pitch"]
        rows.append((yaw.correlation_at_zero, yaw.pearson_at_zero, yaw.px_per_degree, yaw.margin(),
                     change.correlation_at_zero, change.margin(), yaw.best_lag, change.best_lag,
                     pitch.correlation_at_zero, pitch.best_lag))
        print(" | ".join([os.path.basename(mp4)[:28]] + [f"{v:.3f}" if isinstance(v, float) else str(v)
                                                          for v in rows[-1]]), flush=True)
    table = np.array(rows, dtype=np.float64)
    for name, values in (("min", table.min(0)), ("median", np.median(table, 0)), ("max", table.max(0))):
        print(" | ".join([name] + [f"{v:.3f}" for v in values]))
    print(f"{len(rows)} recordings in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
