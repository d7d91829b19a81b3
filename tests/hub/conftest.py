"""Hub tests run offline against a Hugging Face cache that the test lays out (hubcache.py).

`offline_hub` points huggingface_hub at an empty cache under tmp_path and turns offline mode on,
both through the environment (for subprocesses, which read HF_HOME / HF_HUB_OFFLINE at import)
and through `huggingface_hub.constants` (which this process read at its import).
"""

from __future__ import annotations

from pathlib import Path

import pytest



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
