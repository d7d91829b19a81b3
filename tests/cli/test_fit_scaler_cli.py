"""`craft-jepa fit-scaler` end to end on two tiny shards."""

from __future__ import annotations

import io
import json
import tarfile

from craft_jepa.cli.main import main
from craft_jepa.vpt.scaler import ActionScaler


def shard(path, n_ticks: int, dx: float) -> None:
    lines = [json.dumps({"mouse": {"dx": dx * (i % 2), "dy": 0.0, "buttons": [], "newButtons": []},
                         "keyboard": {"keys": [], "newKeys": []}, "hotbar": 0,
                         "yaw": (0.15 * dx * (i // 2)) % 360 - 180, "pitch": 0.0})
             for i in range(n_ticks)]
    with tarfile.open(path, "w") as tar:
        for name, payload in (("seg-0123456789ab-20210629-120000.mp4", b"\x00" * 1000),
                              ("seg-0123456789ab-20210629-120000.jsonl", ("\n".join(lines) + "\n").encode())):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def test_fit_scaler_writes_a_loadable_scaler(tmp_path, capsys):
    shard(tmp_path / "s-000000.tar", 81, dx=10.0)
    shard(tmp_path / "s-000001.tar", 81, dx=1000.0)  # validation shard: must not be used
    out = tmp_path / "scaler.json"
    code = main(["fit-scaler", "--data", str(tmp_path / "s-{000000..000001}.tar"), "--out", str(out),
                 "--layout", "vpt13", "--val-fraction", "0.5", "--no-progress"])
    assert code == 0
    scaler = ActionScaler.load(out)
    assert scaler.layout_name == "vpt13" and scaler.count == 20  # 81 ticks / 4 -> 21 frames -> 20 steps
    # every 4-tick step holds two ticks of dx=10: 20 units, 3 degrees, no variance -> scale 1
    assert scaler.mean[0] == 20.0 and scaler.scale[0] == 1.0
    assert abs(scaler.mean[2] - 3.0) < 1e-9
    assert "wrote" in capsys.readouterr().err


def test_fit_scaler_bad_pattern_exits_2(tmp_path, capsys):
    code = main(["fit-scaler", "--data", str(tmp_path / "none-*.tar"), "--out", str(tmp_path / "s.json")])
    assert code == 2
    assert "none-*.tar" in capsys.readouterr().err
