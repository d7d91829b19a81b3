"""Clip loader throughput: sparse PyAV decoding vs a decode-everything baseline, side by side.

Synthetic VPT segments (H.264 640x360, 20 fps, `--seconds` long; real VPT segments run up to
300 s) are packed into shards; then the train loader runs with 1 worker and with N workers,
once with our sparse decoder and once with the baseline (decode every frame of the segment,
then pick the clip frames; only the picked frames are converted, so the baseline is not
penalised by extra colour conversions). Both cut `--clips-per-segment` clips per decoded
segment, 8 frames at 5 fps, 256 px centre crops. Peak RSS is sampled per worker process.

    python benchmarks/loader.py                      # 1 s GOPs and libx264's default 250-frame GOPs
    python benchmarks/loader.py --seconds 300 --gops 250 --workers 4
    python benchmarks/loader.py --only-long          # just the long-run rows

Prints one table; the bar is sparse >= 3x baseline clips/s with one worker. Then the long-run
rows: the training stream over several data chunks (`data.chunk_steps`), once the old way (a new
DataLoader per chunk, whose workers refill the shuffle buffer before their first batch) and once
the way training runs now (one loader, workers and buffer kept across chunks): clips decoded per
clip used, and the wait for the first batch of each chunk against the median batch.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import tempfile
import threading
import time

import numpy as np
import psutil

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from craft_jepa.data import loader as loader_module  # noqa: E402
from craft_jepa.data.carry_buffer import chunk_seed  # noqa: E402
from craft_jepa.data.clips import ClipConfig  # noqa: E402
from craft_jepa.data.loader import build_train_loader  # noqa: E402
from craft_jepa.data.synth import write_synth_dataset  # noqa: E402
from craft_jepa.data.video import SegmentVideo  # noqa: E402
from craft_jepa.vpt.actions import frame_ticks_for_clip  # noqa: E402


class RssSampler:
    """Samples the RSS of the DataLoader worker processes (children of this process)."""

    def __init__(self, period_s: float = 0.05) -> None:
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(period_s,), daemon=True)

    def _run(self, period_s: float) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            for child in me.children(recursive=True):
                try:
                    rss = child.memory_info().rss
                except psutil.Error:
                    continue
                self.peak[child.pid] = max(self.peak.get(child.pid, 0), rss)
            time.sleep(period_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(urls: list[str], cfg: ClipConfig, workers: int, batches: int, decode_everything: bool,
            batch_size: int, buffer: int) -> tuple[float, float]:
    """(clips/s after the first batch, max peak RSS over workers in MiB)."""
    loader = build_train_loader(cfg, urls, batch_size=batch_size, num_workers=workers, seed=0,
                                shuffle_buffer_clips=buffer, decode_everything=decode_everything)
    with RssSampler() as rss:
        it = iter(loader)
        next(it)  # worker start-up, imports and buffer fill are not throughput
        start = time.perf_counter()
        for _ in range(batches):
            next(it)
        elapsed = time.perf_counter() - start
        del it
    peak_mib = max(rss.peak.values(), default=0) / 2**20
    return batches * batch_size / elapsed, peak_mib


def decoder_only(urls: list[str], cfg: ClipConfig, rounds: int) -> dict[str, tuple[float, float]]:
    """In-process, no DataLoader: {name: (clips/s, frames decoded per clip)} on the same clip starts."""
    rng = np.random.default_rng(0)
    videos = []
    for url in urls:
        with tarfile.open(url) as tar:
            videos += [tar.extractfile(m).read() for m in tar.getmembers() if m.name.endswith(".mp4")]
    plans = []
    for data in videos * rounds:
        with SegmentVideo(data) as video:
            last = video.num_frames - 1 - cfg.span_ticks
        starts = rng.integers(0, last, cfg.clips_per_segment)
        needed = {t for s in starts for t in frame_ticks_for_clip(int(s), cfg.frames, cfg.fps)}
        plans.append((data, sorted(needed)))
    out = {}
    for name in ("baseline", "sparse"):
        decoded = 0
        start = time.perf_counter()
        for data, needed in plans:
            with SegmentVideo(data) as video:
                (video.decode_all_then_pick if name == "baseline" else video.decode)(needed, cfg.size)
                decoded += video.frames_decoded
        clips = len(plans) * cfg.clips_per_segment
        out[name] = (clips / (time.perf_counter() - start), decoded / clips)
    return out


class DecodeCounter:
    """Counts clips cut from segments in every worker (forked workers inherit the patch)."""

    def __init__(self) -> None:
        import multiprocessing

        self.value = multiprocessing.get_context("fork").Value("q", 0)
        self._real = loader_module.ClipStream._segment_clips
        counter, real = self.value, self._real

        def counted(stream, sample, rng, counters):
            clips = real(stream, sample, rng, counters)
            with counter.get_lock():
                counter.value += len(clips)
            return clips

        loader_module.ClipStream._segment_clips = counted

    def take(self) -> int:
        with self.value.get_lock():
            n, self.value.value = self.value.value, 0
        return n


def long_run(urls: list[str], cfg: ClipConfig, workers: int, chunks: int, chunk_batches: int, batch_size: int,
             buffer: int, counter: DecodeCounter) -> dict[str, tuple[float, float, float, float]]:
    """{mode: (decoded per used, mean first-batch wait of chunks 1.., max of those, median batch wait)}."""
    kwargs = dict(batch_size=batch_size, num_workers=workers, shuffle_buffer_clips=buffer,
                  multiprocessing_context="fork" if workers else None)
    out = {}
    for mode in ("rebuilt per chunk", "kept (now)"):
        counter.take()
        waits: list[list[float]] = []
        if mode == "kept (now)":
            it = iter(build_train_loader(cfg, urls, seed=0, chunk_batches=chunk_batches, **kwargs))
        for c in range(chunks):
            if mode == "rebuilt per chunk":  # what TrainStream did: a fresh loader seeded per chunk
                it = iter(build_train_loader(cfg, urls, seed=chunk_seed(0, c), **kwargs))
            chunk_waits = []
            for _ in range(chunk_batches):
                t0 = time.perf_counter()
                next(it)
                chunk_waits.append(time.perf_counter() - t0)
            waits.append(chunk_waits)
            if mode == "rebuilt per chunk":
                it = None  # workers and their buffers go
        it = None
        decoded = counter.take()
        used = chunks * chunk_batches * batch_size
        boundary = [w[0] for w in waits[1:]]
        steady = sorted(x for w in waits for x in w[1:])
        out[mode] = (decoded / used, float(np.mean(boundary)), max(boundary), steady[len(steady) // 2])
        print(f"# long run, {mode}: {decoded} clips decoded for {used} used; first-batch wait per chunk "
              + ", ".join(f"{w[0]:.2f}" for w in waits) + " s", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each synthetic segment")
    parser.add_argument("--segments", type=int, default=3, help="segments per GOP setting")
    parser.add_argument("--gops", default="20,250", help="keyframe intervals to test (250 = libx264 default)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="N for the N-worker rows")
    parser.add_argument("--batches", type=int, default=4, help="timed batches per row")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--clips-per-segment", type=int, default=4)
    parser.add_argument("--buffer", type=int, default=8, help="shuffle buffer (clips)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--data-dir", default=None, help="reuse/keep generated shards here")
    parser.add_argument("--long-chunks", type=int, default=4, help="data chunks in the long-run rows")
    parser.add_argument("--long-chunk-batches", type=int, default=6, help="batches per chunk (data.chunk_steps)")
    parser.add_argument("--long-buffer", type=int, default=16, help="shuffle buffer of the long-run rows")
    parser.add_argument("--only-long", action="store_true", help="skip the decoder comparison rows")
    args = parser.parse_args()

    cfg = ClipConfig(frames=8, fps=5, size=args.size, clips_per_segment=args.clips_per_segment)
    root = args.data_dir or tempfile.mkdtemp(prefix="loader-bench-")
    rows = []
    long_urls: list[str] = []
    for gop in (int(g) for g in args.gops.split(",")):
        data_root = os.path.join(root, f"gop{gop}-{int(args.seconds)}s-{args.segments}")
        preset = "ultrafast" if gop <= 20 else "veryfast"  # long GOPs: B-frames, like ffmpeg defaults
        if not os.path.isdir(os.path.join(data_root, "shards")):
            t0 = time.perf_counter()
            write_synth_dataset(data_root, [args.seconds] * args.segments, seed=100, per_shard=1,
                                configs=[{"keyint": None if gop == 250 else gop, "preset": preset}] * args.segments)
            print(f"# generated {args.segments} x {args.seconds:.0f} s segments (GOP {gop}, {preset}) "
                  f"in {time.perf_counter() - t0:.0f} s", flush=True)
        urls = sorted(os.path.join(data_root, "shards", f) for f in os.listdir(os.path.join(data_root, "shards")))
        long_urls = long_urls or urls  # the first GOP setting's shards
        if args.only_long:
            break
        dec = decoder_only(urls, cfg, rounds=2)
        print(f"# GOP {gop} decoder only (in-process): baseline {dec['baseline'][0]:.2f} clips/s "
              f"({dec['baseline'][1]:.0f} frames decoded/clip), sparse {dec['sparse'][0]:.2f} clips/s "
              f"({dec['sparse'][1]:.0f} frames decoded/clip)", flush=True)
        rows.append((gop, "decoder", dec["baseline"][0], dec["baseline"][1], dec["sparse"][0], dec["sparse"][1]))
        for workers in sorted({1, args.workers}):
            result = {}
            for name, everything in (("baseline", True), ("sparse", False)):
                result[name] = measure(urls, cfg, workers, args.batches, everything, args.batch_size, args.buffer)
                print(f"# GOP {gop} workers {workers} {name}: {result[name][0]:.2f} clips/s, "
                      f"peak RSS/worker {result[name][1]:.0f} MiB", flush=True)
            rows.append((gop, f"{workers} worker{'s' if workers > 1 else ''}", *result["baseline"], *result["sparse"]))

    counter = DecodeCounter()
    long_rows = long_run(long_urls, cfg, args.workers, args.long_chunks, args.long_chunk_batches,
                         args.batch_size, args.long_buffer, counter)

    print(f"\nclips of 8 frames @ 5 fps, {args.size} px, from {args.seconds:.0f} s 640x360 H.264 segments, "
          f"{args.clips_per_segment} clips/segment, batch {args.batch_size}, {os.cpu_count()} CPUs")
    if rows:
        print("rows 'decoder': in-process decode only, last columns = frames decoded per clip;"
              " rows 'N workers': train loader clips/s and peak RSS per worker process")
        header = (f"{'GOP':>4} {'mode':>10} | {'baseline clip/s':>15} {'RSS MiB|fr':>10} | "
                  f"{'sparse clip/s':>13} {'RSS MiB|fr':>10} | {'speed-up':>8}")
        print(header)
        print("-" * len(header))
        for gop, mode, b_rate, b_extra, s_rate, s_extra in rows:
            print(f"{gop:>4} {mode:>10} | {b_rate:>15.2f} {b_extra:>10.0f} | {s_rate:>13.2f} {s_extra:>10.0f} | "
                  f"{s_rate / b_rate:>7.1f}x")
    print(f"\nlong run: {args.long_chunks} chunks x {args.long_chunk_batches} batches, {args.workers} workers, "
          f"shuffle buffer {args.long_buffer} clips; waits: first batch of chunks 1.. vs the median batch")
    header = (f"{'loader across chunks':>20} | {'decoded/used':>12} | {'boundary wait s':>15} | "
              f"{'max s':>6} | {'median batch s':>14}")
    print(header)
    print("-" * len(header))
    for mode, (ratio, mean_wait, max_wait, median) in long_rows.items():
        print(f"{mode:>20} | {ratio:>12.2f} | {mean_wait:>15.2f} | {max_wait:>6.2f} | {median:>14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
