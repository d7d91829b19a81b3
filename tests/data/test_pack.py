import json
import os
import shutil
import tarfile

import pytest

from craft_jepa.data.pack import find_pairs, pack, parse_size


def _copy(synth_dataset, stem, dest_dir, exts=(".mp4", ".jsonl", "-options.json")):
    os.makedirs(dest_dir, exist_ok=True)
    for ext in exts:
        shutil.copy(os.path.join(synth_dataset.raw_dir, stem + ext), dest_dir)


def _members(shards):
    out = {}
    for shard in shards:
        with tarfile.open(shard) as tar:
            for m in tar.getmembers():
                out[m.name] = tar.extractfile(m).read()
    return out


def test_pack_pairs_by_stem_validates_and_round_trips(synth_dataset, tmp_path):
    raw = tmp_path / "raw"
    s0, s1, s2, s3 = synth_dataset.stems
    _copy(synth_dataset, s0, raw / "a")  # nested folders are scanned
    _copy(synth_dataset, s1, raw)
    _copy(synth_dataset, s2, raw, exts=(".mp4",))  # no jsonl
    _copy(synth_dataset, s3, raw, exts=(".jsonl",))  # no mp4
    bad = "bad-000000000000-20210101-000000"
    shutil.copy(synth_dataset.mp4(s0), raw / f"{bad}.mp4")
    with open(synth_dataset.jsonl(s0)) as f:
        (raw / f"{bad}.jsonl").write_text("".join(f.readlines()[:50]))  # count mismatch
    report = pack(str(raw), str(tmp_path / "shards"), shard_size=parse_size("1k"))
    assert report.written == 2 and len(report.shards) == 2  # tiny shard size: one segment per shard
    assert report.skipped == {"missing jsonl": [s2], "missing mp4": [s3], "frame/line count mismatch > 2": [bad]}
    members = _members(report.shards)
    for stem in (s0, s1):
        with open(synth_dataset.mp4(stem), "rb") as f:
            assert members[f"{stem}.mp4"] == f.read()
        with open(synth_dataset.jsonl(stem), "rb") as f:
            assert members[f"{stem}.jsonl"] == f.read()
        assert f"{stem}.options.json" in members
    assert "skipped 1 (missing mp4)" in report.summary()


def test_pack_follows_a_vpt_index(synth_dataset, tmp_path):
    raw = tmp_path / "raw"
    s0, s1 = synth_dataset.stems[:2]
    _copy(synth_dataset, s0, raw / "data" / "7.0")
    _copy(synth_dataset, s1, raw)  # downloaded flat, not under its relpath
    _copy(synth_dataset, synth_dataset.stems[2], raw / "elsewhere")  # not listed: ignored
    never = "gone-111111111111-20210101-000000"
    index = {"basedir": "https://example/minecraft-rl/",
             "relpaths": [f"data/7.0/{s}.mp4" for s in (s0, s1, never)]}
    (tmp_path / "all_7xx_Jun_29.json").write_text(json.dumps(index))
    pairs = find_pairs(str(raw), str(tmp_path / "all_7xx_Jun_29.json"))
    assert [p.stem for p in pairs] == sorted([s0, s1, never])
    report = pack(str(raw), str(tmp_path / "shards"), index_json=str(tmp_path / "all_7xx_Jun_29.json"))
    assert report.written == 2 and report.skipped == {"missing mp4": [never]}


def test_parse_size_and_missing_dirs(tmp_path):
    assert parse_size("1GB") == 10**9 and parse_size("500MB") == 5 * 10**8 and parse_size("1234") == 1234
    with pytest.raises(ValueError, match="size"):
        parse_size("lots")
    with pytest.raises(ValueError, match="does not exist"):
        pack(str(tmp_path / "nope"), str(tmp_path / "out"))
    with pytest.raises(ValueError, match="no mp4/jsonl"):
        pack(str(tmp_path), str(tmp_path / "out"))
