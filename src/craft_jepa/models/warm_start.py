"""Warm start from Meta's released V-JEPA 2-AC predictor (`vjepa2-ac-vitg.pt`, entry `predictor`).

The released predictor (DROID) has 24 blocks x 1024 wide x 16 heads over the ViT-g encoder
(1408 dims), a 7-D `action_encoder`, a 7-D `state_encoder` and a 6-D `extrinsics_encoder` (unused
by the released model). Our parameter names equal Meta's, so after removing `module.`/`backbone.`
prefixes everything loads one to one and STRICTLY, except:
- `extrinsics_encoder.*`: we have no extrinsics; dropped and reported.
- `action_encoder.*` / `state_encoder.*` whose shape differs from ours (VPT actions are not 7-D):
  kept freshly initialized (reference init) and reported; if we use no state, the checkpoint's
  state encoder is dropped and reported.
Everything else (embedding from the encoder width, all blocks, final norm and projection) must
match exactly, or StateDictMismatchError lists the differences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from craft_jepa.encoders.checkpoint import load_state_dict_strict, read_meta_checkpoint
from craft_jepa.models.predictor import ACPredictor, reinit_linear

CONDITIONING_MODULES = ("action_encoder", "state_encoder")
IGNORED_MODULES = ("extrinsics_encoder",)


@dataclass
class WarmStartReport:
    source: str
    loaded: list[str] = field(default_factory=list)
    reinitialized: list[str] = field(default_factory=list)  # shape differed: kept fresh init
    dropped: list[str] = field(default_factory=list)  # in the checkpoint, not in our model

    def __str__(self) -> str:
        return (f"warm start from {self.source}: loaded {len(self.loaded)} tensors; "
                f"re-initialized {self.reinitialized or 'nothing'}; dropped {self.dropped or 'nothing'}")


def warm_start_from_meta(predictor: ACPredictor, path: str | Path, key: str = "predictor") -> WarmStartReport:
    """Load a Meta AC predictor into `predictor` as described in the module docstring."""
    checkpoint = read_meta_checkpoint(Path(path), key)
    ours = predictor.state_dict()
    report = WarmStartReport(source=f"{path}[{key}]")
    merged: dict[str, torch.Tensor] = {}
    for name, tensor in checkpoint.items():
        module = name.split(".", 1)[0]
        if module in IGNORED_MODULES or (module in CONDITIONING_MODULES and name not in ours):
            report.dropped.append(name)
        else:
            merged[name] = tensor
    for module in CONDITIONING_MODULES:
        layer = getattr(predictor, module)
        if layer is None:
            continue
        names = [f"{module}.weight", f"{module}.bias"]
        if all(n in merged and merged[n].shape == ours[n].shape for n in names):
            continue
        # Sizes differ (or absent): fresh reference init, reported.
        reinit_linear(layer, predictor.config.init_std)
        for n in names:
            merged[n] = layer.state_dict()[n.split(".", 1)[1]]
        report.reinitialized.append(f"{module} ({layer.in_features} -> {layer.out_features})")
    reference = predictor.state_dict()
    merged = {k: v.to(reference[k].dtype) if k in reference else v for k, v in merged.items()}
    load_state_dict_strict(predictor, merged, report.source)
    fresh = {entry.split(" ")[0] for entry in report.reinitialized}
    report.loaded = sorted(k for k in merged if k.split(".", 1)[0] not in fresh)
    return report
