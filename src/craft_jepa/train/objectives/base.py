"""What a training objective tells the shared run machinery (train/step.py, train/loop.py).

An objective owns its models and says, for its batches:
- `module`: the trainable modules plus the loss, as ONE nn.Module whose forward(*inputs) returns
  named scalar losses ("loss" is the one back-propagated). DDP wraps it, the optimizer and grad
  clipping take its trainable parameters, so DDP sees one forward per backward;
- `prepare(batch)`: what runs before it without gradients (a frozen or EMA encoder's targets,
  masks, augmentation) -> the forward's inputs;
- `after_step(step)`: work after each applied optimizer update (V-JEPA's EMA target update);
- `state_dict` / `load_state_dict`: its checkpoint entries (merged into the run checkpoint's top
  level) and their strict loading; `checkpoint_keys` must be present to resume;
- `loss_names`, `progress`, `describe_validation`: what is reported (validation's metric is
  the "loss" of the same forward on validation batches).

StepRunner (autocast, accumulation with no_sync, clipping, non-finite skips) and the loop
(resume, chunks, preemption, checkpoints, logging) never name an objective's modules.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from torch import Tensor, nn

from craft_jepa.encoders import load_state_dict_strict


class Objective:
    name = "objective"
    module: nn.Module
    loss_names: tuple[str, ...] = ("loss",)
    checkpoint_keys: tuple[str, ...] = ()
    # Values that must match for a checkpoint to resume this run (the AC action scaler); None: none.
    scaler_dict: dict[str, Any] | None = None

    def prepare(self, batch: dict[str, Any]) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def batch_clips(self, batch: dict[str, Any]) -> int:
        for key in ("frames", "tokens", "actions"):
            if key in batch:
                return int(batch[key].shape[0])
        raise KeyError("batch has none of frames, tokens, actions")

    def after_step(self, step: int) -> None:
        """Called after an applied optimizer update (not after a skipped one); `step` counts from 1."""

    @contextlib.contextmanager
    def validating(self) -> Iterator[None]:
        """Inside: prepare() draws what validation needs (fixed masks, no augmentation)."""
        yield

    def fresh_start(self) -> list[str]:
        """Initialise weights of a run that does not resume (warm start); log lines to write."""
        return []

    def start_messages(self) -> list[str]:
        """Lines for the run log at start: which checkpoint entry (target_encoder / encoder) a
        frozen encoder was read from."""
        source = getattr(getattr(self, "encoder", None), "weights_source", None)
        return [source] if source else []

    def checkpointed_modules(self) -> dict[str, nn.Module]:
        """Checkpoint entry -> the module saved under it, for the default (strict) state dicts."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {key: module.state_dict() for key, module in self.checkpointed_modules().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, module in self.checkpointed_modules().items():
            load_state_dict_strict(module, state[key], key)

    def progress(self, losses: dict[str, float]) -> dict[str, float]:
        """Short fields for the progress bar."""
        return {"loss": losses["loss"]}

    def describe_validation(self, losses: dict[str, float]) -> str:
        return f"val loss {losses['loss']:.4f}"
