"""StepRunner: one optimizer step with hand-made token batches (no data pipeline needed).

Properties: gradient accumulation and 2-process DDP (gloo) both reproduce the update of
one process on the whole batch; non-finite losses skip the update.
"""

from __future__ import annotations

import math
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from craft_jepa.models import ACPredictor, PredictorConfig
from craft_jepa.train.distributed import DistInfo
from craft_jepa.train.losses import LossConfig
from craft_jepa.train.optim import OptimConfig
from craft_jepa.train.schedule import ScheduleConfig
from craft_jepa.train.objectives.ac import ACObjective
from craft_jepa.train.step import StepRunner

B, T, GRID, D, A = 4, 4, 2, 16, 5


def tiny_predictor() -> ACPredictor:
    return ACPredictor(PredictorConfig(preset="ac_tiny", encoder_dim=D, grid_size=GRID, action_dim=A, init_seed=0))


def make_batch(seed: int = 0, size: int = B) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "tokens": torch.randn(size, T, GRID * GRID, D, generator=g),
        "actions": torch.randn(size, T - 1, A, generator=g),
        "states": torch.zeros(size, T, 0),
    }


def split(batch: dict[str, torch.Tensor], parts: int) -> list[dict[str, torch.Tensor]]:
    return [{k: v.chunk(parts)[i] for k, v in batch.items()} for i in range(parts)]


def make_runner(info: DistInfo | None = None, accum: int = 1) -> StepRunner:
    info = info or DistInfo()
    return StepRunner(
        ACObjective(tiny_predictor(), None, None, LossConfig(auto_steps=2), info.device),
        # eps 1e-4: Adam's first step is ~lr*sign(g), which would blow float32 summation-order
        # noise on near-zero gradients (e.g. 1e-9) up to lr; a larger eps keeps it linear.
        OptimConfig(lr=1e-2, accum_steps=accum, grad_clip=0.5, eps=1e-4),
        ScheduleConfig(total_steps=10, warmup_steps=0, decay_steps=0), info,
    )


def test_one_step_updates_and_reports_losses():
    runner = make_runner()
    before = {k: v.clone() for k, v in runner.predictor.state_dict().items()}
    result = runner.train_step([make_batch()], step=0)
    assert not result.skipped and result.clips == B
    assert set(result.losses) == {"loss", "teacher_forcing", "rollout", "copy_last"}
    assert result.losses["loss"] == pytest.approx(result.losses["teacher_forcing"] + result.losses["rollout"], rel=1e-5)
    assert any(not torch.equal(before[k], v) for k, v in runner.predictor.state_dict().items())


def test_gradient_accumulation_matches_full_batch():
    full = make_runner()
    full.train_step([make_batch()], step=0)
    accum = make_runner(accum=2)
    accum.train_step(split(make_batch(), 2), step=0)
    assert_same_update(full.predictor, dict(accum.predictor.named_parameters()))


def assert_same_update(model: torch.nn.Module, other: dict[str, torch.Tensor]) -> None:
    """Same clipped gradients (up to float32 summation order) and same new weights."""
    for name, param in model.named_parameters():
        assert torch.allclose(param.grad, other[name].grad, rtol=1e-5, atol=1e-8), f"grad {name}"
        assert torch.allclose(param, other[name], rtol=0, atol=1e-6), name


def test_nonfinite_loss_skips_the_update():
    runner = make_runner()
    before = {k: v.clone() for k, v in runner.predictor.state_dict().items()}
    batch = make_batch()
    batch["tokens"][0, 0, 0, 0] = math.nan
    result = runner.train_step([batch], step=0)
    assert result.skipped and math.isnan(result.losses["loss"])
    for k, v in runner.predictor.state_dict().items():
        assert torch.equal(before[k], v), k
    assert not runner.train_step([make_batch()], step=1).skipped  # recovers on good data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out_path: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        runner = make_runner(DistInfo(rank=rank, world_size=world))
        result = runner.train_step([split(make_batch(), world)[rank]], step=0)
        if rank == 0:
            params = {n: p.detach() for n, p in runner.predictor.named_parameters()}
            grads = {n: p.grad for n, p in runner.predictor.named_parameters()}
            torch.save({"params": params, "grads": grads, "losses": result.losses,
                        "clips": result.clips}, out_path)
    finally:
        dist.destroy_process_group()


def test_two_process_ddp_equals_one_process_on_the_concatenated_batch(tmp_path):
    out = tmp_path / "ddp.pt"
    mp.start_processes(_ddp_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True, start_method="spawn")
    ddp = torch.load(out, weights_only=True)
    single = make_runner()
    result = single.train_step([make_batch()], step=0)
    assert ddp["clips"] == B
    assert ddp["losses"]["loss"] == pytest.approx(result.losses["loss"], rel=1e-6)
    other = {}
    for name, value in ddp["params"].items():
        other[name] = value.clone()
        other[name].grad = ddp["grads"][name]
    assert_same_update(single.predictor, other)
