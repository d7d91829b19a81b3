"""Pack raw VPT recordings (STEM.mp4 + STEM.jsonl [+ STEM-options.json]) into WebDataset shards.

Pairs are found by stem, either by scanning RAW_DIR recursively or from a VPT index JSON
(`{"basedir": ..., "relpaths": ["data/10.0/<stem>.mp4", ...]}`) whose files were downloaded
under RAW_DIR following the relpaths (or flat into RAW_DIR). Each pair is validated (the mp4 header opens and has a
video stream; the jsonl line count is within MAX_COUNT_MISMATCH of the frame count) before it
is written. One tar sample per segment: `<stem>.mp4`, `<stem>.jsonl`, `<stem>.options.json`.

With a `seed`, segments are written in a seeded random order, so every shard mixes players:
VPT stems start with the player alias, and shards in stem order hold one or two players each,
so a loader worker reading one shard filled whole batches from one player. The seed and the
written order are in the report (and in OUT_DIR/pack-report.json). `craft-jepa pack` mixes with
seed 0 unless told otherwise; seed None keeps stem order. pack-report.json also records each
shard's seconds of recording (`shard_seconds`, jsonl lines at 20 Hz), from which an export's
model card gives the hours a run trained on.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass, field

import av
import webdataset as wds

TICKS_PER_SECOND = 20  # VPT jsonl lines per second of recording
MAX_COUNT_MISMATCH = 2  # VPT mp4s carry one (sometimes two) frames more than jsonl lines
# Tar member mtime: fixed, so packing the same pairs gives the same bytes (`download --pack`
# equals `download` + `pack`); webdataset's default is the time of writing.
SHARD_MTIME = 0.0


@dataclass
class RawPair:
    stem: str
    mp4: str | None
    jsonl: str | None
    options: str | None = None


@dataclass
class PackReport:
    written: int = 0
    shards: list[str] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> stems
    seed: int | None = None  # the mixing seed (None: stem order)
    order: list[str] = field(default_factory=list)  # stems in the order they were written
    # Seconds of recording per shard file name (jsonl lines at 20 Hz): the hours an export's model
    # card reports for the shards a run trained on (runs/model_card.py).
    shard_seconds: dict[str, float] = field(default_factory=dict)

    def skip(self, reason: str, stem: str) -> None:
        self.skipped.setdefault(reason, []).append(stem)

    def summary(self) -> str:
        mixed = f"mixed with seed {self.seed}" if self.seed is not None else "in stem order"
        lines = [f"wrote {self.written} segment(s) into {len(self.shards)} shard(s), {mixed}"]
        for reason, stems in sorted(self.skipped.items()):
            shown = ", ".join(stems[:5]) + (" ..." if len(stems) > 5 else "")
            lines.append(f"skipped {len(stems)} ({reason}): {shown}")
        return "\n".join(lines)


def parse_size(text: str) -> int:
    """'1GB' / '500MB' / '64k' / '12345' -> bytes (powers of 1000 for units, as in tar sizes)."""
    text = text.strip().upper().removesuffix("B")
    units = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    try:
        return int(float(text))
    except ValueError:
        raise ValueError(f"shard size {text!r} is not a size like 1GB, 500MB or 1000000") from None


def _stem_of(name: str) -> tuple[str, str] | None:
    for suffix, kind in (("-options.json", "options"), (".mp4", "mp4"), (".jsonl", "jsonl")):
        if name.endswith(suffix):
            return name[: -len(suffix)], kind
    return None


def find_pairs(raw_dir: str, index_json: str | None = None) -> list[RawPair]:
    """Pairs by stem, sorted by stem. With `index_json`, only the listed segments are used."""
    if not os.path.isdir(raw_dir):
        raise ValueError(f"raw directory {raw_dir!r} does not exist")
    found: dict[str, RawPair] = {}
    if index_json is not None:
        with open(index_json) as f:
            index = json.load(f)
        if not isinstance(index, dict) or not isinstance(index.get("relpaths"), list):
            raise ValueError(f"{index_json}: expected an object with a 'relpaths' list")
        for relpath in index["relpaths"]:
            base = relpath[: -len(".mp4")] if relpath.endswith(".mp4") else os.path.splitext(relpath)[0]
            stem = os.path.basename(base)

            def local(suffix: str) -> str | None:
                # Downloaded following the relpath, or flat into RAW_DIR.
                for path in (os.path.join(raw_dir, base + suffix), os.path.join(raw_dir, stem + suffix)):
                    if os.path.isfile(path):
                        return path
                return None

            found[stem] = RawPair(stem, local(".mp4"), local(".jsonl"), local("-options.json"))
    else:
        for root, _, files in os.walk(raw_dir):
            for name in files:
                parsed = _stem_of(name)
                if parsed is None:
                    continue
                stem, kind = parsed
                pair = found.setdefault(stem, RawPair(stem, None, None))
                setattr(pair, kind, os.path.join(root, name))
    return [found[s] for s in sorted(found)]


def validate_pair(pair: RawPair) -> str | None:
    """None if the pair is usable, else a short reason."""

    if pair.mp4 is None:
        return "missing mp4"
    if pair.jsonl is None:
        return "missing jsonl"
    with open(pair.jsonl, "rb") as f:
        lines = sum(1 for line in f if line.strip())
    if lines == 0:
        return "empty jsonl"
    try:
        with av.open(pair.mp4) as container:
            if not container.streams.video:
                return "mp4 has no video stream"
            frames = container.streams.video[0].frames
            if frames <= 0:  # header without a frame count: count packets (no decoding)
                frames = sum(1 for p in container.demux(video=0) if p.size > 0)
    except (av.error.FFmpegError, OSError) as err:
        return f"unreadable mp4 ({type(err).__name__})"
    if abs(frames - lines) > MAX_COUNT_MISMATCH:
        return f"frame/line count mismatch > {MAX_COUNT_MISMATCH}"
    return None


def pack(raw_dir: str, out_dir: str, *, shard_size: int = 10**9, index_json: str | None = None,
         pattern: str = "shard-%06d.tar", max_per_shard: int = 100_000, verbose: bool = False,
         seed: int | None = None) -> PackReport:
    """Validate and write every pair under raw_dir into shards `out_dir/shard-000000.tar`, ...

    `seed`: write the segments in a seeded random order (mixes players across shards)."""

    pairs = find_pairs(raw_dir, index_json)
    if not pairs:
        raise ValueError(f"no mp4/jsonl recordings found under {raw_dir!r}")
    if seed is not None:
        random.Random(seed).shuffle(pairs)  # from stem order, so the result depends on the seed only
    os.makedirs(out_dir, exist_ok=True)
    report = PackReport(seed=seed)
    with wds.ShardWriter(os.path.join(out_dir, pattern), maxsize=shard_size, maxcount=max_per_shard,
                         verbose=int(verbose), mtime=SHARD_MTIME) as sink:
        for pair in pairs:
            reason = validate_pair(pair)
            if reason is not None:
                report.skip(reason, pair.stem)
                continue
            sample = {"__key__": pair.stem}
            for ext, path in (("mp4", pair.mp4), ("jsonl", pair.jsonl), ("options.json", pair.options)):
                if path is not None:
                    with open(path, "rb") as f:
                        sample[ext] = f.read()
            sink.write(sample)
            name = os.path.basename(sink.fname)
            ticks = sum(1 for line in sample["jsonl"].splitlines() if line.strip())
            report.shard_seconds[name] = report.shard_seconds.get(name, 0.0) + ticks / TICKS_PER_SECOND
            report.written += 1
            report.order.append(pair.stem)
        n_shards = sink.shard  # the index the next shard would get
    report.shards = [os.path.join(out_dir, pattern % i) for i in range(n_shards)]
    # The seed and order rebuild a mixed data set exactly; shard_seconds give an export's model
    # card the recording hours of the shards a run trained on.
    with open(os.path.join(out_dir, "pack-report.json"), "w") as f:
        json.dump(asdict(report), f, indent=1)
    return report
