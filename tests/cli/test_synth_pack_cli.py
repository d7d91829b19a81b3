import json
import os

from craft_jepa.cli.main import main


def test_synth_then_pack_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["synth", "--out", str(out), "--videos", "2", "--seconds", "1.5", "--seed", "4", "--shards"]) == 0
    shards = sorted(os.listdir(out / "shards"))
    raw_files = sorted(os.listdir(out / "raw"))
    assert shards == ["pack-report.json", "shard-000000.tar"] and len(raw_files) == 6
    report = json.loads((out / "shards" / "pack-report.json").read_text())
    assert report["shard_seconds"] == {"shard-000000.tar": 2 * 1.5}  # 2 recordings of 1.5 s at 20 Hz
    assert "wrote 2 segment(s)" in capsys.readouterr().out
    # Re-pack the raw recordings, plus a lone jsonl that must be reported as skipped.
    (out / "raw" / "lonely-000000000000-20210101-000000.jsonl").write_text("{}\n")
    assert main(["pack", str(out / "raw"), "--out", str(tmp_path / "packed"), "--shard-size", "10MB"]) == 0
    printed = capsys.readouterr().out
    assert "wrote 2 segment(s) into 1 shard(s)" in printed
    assert "skipped 1 (missing mp4): lonely-000000000000-20210101-000000" in printed


def test_pack_with_nothing_usable_fails(tmp_path, capsys):
    (tmp_path / "only-000000000000-20210101-000000.jsonl").write_text("{}\n")
    assert main(["pack", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    assert "skipped 1 (missing mp4)" in capsys.readouterr().out
