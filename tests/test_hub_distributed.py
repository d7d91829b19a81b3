"""On a multi-process run, local rank 0 downloads a Hub reference; the other ranks wait, then read
the cache. Two real gloo processes; only the network is stood in for, by a download on rank 0
that takes a second and then writes the files into the (shared) cache, as huggingface_hub would.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import torch.multiprocessing as mp

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, cache: str, port: int, out_dir: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank))
    import torch.distributed as dist

    from testkit.hubcache import write_hub_cache

    from craft_jepa import hub

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    real_download = hub.download
    calls: list[list] = []

    def network_stand_in(ref, local_files_only=False):
        calls.append([ref.repo_id, local_files_only])
        if not local_files_only and ref.repo_id == "testorg/enc":
            time.sleep(1.0)  # a slow download: a rank that does not wait finds an empty cache
            write_hub_cache(cache, ref.repo_id, {"config.json": b"{}", "model.safetensors": b"weights"})
        return real_download(ref, local_files_only=True)

    hub.download = network_stand_in
    out: dict = {"calls": calls}
    try:
        hub.resolve(hub.HubRef("testorg/absent"), "encoder.checkpoint")
        out["absent"] = "resolved?!"
    except hub.HubNotFoundError as err:
        out["absent"] = str(err)
    try:
        path = hub.resolve(hub.HubRef("testorg/enc"), "encoder.checkpoint")
        out.update(path=str(path), files=sorted(os.listdir(path)))
    except Exception as err:  # reported to the test, which asserts on it
        out["error"] = f"{type(err).__name__}: {err}"
    (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(out))
    dist.destroy_process_group()
    os._exit(0)


def test_local_rank_zero_downloads_and_the_others_wait(offline_hub, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    mp.start_processes(_rank_main, args=(str(offline_hub), _free_port(), str(out)), nprocs=WORLD, join=True,
                       start_method="spawn")
    r0, r1 = (json.loads((out / f"rank{r}.json").read_text()) for r in range(WORLD))
    assert "error" not in r0 and "error" not in r1, (r0, r1)
    # Only rank 0 went to the "network"; rank 1 read the cache once rank 0 was done.
    assert r0["calls"] == [["testorg/absent", False], ["testorg/enc", False]]
    assert r1["calls"] == [["testorg/enc", True]]
    assert r0["path"] == r1["path"] and r1["files"] == ["config.json", "model.safetensors"]
    # A repo rank 0 cannot fetch fails on every rank (none waits forever), naming it and the fix.
    assert "testorg/absent" in r0["absent"] and "hf download testorg/absent" in r0["absent"]
    assert "local rank 0 could not fetch hf://testorg/absent" in r1["absent"]
    assert "HF_HUB_OFFLINE" in r1["absent"]
