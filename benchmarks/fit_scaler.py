"""fit-scaler throughput: seeking over mp4 members vs reading every member.

Generates WebDataset shards shaped like VPT (per segment: one ~12 MB jsonl of 6,000
realistic lines and one large dummy mp4), then times, on the same files in one run:

  read-all   webdataset's tar_file_iterator (every member's bytes read into memory),
             jsonl members parsed and aggregated
  stream     the remote fallback path (`pipe:cat shard.tar`, tarfile stream mode:
             mp4 bytes pass through the pipe but are not kept)
  seek       craft_jepa.data.fit_scaler.fit_action_scaler (local tar, mp4 bodies skipped)

plus I/O-only rows (members enumerated, jsonl read, nothing parsed). "CPU s/GB" is
this process's CPU time (a fair figure on a busy shared machine; `cat` not included). The shards were
just written, so they sit in the page cache: the I/O gap on a cold disk or network
file system is larger than shown here.

    .venv/bin/python benchmarks/fit_scaler.py [--shards 4] [--segments 3] [--lines 6000] [--mp4-mb 48]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import tarfile
import tempfile
import time
from pathlib import Path

from webdataset.tariterators import tar_file_iterator

from craft_jepa.data.fit_scaler import (
    FitScalerConfig,
    fit_action_scaler,
    iter_jsonl_members,
    segment_steps_continuous,
)
from craft_jepa.vpt.layouts import get_action_layout
from craft_jepa.vpt.scaler import RunningMoments


def vpt_jsonl(lines: int, seed: int) -> bytes:
    """Lines with every key a 6.13 recording has, stats dict included (~2 kB each)."""
    rng = random.Random(seed)
    yaw, pitch, out = 0.0, 0.0, []
    for i in range(lines):
        dx, dy = rng.choice([0.0, rng.uniform(-30, 30)]), rng.choice([0.0, rng.uniform(-6, 6)])
        out.append(json.dumps({
            "mouse": {"x": 640.0, "y": 360.0, "dx": dx, "dy": dy, "scaledX": 0.0, "scaledY": 0.0,
                      "dwheel": 0.0, "buttons": [0] if i % 5 == 0 else [], "newButtons": []},
            "keyboard": {"keys": ["key.keyboard.w"] if i % 3 else [], "newKeys": [], "chars": ""},
            "isGuiOpen": False, "isGuiInventory": False, "hotbar": (i // 300) % 9,
            "yaw": (yaw + 180) % 360 - 180, "pitch": pitch, "xpos": 101.3, "ypos": 64.0, "zpos": -12.7,
            "tick": i, "milli": 1624000000000 + 50 * i,
            "inventory": [{"type": "oak_log", "quantity": 12}, {"type": "dirt", "quantity": 40}],
            "serverTick": 5000 + i, "serverTickDurationMs": 3.1,
            "stats": {f"minecraft.custom:minecraft.stat_{k}": k * 3 + i for k in range(40)},
        }, separators=(",", ":")))
        yaw += 0.15 * dx
        pitch = min(90.0, max(-90.0, pitch + 0.15 * dy))
    return ("\n".join(out) + "\n").encode()


def write_shards(root: Path, shards: int, segments: int, lines: int, mp4_mb: float) -> list[Path]:
    jsonl = vpt_jsonl(lines, seed=0)
    mp4 = random.Random(1).randbytes(1 << 20) * max(1, round(mp4_mb))  # incompressible-ish
    paths = []
    for s in range(shards):
        path = root / f"bench-{s:06d}.tar"
        with tarfile.open(path, "w") as tar:
            for g in range(segments):
                stem = f"player{s}{g}-0123456789ab-20210629-1200{g:02d}"
                for ext, payload in (("mp4", mp4), ("jsonl", jsonl)):
                    info = tarfile.TarInfo(f"{stem}.{ext}")
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
        paths.append(path)
    return paths


def read_all_members(paths: list[Path], parse: bool) -> int:
    layout, moments, jsonl_bytes = get_action_layout("vpt38"), RunningMoments(4), 0
    for path in paths:
        with open(path, "rb") as stream:
            for sample in tar_file_iterator(stream):  # reads every member, mp4 included
                if sample["fname"].endswith(".jsonl"):
                    jsonl_bytes += len(sample["data"])
                    if parse:
                        values, _ = segment_steps_continuous(sample["data"], sample["fname"], layout, 5.0)
                        moments.update(values)
    return jsonl_bytes


def via_iter_members(urls: list[str], parse: bool) -> int:
    layout, moments, jsonl_bytes = get_action_layout("vpt38"), RunningMoments(4), 0
    for url in urls:
        for name, data in iter_jsonl_members(url):
            jsonl_bytes += len(data)
            if parse:
                values, _ = segment_steps_continuous(data, name, layout, 5.0)
                moments.update(values)
    return jsonl_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--segments", type=int, default=3, help="segments per shard")
    parser.add_argument("--lines", type=int, default=6000, help="jsonl lines per segment")
    parser.add_argument("--mp4-mb", type=float, default=48.0, help="mp4 member size per segment")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fit_scaler_bench_") as tmp:
        paths = write_shards(Path(tmp), args.shards, args.segments, args.lines, args.mp4_mb)
        shard_bytes = sum(p.stat().st_size for p in paths)
        local = [str(p) for p in paths]
        piped = [f"pipe:cat {p}" for p in paths]
        cases = [
            ("I/O only: read-all", lambda: read_all_members(paths, parse=False)),
            ("I/O only: seek", lambda: via_iter_members(local, parse=False)),
            ("read-all + parse", lambda: read_all_members(paths, parse=True)),
            ("stream (pipe:) + parse", lambda: via_iter_members(piped, parse=True)),
            ("seek + parse (fit-scaler)", lambda: fit_action_scaler(FitScalerConfig(
                data=local, val_fraction=0.0, progress=False)).stats.jsonl_bytes),
        ]
        print(f"{len(paths)} shards, {shard_bytes / 1e9:.2f} GB total, "
              f"{args.segments * args.lines} lines/shard, mp4 {args.mp4_mb:g} MB/segment")
        print(f"{'method':28s} {'wall s':>8s} {'shard GB/s':>11s} {'jsonl GB/s':>11s} "
              f"{'s/GB jsonl':>11s} {'CPU s/GB':>9s} {'vs read-all':>12s}")
        baseline: dict[bool, float] = {}
        for name, fn in cases:
            start, cpu_start = time.perf_counter(), time.process_time()
            jsonl_bytes = fn()
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            parsed = "parse" in name
            baseline.setdefault(parsed, wall)
            print(f"{name:28s} {wall:8.2f} {shard_bytes / 1e9 / wall:11.3f} {jsonl_bytes / 1e9 / wall:11.4f} "
                  f"{wall / (jsonl_bytes / 1e9):11.1f} {cpu / (jsonl_bytes / 1e9):9.1f} {baseline[parsed] / wall:11.2f}x")


if __name__ == "__main__":
    main()
