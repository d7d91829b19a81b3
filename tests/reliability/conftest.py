"""Fixtures of the reliability tests: a shard of damaged segments built from the shared synth data.

`bad_shard` holds, in this order (the loader carries skip counters on the NEXT clip, so a good
segment comes last):

    nulls    every even line `"mouse": null`, every odd line `"keyboard": null`, no `hotbar` anywhere
    garbage  every 5th jsonl line replaced by garbage bytes
    nonutf8  every 7th jsonl line carries a byte that is not UTF-8
    idle     every line the VPT null action (no keys, buttons or mouse motion, camera still)
    trunc    the mp4 cut in half (the moov index at the end is lost)
    lonely   an mp4 without its jsonl partner
    good     an untouched segment
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class BadShard:
    url: str
    kept_keys: tuple[str, ...]  # segments that give a clip when drop_null_windows is off
    expected: dict[str, int]  # stat kind -> count for one pass of the validation stream
    original: dict[str, list[dict]]  # key -> the undamaged jsonl records it was made from


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _dump(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)


@pytest.fixture(scope="session")
def bad_shard(synth_dataset, tmp_path_factory: pytest.TempPathFactory) -> BadShard:
    stems = synth_dataset.stems
    mp4 = Path(synth_dataset.mp4(stems[0])).read_bytes()
    raw = Path(synth_dataset.jsonl(stems[0])).read_bytes()
    records = [json.loads(line) for line in raw.splitlines()]

    nulls = []
    for i, rec in enumerate(records):
        rec = json.loads(json.dumps(rec))
        rec["mouse" if i % 2 == 0 else "keyboard"] = None
        del rec["hotbar"]
        nulls.append(rec)
    garbage_lines = raw.splitlines(keepends=True)
    n_garbage = 0
    for i in range(0, len(garbage_lines), 5):
        garbage_lines[i] = b"\x00\x01{garbage ]]\n"
        n_garbage += 1
    nonutf8_lines = raw.splitlines(keepends=True)
    n_nonutf8 = 0
    for i in range(3, len(nonutf8_lines), 7):
        nonutf8_lines[i] = nonutf8_lines[i].replace(b'"chars":""', b'"chars":"\xff\xfe"', 1)
        n_nonutf8 += 1
    assert n_nonutf8 and all(b"\xff" in nonutf8_lines[i] for i in range(3, len(nonutf8_lines), 7))
    idle = []
    for rec in records:
        rec = json.loads(json.dumps(rec))
        rec["mouse"].update(dx=0.0, dy=0.0, dwheel=0.0, buttons=[], newButtons=[])
        rec["keyboard"].update(keys=[], newKeys=[])
        rec.update(yaw=records[0]["yaw"], pitch=records[0]["pitch"], hotbar=0, isGuiOpen=False)
        idle.append(rec)

    url = str(tmp_path_factory.mktemp("reliability") / "bad-000000.tar")
    with tarfile.open(url, "w") as tar:
        for key, jsonl in (("nulls", _dump(nulls)), ("garbage", b"".join(garbage_lines)),
                           ("nonutf8", b"".join(nonutf8_lines)), ("idle", _dump(idle))):
            add_member(tar, f"{key}.mp4", mp4)
            add_member(tar, f"{key}.jsonl", jsonl)
        add_member(tar, "trunc.mp4", mp4[: len(mp4) // 2])
        add_member(tar, "trunc.jsonl", raw)
        add_member(tar, "lonely.mp4", mp4)
        add_member(tar, "good.mp4", Path(synth_dataset.mp4(stems[1])).read_bytes())
        add_member(tar, "good.jsonl", Path(synth_dataset.jsonl(stems[1])).read_bytes())
    expected = {"bad_jsonl_lines": n_garbage + n_nonutf8, "bad_mp4": 1, "missing_jsonl": 1}
    return BadShard(url, ("nulls", "garbage", "nonutf8", "idle", "good"), expected, {"nulls": records})


@pytest.fixture(scope="session")
def identity_scaler(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An identity vpt38 ActionScaler JSON (so a training run needs no scaler fit)."""
    from craft_jepa.vpt.layouts import get_action_layout
    from craft_jepa.vpt.scaler import ActionScaler

    path = tmp_path_factory.mktemp("scaler") / "scaler.json"
    ActionScaler.identity(get_action_layout("vpt38")).save(path)
    return str(path)
