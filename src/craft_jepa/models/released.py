"""Meta's released V-JEPA 2-AC predictor (`vjepa2-ac-vitg.pt`, entry `predictor`) as released.

`load_released_predictor` reads the architecture off the checkpoint's tensor shapes (depth from
the block count, width, encoder width, 7-D action and state encoders), builds our ACPredictor in
the released layout (DROID's `droid7` actions and states, a state token per step, Meta's tiled
rotary tables, outputs layer-normed as Meta's planning wrapper does) and loads it STRICTLY with
models/warm_start.py. Only the unused `extrinsics_encoder` is dropped, and reported; anything
re-initialized, missing, unexpected or mis-shaped is an error listing the keys. Head count and
patch grid are not in the shapes: ViT-g's released model has 16 heads on a 16 x 16 grid (256 px);
`ReleasedModelSpec` holds them, with the encoder and the clip geometry the release was trained on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from craft_jepa.encoders.checkpoint import read_meta_checkpoint
from craft_jepa.models.predictor import ACPredictor, PredictorConfig
from craft_jepa.models.warm_start import WarmStartReport, warm_start_from_meta

BLOCK_KEY = re.compile(r"predictor_blocks\.(\d+)\.")


@dataclass
class ReleasedModelSpec:
    """What a bare released-layout predictor file does not say (its shapes give depth, widths and
    the action and state sizes). The defaults are the release's: ViT-g/16 at 256 px, 16 heads,
    8 frames at 4 fps."""

    encoder: str = "vit_giant"
    img_size: int = 256
    heads: int = 16
    fps: float = 4.0
    frames: int = 8
    max_crop_aspect: float = 1.35  # centre crop of the 16:9 DROID frame (configs/vitg16/droid-256px-8f.yaml)
    predictor_key: str = "predictor"
    encoder_key: str = "target_encoder"  # entry of the encoder .pt (vitg.pt)


class ReleasedLayoutError(ValueError):
    """The checkpoint is not laid out like the released AC predictor (names the keys)."""


def released_predictor_config(path: str | Path, *, heads: int = 16, grid_size: int = 16,
                              key: str = "predictor") -> PredictorConfig:
    """The PredictorConfig of a released-layout AC predictor file, read from its shapes."""
    state = read_meta_checkpoint(Path(path), key, what="released AC predictor")
    needed = ("predictor_embed.weight", "action_encoder.weight", "state_encoder.weight")
    absent = [name for name in needed if name not in state]
    blocks = {int(m.group(1)) for name in state if (m := BLOCK_KEY.match(name))}
    if absent or not blocks:
        raise ReleasedLayoutError(f"{path}[{key}]: not a released AC predictor layout: missing "
                                  f"{absent + ([] if blocks else ['predictor_blocks.*'])}")
    width, encoder_dim = state["predictor_embed.weight"].shape  # Linear(encoder_dim -> width)
    return PredictorConfig(
        preset="ac_vitg", depth=max(blocks) + 1, width=int(width), heads=heads,
        encoder_dim=int(encoder_dim), grid_size=grid_size,
        action_dim=int(state["action_encoder.weight"].shape[1]),
        state_dim=int(state["state_encoder.weight"].shape[1]),
        rope="meta", state_token=True, normalize_outputs=True, predict_residual=False,
    )


def load_released_predictor(path: str | Path, *, heads: int = 16, grid_size: int = 16,
                            key: str = "predictor") -> tuple[ACPredictor, WarmStartReport]:
    """Our ACPredictor holding the released weights, in eval mode, and the load report."""
    config = released_predictor_config(path, heads=heads, grid_size=grid_size, key=key)
    predictor = ACPredictor(config)
    report = warm_start_from_meta(predictor, path, key)
    if report.reinitialized or report.warnings:
        raise ReleasedLayoutError(f"{path}[{key}] did not load as released: re-initialized "
                                  f"{report.reinitialized}, warnings {report.warnings}")
    return predictor.eval(), report
