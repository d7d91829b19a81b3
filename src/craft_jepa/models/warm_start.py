"""Warm start from Meta's released V-JEPA 2-AC predictor (`vjepa2-ac-vitg.pt`, entry `predictor`).

The released predictor (DROID) has 24 blocks x 1024 wide x 16 heads over the ViT-g encoder
(1408 dims), a 7-D `action_encoder`, a 7-D `state_encoder` and a 6-D `extrinsics_encoder` (unused
by the released model). Our parameter names equal Meta's, so after removing `module.`/`backbone.`
prefixes everything loads one to one and STRICTLY, except:
- `extrinsics_encoder.*`: we have no extrinsics; dropped and reported.
- `action_encoder.*` / `state_encoder.*` whose shape differs from ours (VPT actions are not 7-D):
  they keep the predictor's own fresh reference init and are reported as re-initialized.
- With `state_token` and no state layout (state_dim 0) our state embedding is Linear(0, width):
  the checkpoint's `state_encoder.bias` loads (it is exactly Meta's state token for zero states)
  and its `state_encoder.weight` is dropped.
- Without any state token (state_dim 0, state_token false) the checkpoint's state encoder is
  dropped, and the report warns that the blocks now run on a token layout they never saw.
Everything else (embedding from the encoder width, all blocks, final norm and projection) must
match exactly, or StateDictMismatchError lists every missing, unexpected and mis-shaped key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from craft_jepa.encoders.checkpoint import load_state_dict_strict, read_meta_checkpoint
from craft_jepa.models.predictor import ACPredictor

CONDITIONING_MODULES = ("action_encoder", "state_encoder")
IGNORED_MODULES = ("extrinsics_encoder",)


@dataclass
class WarmStartReport:
    source: str
    loaded: list[str] = field(default_factory=list)
    reinitialized: list[str] = field(default_factory=list)  # "module (in -> out)": kept our fresh init
    dropped: list[str] = field(default_factory=list)  # in the checkpoint, not used by our model
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"warm start from {self.source}: loaded {len(self.loaded)} tensors; "
                f"re-initialized {self.reinitialized or 'nothing'}; dropped {self.dropped or 'nothing'}")

    def describe(self) -> str:
        """Every key by fate, for the run log."""
        lines = [str(self), f"  loaded: {', '.join(self.loaded)}"]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def warm_start_from_meta(predictor: ACPredictor, path: str | Path, key: str = "predictor") -> WarmStartReport:
    """Load a Meta AC predictor into `predictor` as described in the module docstring."""
    checkpoint = read_meta_checkpoint(Path(path), key, what="AC predictor checkpoint (predictor.warm_start)")
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
        fits = [n in merged and merged[n].shape == ours[n].shape for n in names]
        if all(fits):
            continue
        if layer.in_features == 0 and fits[1]:
            # State token without a state layout: keep Meta's token for zero states (its bias).
            report.dropped.append(names[0])
            merged[names[0]] = ours[names[0]]
            continue
        # Sizes differ (or absent): keep the predictor's own fresh reference init. Not redrawn here,
        # so every rank of a distributed run keeps the identical init it was built with.
        theirs = tuple(merged[names[0]].shape[::-1]) if names[0] in merged else "absent"
        for n in names:
            merged[n] = ours[n]
        report.reinitialized.append(f"{module} ({layer.in_features} -> {layer.out_features}; checkpoint {theirs})")
    if predictor.state_encoder is None and any(n.startswith("state_encoder.") for n in checkpoint):
        report.warnings.append(
            "the checkpoint's predictor has a state token in every step but this model has none, so the "
            "loaded blocks run on a token layout they were never trained on; set predictor.state_token: "
            "true to keep the released layout")
    if predictor.config.rope != "meta":
        report.warnings.append(f"predictor.rope={predictor.config.rope!r}, but the released predictor was trained "
                               "with Meta's tiled rotary tables: its attention now sees other position codes; "
                               "set predictor.rope: meta to keep them")
    if predictor.config.predict_residual:
        report.warnings.append("predict_residual is on, but the released predictor predicts the next frame "
                               "directly: its outputs now get the current frame added")
    merged = {k: v.to(ours[k].dtype) if k in ours else v for k, v in merged.items()}
    load_state_dict_strict(predictor, merged, report.source)
    fresh = {entry.split(" ")[0] for entry in report.reinitialized}
    report.loaded = sorted(k for k in merged if k.split(".", 1)[0] not in fresh and k not in report.dropped)
    return report
