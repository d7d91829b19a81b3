"""`craft-jepa train` stopped by SIGUSR1 exits with the requeue code after a checkpoint; the
same command then resumes and finishes."""

from __future__ import annotations

import os
import signal

import torch
import yaml

from testkit.train_configs import tiny_tree

from craft_jepa.cli.main import main
from craft_jepa.train.preempt import REQUEUE_EXIT_CODE, REQUEUE_FILE_ENV
from craft_jepa.train.step import StepRunner


def test_sigusr1_checkpoints_and_exits_for_a_requeue(synth_dataset, tmp_path, monkeypatch, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_tree(tmp_path / "run", synth_dataset.shard_urls,
                                               **{"validation.every": 0})))
    marker = tmp_path / "requeue"
    monkeypatch.setenv(REQUEUE_FILE_ENV, str(marker))
    real_step = StepRunner.train_step

    def signalled_step(self, batches, step):  # the real step, then SLURM's warning signal after step 3
        result = real_step(self, batches, step)
        if step + 1 == 3:
            os.kill(os.getpid(), signal.SIGUSR1)
        return result

    monkeypatch.setattr(StepRunner, "train_step", signalled_step)
    previous = signal.getsignal(signal.SIGUSR1)
    assert main(["train", str(config)]) == REQUEUE_EXIT_CODE
    assert signal.getsignal(signal.SIGUSR1) == previous  # the handler is only there while training
    assert "stopped by a signal after step 3" in capsys.readouterr().err
    assert "SIGUSR1 after step 3" in marker.read_text()
    latest = tmp_path / "run" / "checkpoints" / "latest.pt"
    assert torch.load(latest, weights_only=True)["step"] == 3

    monkeypatch.setattr(StepRunner, "train_step", real_step)
    marker.unlink()
    assert main(["train", str(config)]) == 0
    assert torch.load(latest, weights_only=True)["step"] == 6 and not marker.exists()
