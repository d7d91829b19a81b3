"""`WorldModel`: the Python API over a trained run or an export.

    from craft_jepa.api import WorldModel
    wm = WorldModel.from_pretrained("runs/tiny-cpu")          # or an EXPORT_DIR
    z = wm.encode(frames)                                    # uint8 (T, H, W, 3) -> (T, N, D)
    z_next = wm.predict(z[None], actions[None])              # teacher forcing, raw VPT actions
    future = wm.rollout(z[None, :1], actions[None])          # KV-cached autoregressive rollout
    plan = wm.plan(start_image, goal_image)                  # CEM toward the goal
    print(plan.describe())
    images = wm.decode(z)                                    # latents -> uint8 (T, S, S, 3), needs a decoder
    frames = wm.imagine(start_image, plan.actions)           # the imagined future of an action sequence

Callers always speak RAW layout units (mouse units, degrees, 0/1 keys: `vpt.layouts`); the
action scaler of the run is applied inside. Latents are the frozen encoder's tokens after a
parameter-free layer norm, exactly what the predictor was trained on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from craft_jepa.eval.pictures import to_uint8
from craft_jepa.planning.action_space import ActionSpace, ActionSpaceConfig
from craft_jepa.planning.cem import CEMConfig
from craft_jepa.planning.objectives import EnergyMode
from craft_jepa.planning.offline import plan_latents
from craft_jepa.runs.decoder_files import find_decoder, load_run_decoder
from craft_jepa.runs.loading import LoadedRun, load_run


@dataclass
class Plan:
    actions: np.ndarray  # (H, A) raw layout vectors
    energy: float  # L1 between the plan's predicted latents and the goal
    feature_names: tuple[str, ...]
    steps: list[dict]  # each step in VPT terms (`ActionLayout.describe`)

    def describe(self) -> str:
        """One line per step, only the active parts: camera degrees, held keys, hotbar."""
        lines = []
        for t, step in enumerate(self.steps):
            parts = []
            for name, value in step.items():
                if isinstance(value, bool):
                    if value:
                        parts.append(name)
                elif isinstance(value, float):
                    parts.append(f"{name}={value:+.2f}")
                elif value is not None:
                    parts.append(f"{name}={value}")
            lines.append(f"step {t}: " + (", ".join(parts) if parts else "(no action)"))
        return "\n".join(lines)


class WorldModel:
    def __init__(self, run: LoadedRun) -> None:
        self.run = run

    @classmethod
    def from_pretrained(cls, run_or_export_dir: str | os.PathLike[str], device: str | torch.device = "cpu",
                        which: str = "best", encoder_checkpoint: str | os.PathLike[str] | None = None) -> WorldModel:
        """Load RUN_DIR (checkpoints/best.pt, else latest.pt) or EXPORT_DIR, or an export on the
        Hugging Face Hub: `"org/name"` (when no such local path exists) or `"hf://org/name@revision"`,
        read from the Hub cache and downloaded when allowed (HF_HOME, HF_HUB_OFFLINE, HF_TOKEN).

        `encoder_checkpoint`: the encoder weights' path on this machine, when the export names
        another (the training cluster's)."""
        return cls(load_run(run_or_export_dir, device, which, encoder_checkpoint))

    # ------------------------------------------------------------------ properties

    @property
    def device(self) -> torch.device:
        return self.run.device

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.run.action_layout.feature_names)

    @property
    def action_dim(self) -> int:
        return self.run.action_layout.dim

    @property
    def state_dim(self) -> int:
        return self.run.state_layout.dim

    # ------------------------------------------------------------------ encoding

    def encode(self, frames: np.ndarray | Tensor) -> Tensor:
        """Frames -> latents, keeping the leading dims.

        - RGB images with channels last (..., H, W, 3), uint8 0-255 or float 0-1, any size:
          resized/cropped/normalized like the data stage; (T, H, W, 3) -> (T, N, D).
        - model-ready float tensors (B, T, 3, size, size), already normalized -> (B, T, N, D).
        """
        x = torch.as_tensor(np.asarray(frames)) if not isinstance(frames, Tensor) else frames
        if x.shape[-1] == 3 and x.ndim >= 3:
            x = self.run.frames_to_input(x)  # (..., 3, size, size)
        if x.ndim < 3 or x.shape[-3] != 3:
            raise ValueError(f"frames must be (..., H, W, 3) images or (B, T, 3, H, W) tensors, got {tuple(x.shape)}")
        lead = x.shape[:-3]
        flat = x.reshape(-1, 1, *x.shape[-3:])  # (M, 1, 3, H, W): each frame encoded alone
        z = self.run.latents(flat.float())  # (M, 1, N, D)
        return z.reshape(*lead, *z.shape[2:])

    # ------------------------------------------------------------------ prediction

    def _inputs(self, actions: np.ndarray | Tensor, states: np.ndarray | Tensor | None,
                steps: tuple[int, int]) -> tuple[Tensor, Tensor]:
        a = torch.as_tensor(np.asarray(actions) if not isinstance(actions, Tensor) else actions)
        if a.ndim != 3 or a.shape[-1] != self.action_dim:
            raise ValueError(f"actions must be (B, T, {self.action_dim}) raw {self.run.action_layout.name} "
                             f"vectors, got {tuple(a.shape)}")
        a = self.run.scale(a.to(self.device).float())
        if states is None:
            if self.state_dim:
                raise ValueError(f"this model needs states (B, T, {self.state_dim}) "
                                 f"({self.run.state_layout.name} layout)")
            s = torch.zeros(*steps, 0, device=self.device)
        else:
            s = torch.as_tensor(np.asarray(states) if not isinstance(states, Tensor) else states)
            s = s.to(self.device).float()
        return a, s

    @torch.no_grad()
    def predict(self, z: Tensor, actions: np.ndarray | Tensor, states: np.ndarray | Tensor | None = None) -> Tensor:
        """Teacher forcing: z (B, T, N, D), raw actions (B, T, A), states (B, T, S) -> (B, T, N, D);
        output t predicts frame t+1."""
        if z.ndim != 4:
            raise ValueError(f"z must be (B, T, N, D), got {tuple(z.shape)}")
        a, s = self._inputs(actions, states, tuple(z.shape[:2]))
        return self.run.predictor(z.to(self.device), a, s)

    @torch.no_grad()
    def rollout(self, z0: Tensor, actions: np.ndarray | Tensor, states: np.ndarray | Tensor | None = None,
                steps: int | None = None) -> Tensor:
        """KV-cached rollout: context z0 (B, T0, N, D) (or (B, N, D) for one frame), raw actions
        (B, T0+H-1, A) indexed from the first context frame -> (B, H, N, D).
        `steps` defaults to every step the actions allow."""
        if z0.ndim == 3:
            z0 = z0[:, None]
        t0 = z0.shape[1]
        a, s = self._inputs(actions, states, (actions.shape[0], actions.shape[1]))
        steps = a.shape[1] - t0 + 1 if steps is None else steps
        return self.run.predictor.rollout(z0.to(self.device), a, s, steps=steps)

    # ------------------------------------------------------------------ planning

    def plan(self, start: np.ndarray | Tensor, goal: np.ndarray | Tensor, horizon: int = 2,
             samples: int = 400, top_k: int = 10, iterations: int = 10, momentum: float = 0.15,
             seed: int = 0, energy: EnergyMode = "last", state: np.ndarray | Tensor | None = None,
             action_space: ActionSpaceConfig | None = None,
             hold: np.ndarray | Tensor | None = None) -> Plan:
        """CEM over VPT actions from a start to a goal; each is an image (H, W, 3) or a latent (N, D).

        Energy: mean L1 between predicted and goal latents at the last step ("last") or every
        step ("all"), plus the camera prior of `action_space` (`ActionSpaceConfig.camera_prior`;
        0 leaves the energy alone, as V-JEPA 2-AC). `state` (S,) is the start state for layouts with states. Features CEM does
        not plan (`action_space.plan`, default the camera) take `hold` (A,), a raw layout vector
        (default 0; pass e.g. the start frame's hotbar slot and GUI flag)."""
        z_start, z_goal = self._as_latent(start), self._as_latent(goal)
        space = ActionSpace.from_layout(self.run.action_layout, self.run.scaler, action_space)
        cfg = CEMConfig(horizon=horizon, samples=samples, top_k=top_k, iterations=iterations,
                        momentum=momentum, seed=seed)
        if state is None and self.state_dim:
            raise ValueError(f"this model needs the start state ({self.state_dim} values)")
        state_t = None if state is None else torch.as_tensor(np.asarray(state), dtype=torch.float32)[None]
        hold_t = None if hold is None else torch.as_tensor(np.asarray(hold), dtype=torch.float32).reshape(1, -1)
        result = plan_latents(self.run, space, z_start[None], z_goal[None], cfg, state_t, energy, hold=hold_t)
        actions = result.actions[0].cpu().numpy()  # (H, A)
        return Plan(actions, float(result.energy[0]), self.feature_names, self.describe(actions))

    def describe(self, actions: np.ndarray | Tensor) -> list[dict]:
        """Raw layout vectors (H, A) -> one dict of VPT terms per step."""
        arr = np.asarray(actions.cpu() if isinstance(actions, Tensor) else actions).reshape(-1, self.action_dim)
        return [self.run.action_layout.describe(step) for step in arr]

    # ------------------------------------------------------------------ pictures (pixel decoder)

    @property
    def decoder(self):
        """The run's pixel decoder (RUN_DIR/decoder/ or EXPORT_DIR/decoder.*: `craft-jepa decoder
        train`), loaded on first use; refused when trained for another encoder."""
        if getattr(self, "_decoder", None) is None:
            folder = find_decoder(self.run.source)
            if folder is None:
                raise FileNotFoundError(f"{self.run.source}: no pixel decoder (decoder.json + decoder.safetensors); "
                                        f"train one with `craft-jepa decoder train {self.run.source} --data SHARDS`")
            self._decoder = load_run_decoder(self.run, folder)
        return self._decoder

    @torch.no_grad()
    def decode(self, z: Tensor) -> np.ndarray:
        """Latents (..., N, D) (true, predicted or rolled out) -> uint8 RGB frames (..., S, S, 3)."""

        return to_uint8(self.decoder(z.to(self.device).float()))

    @torch.no_grad()
    def imagine(self, start: np.ndarray | Tensor, actions: np.ndarray | Tensor,
                states: np.ndarray | Tensor | None = None) -> np.ndarray:
        """A start image (H, W, 3) (or latent (N, D)) and raw actions (H, A) -> the decoded KV-cached
        rollout, uint8 (H, S, S, 3): frame h is what the model imagines after action h."""
        a = torch.as_tensor(np.asarray(actions) if not isinstance(actions, Tensor) else actions).float()
        if a.ndim != 2:
            raise ValueError(f"actions must be (H, {self.action_dim}) raw layout vectors, got {tuple(a.shape)}")
        s = None if states is None else torch.as_tensor(np.asarray(states), dtype=torch.float32)[None]
        return self.decode(self.rollout(self._as_latent(start)[None], a[None], s)[0])

    def _as_latent(self, x: np.ndarray | Tensor) -> Tensor:
        if isinstance(x, Tensor) and x.ndim == 2 and x.shape[-1] != 3:
            return x.float().to(self.device)  # already a latent (N, D)
        arr = np.asarray(x.cpu() if isinstance(x, Tensor) else x)
        if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
            raise ValueError(f"expected an RGB image (H, W, 3) or a latent (N, D), got shape {arr.shape}")
        return self.encode(arr[..., :3])  # (N, D); RGBA PNGs lose alpha
