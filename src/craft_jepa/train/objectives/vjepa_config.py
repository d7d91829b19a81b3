"""`vjepa:` of a run config: V-JEPA pre-training's masks, mask predictor, EMA, crops and loss."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from craft_jepa.models.mask_predictor import MaskPredictorConfig
from craft_jepa.train.objectives.masks import MaskBlockConfig, recipe_masks


@dataclass
class VJEPAConfig:
    masks: list[MaskBlockConfig] = field(default_factory=recipe_masks)
    predictor: MaskPredictorConfig = field(default_factory=MaskPredictorConfig)
    ema: tuple[float, float] = (0.99925, 0.99925)  # target momentum at step 0 -> at schedule.total_steps
    crop_scale: tuple[float, float] = (0.3, 1.0)  # random resized crop: area fraction
    crop_aspect: tuple[float, float] = (0.75, 1.35)  # and width / height
    loss_exp: float = 1.0  # p in mean(|pred - target|^p) / p
    activation_checkpointing: bool = False  # context encoder blocks (the predictor has its own flag)
    # Continued pre-training from encoder.checkpoint (Meta .pt): also load its `predictor` entry.
    load_predictor: bool = True

    def __post_init__(self) -> None:
        if not self.masks:
            raise ValueError("masks: at least one mask generator is needed")
        bad = [i for i, m in enumerate(self.masks) if not isinstance(m, MaskBlockConfig)]
        if bad:
            raise ValueError(f"masks: entry {bad[0]} is {self.masks[bad[0]]!r}, not a mask generator "
                             "(blocks, scale, aspect)")
        if self.predictor.num_mask_tokens != len(self.masks):
            raise ValueError(f"masks: {len(self.masks)} mask generators but predictor.num_mask_tokens="
                             f"{self.predictor.num_mask_tokens}: one learned mask token each")
        if not all(0.0 <= m <= 1.0 for m in self.ema):
            raise ValueError(f"ema momenta must lie in [0, 1], got {self.ema}")
        for name in ("crop_scale", "crop_aspect"):
            low, high = getattr(self, name)
            if not (0 < low <= high) or (name == "crop_scale" and high > 1):
                raise ValueError(f"{name} must be a range 0 < low <= high (scale <= 1), got {(low, high)}")
        if not (math.isfinite(self.loss_exp) and self.loss_exp > 0):
            raise ValueError(f"loss_exp must be a finite number > 0, got {self.loss_exp}")
