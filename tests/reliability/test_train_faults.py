"""SIGKILL during training and during a checkpoint write, then resume: nothing lost or torn.

The training runs in a subprocess (`python -m craft_jepa train`), is killed with SIGKILL,
and is resumed by running the same command again. Resume is exact, so the final weights
must equal those of an uninterrupted in-process run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from testkit.train_configs import tiny_tree

from craft_jepa.runs.checkpoints import SLEEP_BEFORE_RENAME_ENV
from craft_jepa.train.loop import train

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
STEPS = 6


def _write_config(run_dir: Path, urls) -> Path:
    tree = tiny_tree(run_dir, urls, **{"schedule.total_steps": STEPS, "validation.every": 0})
    path = run_dir.parent / f"{run_dir.name}.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def _launch(config: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), **(extra_env or {})}
    return subprocess.Popen([sys.executable, "-m", "craft_jepa", "train", str(config)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"training exited early:\n{proc.stdout.read().decode()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the training process")
        time.sleep(0.05)


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()


def _finish(config: Path) -> None:
    proc = _launch(config)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out.decode()[-3000:]
    assert b"resumed from" in out, out.decode()[-3000:]


def _predictor(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["predictor"]


@pytest.fixture(scope="module")
def reference(synth_dataset, tmp_path_factory) -> dict[str, torch.Tensor]:
    run_dir = tmp_path_factory.mktemp("faults") / "reference"
    tree = tiny_tree(run_dir, synth_dataset.shard_urls, **{"schedule.total_steps": STEPS, "validation.every": 0})
    from craft_jepa.configuration import load_config
    from craft_jepa.train.config import RunConfig

    train(load_config(RunConfig, tree), single_process=True)
    return _predictor(run_dir / "checkpoints" / "latest.pt")


def _assert_matches(reference: dict[str, torch.Tensor], path: Path) -> None:
    got = _predictor(path)
    for name, value in reference.items():
        assert torch.allclose(got[name], value, rtol=0, atol=1e-6), name


def test_sigkill_during_training_then_resume(synth_dataset, tmp_path, reference):
    run_dir = tmp_path / "run"
    config = _write_config(run_dir, synth_dataset.shard_urls)
    proc = _launch(config)
    latest = run_dir / "checkpoints" / "latest.pt"
    _wait_for(latest.is_file, proc)  # step 2 is safely on disk; kill somewhere after it
    _kill(proc)
    assert torch.load(latest, weights_only=True)["step"] in (2, 4)
    _finish(config)
    assert torch.load(latest, weights_only=True)["step"] == STEPS
    _assert_matches(reference, latest)


def test_sigkill_during_checkpoint_write_then_resume(synth_dataset, tmp_path, reference):
    run_dir = tmp_path / "run"
    config = _write_config(run_dir, synth_dataset.shard_urls)
    folder = run_dir / "checkpoints"
    # Every checkpoint write pauses between its finished temp file and the rename.
    proc = _launch(config, {SLEEP_BEFORE_RENAME_ENV: "2"})

    def second_write_in_flight() -> bool:
        return (folder / "latest.pt").is_file() and any(".tmp-" in p.name for p in folder.iterdir())

    _wait_for(second_write_in_flight, proc)
    _kill(proc)
    assert any(".tmp-" in p.name for p in folder.iterdir())  # the torn write is left behind ...
    assert torch.load(folder / "latest.pt", weights_only=True)["step"] == 2  # ... the previous one is intact
    _finish(config)
    assert not any(".tmp-" in p.name for p in folder.iterdir())
    _assert_matches(reference, folder / "latest.pt")
