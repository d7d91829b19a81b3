"""`pack` mixes segments across shards in a seeded order and records seed and order.

VPT stems start with the player alias; in stem order each shard holds one or two players.
"""

from __future__ import annotations

import json
import os
import tarfile

from craft_jepa.data.pack import pack

PLAYERS = ("alpha", "bravo", "charlie", "delta")


def _raw_dir(synth_dataset, root):
    """2 segments per player (links to the synthetic recordings, under player-style stems)."""
    root.mkdir()
    src = synth_dataset.stems[0]
    for player in PLAYERS:
        for seg in range(2):
            stem = f"{player}-0123456789ab-20210629-12000{seg}"
            for ext in (".mp4", ".jsonl"):
                path = synth_dataset.mp4(src) if ext == ".mp4" else synth_dataset.jsonl(src)
                os.symlink(path, root / f"{stem}{ext}")
    return root


def _players_per_shard(shards: list[str]) -> list[set[str]]:
    out = []
    for shard in shards:
        with tarfile.open(shard) as tar:
            out.append({m.name.split("-")[0] for m in tar.getmembers()})
    return out


def test_seeded_pack_mixes_players_and_records_the_order(synth_dataset, tmp_path):
    raw = _raw_dir(synth_dataset, tmp_path / "raw")
    in_order = pack(str(raw), str(tmp_path / "sorted"), max_per_shard=2)
    assert [len(p) for p in _players_per_shard(in_order.shards)] == [1, 1, 1, 1]  # the defect
    mixed = pack(str(raw), str(tmp_path / "mixed"), max_per_shard=2, seed=3)
    assert mixed.seed == 3 and sorted(mixed.order) == sorted(in_order.order) and mixed.order != in_order.order
    assert sum(len(p) > 1 for p in _players_per_shard(mixed.shards)) >= 2
    written = json.loads((tmp_path / "mixed" / "pack-report.json").read_text())
    assert written["seed"] == 3 and written["order"] == mixed.order
    with tarfile.open(mixed.shards[0]) as tar:  # the recorded order is the order on disk
        first = [m.name.rsplit(".", 1)[0] for m in tar.getmembers() if m.name.endswith(".jsonl")]
    assert first == mixed.order[:2]
    again = pack(str(raw), str(tmp_path / "again"), max_per_shard=2, seed=3)
    other = pack(str(raw), str(tmp_path / "other"), max_per_shard=2, seed=4)
    assert again.order == mixed.order != other.order
    assert "mixed with seed 3" in mixed.summary()
