"""`craft-jepa download` end to end on a local server: `--pack` writes the same shards, byte for
byte, as `download` followed by `pack`; Ctrl-C exits 130 and the rerun completes."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from craft_jepa.cli.main import main
from craft_jepa.data.pack import SHARD_MTIME

from testkit.fault_server import FaultServer


def _serve(synth_dataset, tmp_path: Path, missing: str | None = None):
    """The shared synthetic recordings under /data/9.0/ (BASALT-style relpaths), plus one
    listed segment the server does not have."""
    files, relpaths = {}, []
    for stem in synth_dataset.stems:
        relpaths.append(f"data/9.0/{stem}.mp4")
        for ext in (".mp4", ".jsonl"):
            files[f"/data/9.0/{stem}{ext}"] = Path(synth_dataset.raw_dir, stem + ext).read_bytes()
    if missing is not None:
        relpaths.append(f"data/9.0/{missing}.mp4")
    server = FaultServer(files)
    index = tmp_path / "find-cave-Jul-28.json"
    index.write_text(json.dumps({"basedir": server.url + "/", "relpaths": relpaths}))
    return server, str(index)


def _shards(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("shard-*.tar"))}


def test_pack_option_equals_download_then_pack(synth_dataset, tmp_path, capsys):
    server, index = _serve(synth_dataset, tmp_path, missing="gone-000000000000-20210101-000000")
    with server:
        common = ["--no-progress", "--workers", "2"]
        assert main(["download", index, "--out", str(tmp_path / "a"), "--pack", str(tmp_path / "sa"),
                     "--shard-size", "1MB", *common]) == 0
        assert main(["download", index, "--out", str(tmp_path / "b"), *common]) == 0
    assert main(["pack", str(tmp_path / "b"), "--out", str(tmp_path / "sb"), "--shard-size", "1MB"]) == 0
    index_of_done = str(tmp_path / "b" / "download-index.json")
    assert main(["pack", str(tmp_path / "b"), "--out", str(tmp_path / "sc"), "--shard-size", "1MB",
                 "--index", index_of_done]) == 0
    packed, separately = _shards(tmp_path / "sa"), _shards(tmp_path / "sb")
    assert len(packed) >= 2 and packed == separately == _shards(tmp_path / "sc")  # same names, same bytes
    # Equal across runs at different times too: pack stamps members with a fixed mtime.
    with tarfile.open(tmp_path / "sa" / "shard-000000.tar") as tar:
        assert {member.mtime for member in tar.getmembers()} == {SHARD_MTIME}
    report = json.loads((tmp_path / "a" / "download-report.json").read_text())
    assert len(report["done"]) == 4 and report["missing"] == {"gone-000000000000-20210101-000000": "mp4"}
    order_a = json.loads((tmp_path / "sa" / "pack-report.json").read_text())["order"]
    assert sorted(order_a) == sorted(synth_dataset.stems)
    assert "4 of 5 segment(s) done" in capsys.readouterr().out
    assert main(["download", index, "--out", str(tmp_path / "c"), "--versions", "7xx"]) == 2
    assert "no segments of version(s) 7xx; the index holds 9.0, 9xx" in capsys.readouterr().out


def test_ctrl_c_exits_130_and_the_rerun_completes(synth_dataset, tmp_path, capsys, ctrl_c_raises):
    server, index = _serve(synth_dataset, tmp_path)
    out = tmp_path / "raw"
    with server:
        for path in server.files:
            if path.endswith(".mp4"):
                server.faults[path] = ["interrupt"]
                break
        args = ["download", index, "--out", str(out), "--no-progress", "--workers", "1", "--timeout", "0.5"]
        assert main(args) == 130
        assert "rerun the same command" in capsys.readouterr().out
        assert list(out.rglob("*.mp4.part"))
        assert main(args) == 0
    for stem in synth_dataset.stems:
        for ext in (".mp4", ".jsonl"):
            assert (out / "data" / "9.0" / (stem + ext)).read_bytes() == Path(synth_dataset.raw_dir, stem + ext).read_bytes()
    assert not list(out.rglob("*.part"))
