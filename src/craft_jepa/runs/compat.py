"""May this checkpoint continue this run? Compare what defines the model's inputs and outputs.

A resumed run must see the same latents (encoder, frame size and normalization), the same
action and state vectors (layouts, fps, the action scaler) and the same predictor shape as
the run that wrote the checkpoint. Anything else (batch size, lr, clip length, workers,
logging, encoder dtype, where the encoder weights now live) may change between restarts.
A mismatch is refused with every differing setting named, checkpoint value -> run value.
"""

from __future__ import annotations

import os
from typing import Any

# Settings that must match, per config section. None: every field of the section except those
# in _MAY_CHANGE.
_MUST_MATCH: dict[str, tuple[str, ...] | None] = {
    "encoder": ("name", "img_size", "checkpoint", "checkpoint_key", "init_seed", "normalize"),
    "clip": ("action_layout", "state_layout", "fps", "size", "max_crop_aspect", "hotbar_start", "mean", "std"),
    "predictor": None,
    "vjepa": None,
    "decoder": None,
}
# The section that defines each objective's trained model.
_OWN_SECTION = {"ac": "predictor", "vjepa": "vjepa", "decoder": "decoder"}
# warm_start only seeds a fresh run's weights; a resumed run takes them from its checkpoint.
_MAY_CHANGE = {"predictor": {"activation_checkpointing", "warm_start"},
               # The EMA schedule, crops and which entries seeded a fresh run's weights may change.
               "vjepa": {"activation_checkpointing", "load_predictor", "ema", "crop_scale", "crop_aspect"},
               "decoder": {"ssim_weight", "ssim_window"}}  # the loss may change, not the network
# Settings added after checkpoints were written: absent in an old checkpoint means this value.
# (Runs before clip.hotbar_start existed injected hotbar keys with VPT's convention: "zero".)
_ABSENT_MEANS = {("predictor", "state_token"): False, ("predictor", "rope"): "meta", ("clip", "max_crop_aspect"): 1.0, ("clip", "hotbar_start"): "zero"}


class CheckpointMismatchError(RuntimeError):
    """The checkpoint was written by a run with a different encoder, layout, scaler or predictor."""


def _comparable(section: str, name: str, value: Any) -> Any:
    if section == "encoder" and name == "checkpoint":
        # The weights file may move between clusters; a different file name is a different encoder.
        return None if value is None else os.path.basename(str(value))
    if section == "vjepa" and name == "predictor" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "activation_checkpointing"}
    if isinstance(value, tuple):
        return list(value)
    return value


def config_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """'section.key: checkpoint value -> run value' for each model-defining setting that differs."""
    found = []
    if stored.get("objective", "ac") != current.get("objective", "ac"):  # runs before objectives were AC runs
        found.append(f"objective: {stored.get('objective', 'ac')!r} -> {current.get('objective', 'ac')!r}")
    for section, names in _MUST_MATCH.items():
        # Only the running objective's own section defines its model (the other keeps defaults).
        objective = current.get("objective", "ac")
        if section in _OWN_SECTION.values() and section != _OWN_SECTION.get(objective):
            continue
        old, new = stored.get(section) or {}, current.get(section) or {}
        keys = names if names is not None else sorted((set(old) | set(new)) - _MAY_CHANGE.get(section, set()))
        for name in keys:
            if section == "encoder" and name == "init_seed" and (old.get("checkpoint") or new.get("checkpoint")):
                continue  # only a random-weight encoder is defined by its seed
            default = _ABSENT_MEANS.get((section, name))
            if _comparable(section, name, old.get(name, default)) != _comparable(section, name, new.get(name, default)):
                found.append(f"{section}.{name}: {old.get(name)!r} -> {new.get(name)!r}")
    return found


def encoder_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """'encoder.key: stored -> current' for each setting that defines the latents (as on resume)."""
    return config_differences({"encoder": stored, "objective": "ac"}, {"encoder": current, "objective": "ac"})


def scaler_differences(stored: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    if stored is None:  # written before checkpoints carried the scaler
        return []
    keys = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
    return [f"scaler.{k}: the checkpoint's differs from the run's" for k in keys]


def check_resume_compatible(state: dict[str, Any], run_config: dict[str, Any], scaler: dict[str, Any],
                            path: str | os.PathLike[str]) -> None:
    """Raise CheckpointMismatchError naming every difference between checkpoint and run."""
    differences = config_differences(state["config"], run_config)
    differences += scaler_differences(state.get("scaler"), scaler)
    if differences:
        listed = "\n  ".join(differences)
        raise CheckpointMismatchError(
            f"{path} was written by a run with a different model setup (checkpoint -> this run):\n  {listed}\n"
            f"Restore these settings to resume, or start a new run_dir."
        )
