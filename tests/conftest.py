"""Shared fixtures: small synthetic VPT recordings and shards (generated once per test session).

`synth_dataset` gives 4 recordings of 8-11 s (H.264 640x360, 20 fps, real VPT layout: mp4 with
one frame more than the jsonl has lines) packed 2 per shard into 2 WebDataset shards, as a
`craft_jepa.data.synth.SynthDataset` (raw_dir, stems, shard_dir, shard_urls; .mp4(stem),
.jsonl(stem)). Generating it takes a few seconds, once per session. Treat it as read-only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every machine and run, so CI is reproducible and a
# failure can be rerun; CRAFT_JEPA_FUZZ_RANDOM=1 hunts with fresh random draws instead.
settings.register_profile("reproducible", derandomize=True)
settings.register_profile("hunt", derandomize=False)
settings.load_profile("hunt" if os.environ.get("CRAFT_JEPA_FUZZ_RANDOM") else "reproducible")


@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory: pytest.TempPathFactory):
    """4 synthetic recordings (8-11 s, 20 fps) in 2 shards; read-only, shared by all tests."""
    from craft_jepa.data.synth import write_synth_dataset

    root = str(tmp_path_factory.mktemp("synth_vpt"))
    return write_synth_dataset(root, seconds=(8.0, 10.0, 9.0, 11.0), seed=1234, per_shard=2)


# Hub tests run offline against a Hugging Face cache that the test lays out (testkit/hubcache.py).
# `offline_hub` points huggingface_hub at an empty cache under tmp_path and turns offline mode on,
# both through the environment (for subprocesses, which read HF_HOME / HF_HUB_OFFLINE at import)
# and through `huggingface_hub.constants` (which this process read at its import).
@pytest.fixture
def offline_hub(tmp_path, monkeypatch) -> Path:
    from huggingface_hub import constants

    home = tmp_path / "hf-home"
    cache = home / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


@pytest.fixture
def ctrl_c_raises():
    """For tests that press Ctrl-C (SIGINT to the main thread): Python's own SIGINT handler, which
    raises KeyboardInterrupt. A runner that starts pytest in the background (`nohup`, `cmd &` in a
    script) hands it SIGINT ignored, and Python then installs no handler: the signal would be
    dropped and the test would see an uninterrupted run."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
