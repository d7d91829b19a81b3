"""Pictures of what the model imagines, through the pixel decoder (models/pixel_decoder.py).

- `clip_strips`: for a few held-out clips, rows true frames | decoded true latents | decoded
  teacher-forced predictions | decoded KV-cached rollout, as one PNG grid (`rollout.png`) and one
  animated GIF per clip (`rollout_K.gif`: the four side by side, frame after frame), with the
  PSNR of each row against the true frames beside the decoded copy-last baseline;
- `counterfactual_strips`: from one start frame, a rollout per scripted action (turn left, turn
  right, look up, walk forward, no-op, attack): `counterfactual.png` + `counterfactual.gif`, with
  the horizontal / vertical shift of each decoded end frame against the decoded start frame
  (phase correlation: +dx = the scenery moved right, +dy = down);
- `plan_strip`: start | goal | the decoded end state imagined under a plan, and under the recorded
  actions (`plan.png`).

PNG grids have a left label column of `LABEL_W` pixels, cells of `size * scale` pixels and
`PAD` pixels between and around them (`grid_size`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from craft_jepa.data.loader import build_val_loader
from craft_jepa.models.pixel_decoder import psnr
from craft_jepa.vpt.action_groups import camera_degrees

LABEL_W = 96
PAD = 2
SCALE = 2
SCRIPTED = ("turn_left", "turn_right", "look_up", "walk_forward", "no_op", "attack")
STRIP_ROWS = ("true", "decoded true", "teacher-forced", "rollout")


# ---------------------------------------------------------------------- images


def to_uint8(rgb: Tensor | np.ndarray) -> np.ndarray:
    """RGB (..., 3, H, W) in [0, 1] -> uint8 (..., H, W, 3)."""
    x = rgb.detach().float().cpu().numpy() if isinstance(rgb, Tensor) else np.asarray(rgb, dtype=np.float32)
    return (np.moveaxis(x, -3, -1).clip(0, 1) * 255 + 0.5).astype(np.uint8)


def grid_size(rows: int, cols: int, size: int, scale: int = SCALE, label_w: int = LABEL_W) -> tuple[int, int]:
    """(width, height) in pixels of a `compose_grid` picture."""
    cell = size * scale
    return label_w + cols * (cell + PAD) + PAD, rows * (cell + PAD) + PAD


def compose_grid(rows: Sequence[Sequence[np.ndarray | None]], labels: Sequence[str], scale: int = SCALE,
                 label_w: int = LABEL_W, header: Sequence[str] | None = None):
    """uint8 images (S, S, 3) in rows (None: an empty cell) -> a PIL image with row labels."""
    from PIL import Image, ImageDraw  # Pillow comes with matplotlib; imported where pictures are drawn

    size = next(im for row in rows for im in row if im is not None).shape[0]
    cols = max(len(r) for r in rows)
    width, height = grid_size(len(rows), cols, size, scale, label_w)
    canvas = Image.new("RGB", (width, height), (24, 24, 24))
    draw = ImageDraw.Draw(canvas)
    cell = size * scale
    for r, (row, label) in enumerate(zip(rows, labels)):
        top = PAD + r * (cell + PAD)
        draw.text((4, top + cell // 2 - 6), label, fill=(230, 230, 230))
        for c, image in enumerate(row):
            if image is None:
                continue
            tile = Image.fromarray(image).resize((cell, cell), Image.NEAREST)
            canvas.paste(tile, (label_w + PAD + c * (cell + PAD), top))
    if header:  # small column captions over the first row (t=0, t=1, ...)
        for c, text in enumerate(header):
            draw.text((label_w + PAD + c * (cell + PAD) + 2, PAD + 1), text, fill=(255, 255, 0))
    return canvas


def save_gif(frames: Sequence[Any], path: str | os.PathLike[str], ms: int = 500) -> Path:
    """PIL images -> an endlessly looping animated GIF."""
    frames = list(frames)
    frames[0].save(str(path), save_all=True, append_images=frames[1:], duration=ms, loop=0, optimize=False)
    return Path(path)


def phase_shift(reference: np.ndarray, moved: np.ndarray) -> tuple[float, float]:
    """(dy, dx) such that `moved` ~ `reference` translated by (dy, dx) pixels (+dx: to the right),
    by phase correlation of the grey images (Hann window, sub-pixel parabola at the peak)."""

    def grey(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        x = x.mean(-1) if x.ndim == 3 else x
        return x - x.mean()

    a, b = grey(reference), grey(moved)
    h, w = a.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    fa, fb = np.fft.fft2(a * window), np.fft.fft2(b * window)
    cross = fb * np.conj(fa)
    corr = np.fft.ifft2(cross / np.maximum(np.abs(cross), 1e-12)).real
    py, px = np.unravel_index(int(np.argmax(corr)), corr.shape)

    def refine(c_m: float, c_0: float, c_p: float) -> float:
        denom = c_m - 2 * c_0 + c_p
        return 0.0 if abs(denom) < 1e-12 else float(np.clip(0.5 * (c_m - c_p) / denom, -0.5, 0.5))

    dy = py + refine(corr[(py - 1) % h, px], corr[py, px], corr[(py + 1) % h, px])
    dx = px + refine(corr[py, (px - 1) % w], corr[py, px], corr[py, (px + 1) % w])
    dy = dy - h if dy > h / 2 else dy
    dx = dx - w if dx > w / 2 else dx
    return float(dy), float(dx)


# ---------------------------------------------------------------------- scripted actions


def scripted_actions(layout: Any, scaler: Any, steps: int, hold: np.ndarray | None = None,
                     degrees: float | None = None) -> dict[str, np.ndarray]:
    """Raw layout vectors (steps, A) per scripted action. Turns are `degrees` per step (default:
    twice the training data's yaw standard deviation, so the model is asked what it has seen),
    with the matching mouse motion (0.15 degrees per mouse unit, VPT)."""
    names = list(layout.feature_names)
    if degrees is None:
        degrees = 10.0
        if scaler is not None and "yaw_diff" in scaler.continuous_features:
            degrees = float(2 * scaler.scale[list(scaler.continuous_features).index("yaw_diff")])
    base = np.zeros((steps, len(names)), dtype=np.float32)
    if hold is not None:
        base[:] = np.asarray(hold, dtype=np.float32).reshape(1, -1)
    out = {}

    def put(name: str, pairs: dict[str, float]) -> None:
        a = base.copy()
        for feature, value in pairs.items():
            if feature in names:
                a[:, names.index(feature)] = value
        out[name] = a

    units = degrees / 0.15
    put("turn_left", {"mouse_dx": -units, "yaw_diff": -degrees})
    put("turn_right", {"mouse_dx": units, "yaw_diff": degrees})
    put("look_up", {"mouse_dy": -units, "pitch_diff": -degrees})  # +pitch looks down
    put("walk_forward", {"key_w": 1.0})
    put("no_op", {})
    put("attack", {"button_0": 1.0})
    return out


# ---------------------------------------------------------------------- model pictures


@torch.no_grad()
def rollout_latents(run: Any, z0: Tensor, actions: Tensor, states: Tensor | None = None) -> Tensor:
    """KV-cached rollout of a LoadedRun from one frame z0 (B, N, D), raw actions (B, H, A) -> (B, H, N, D)."""
    a = run.scale(actions.to(run.device).float())
    b, h = a.shape[:2]
    s = states if states is not None else torch.zeros(b, h + 1, run.state_layout.dim, device=run.device)
    return run.predictor.rollout(z0[:, None].to(run.device), a, s.to(run.device), steps=h)


@torch.no_grad()
def clip_strips(run: Any, decoder: Any, shards: str | list[str], out_dir: str | os.PathLike[str],
                clips: int = 3, seed: int = 0) -> dict[str, Any]:
    """Strips of `clips` held-out clips (one fixed window per segment) -> files and PSNRs."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    loader = build_val_loader(run.clip, shards, batch_size=clips, num_workers=0, max_clips=clips, seed=seed)
    batch = next(iter(loader))
    frames = batch["frames"].float()  # (B, T, 3, S, S) normalized
    true = run.to_rgb(frames)  # (B, T, 3, S, S) in [0, 1]
    z = run.latents(frames)  # (B, T, N, D)
    actions, states = batch["actions"].float(), batch["states"].float()
    tf = run.predictor(z[:, :-1], run.scale(actions.to(run.device)), states[:, :-1].to(run.device))  # (B, T-1, N, D)
    roll = rollout_latents(run, z[:, 0], actions, states)  # (B, T-1, N, D)
    dec = {name: decoder(x.to(next(decoder.parameters()).device)).cpu()
           for name, x in (("decoded true", z), ("teacher-forced", tf), ("rollout", roll))}
    target = true[:, 1:]
    copy_last = dec["decoded true"][:, :-1]  # decoded z_t as the guess for frame t+1
    scores = {name: float(psnr(dec[name][:, 1:] if name == "decoded true" else dec[name], target).mean())
              for name in dec}
    scores["decoded copy-last"] = float(psnr(copy_last, target).mean())
    scores["decoded start frame, held"] = float(psnr(dec["decoded true"][:, :1].expand_as(target), target).mean())
    rows, labels, gifs = [], [], []
    T = true.shape[1]
    for c in range(true.shape[0]):
        cols = {"true": to_uint8(true[c]), "decoded true": to_uint8(dec["decoded true"][c])}
        cols["teacher-forced"] = [None, *to_uint8(dec["teacher-forced"][c])]
        cols["rollout"] = [None, *to_uint8(dec["rollout"][c])]
        for name in STRIP_ROWS:
            rows.append(list(cols[name]))
            labels.append(f"{name}" if c == 0 else name)
        frames_t = []
        for t in range(T):
            panel = [cols[name][t] for name in STRIP_ROWS]
            panel = [p if p is not None else cols["decoded true"][0] for p in panel]
            frames_t.append(compose_grid([panel], [f"t={t}"]))
        gifs.append(str(save_gif(frames_t, out / f"rollout_{c}.gif")))
    grid = compose_grid(rows, labels, header=[f"t={t}" for t in range(T)])
    grid.save(out / "rollout.png", optimize=True)
    return {"png": str(out / "rollout.png"), "gifs": gifs, "clips": int(true.shape[0]), "frames": T,
            "size": list(grid.size), "rows": list(STRIP_ROWS), "keys": list(batch["key"]),
            "psnr_db": scores,
            "note": "PSNR against the true frames t >= 1; decoded copy-last decodes z_t for frame t+1"}


@torch.no_grad()
def counterfactuals(run: Any, decoder: Any, z0: Tensor, steps: int = 3, hold: np.ndarray | None = None,
                    degrees: float | None = None) -> dict[str, Any]:
    """Decoded rollouts of each scripted action from one start latent z0 (N, D):
    {"start": (3, S, S), "frames": {name: (steps, 3, S, S)}, "shift": {name: (dy, dx)}, ...}."""
    scripts = scripted_actions(run.action_layout, run.scaler, steps, hold, degrees)
    names = list(scripts)
    actions = torch.as_tensor(np.stack([scripts[n] for n in names]))  # (K, steps, A)
    z = rollout_latents(run, z0[None].expand(len(names), *z0.shape).to(run.device), actions)  # (K, steps, N, D)
    device = next(decoder.parameters()).device
    start = decoder(z0[None].to(device)).cpu()[0]  # (3, S, S)
    decoded = decoder(z.to(device)).cpu()  # (K, steps, 3, S, S)
    start_u8 = to_uint8(start)
    result: dict[str, Any] = {"start": start, "frames": {}, "shift": {}, "distance": {}}
    for k, name in enumerate(names):
        result["frames"][name] = decoded[k]
        result["shift"][name] = phase_shift(start_u8, to_uint8(decoded[k, -1]))
        result["distance"][name] = float((decoded[k, -1] - start).abs().mean())  # mean pixel L1 to the start
    result["latent_distance"] = {n: float((z[k, -1].cpu() - z0.cpu()).abs().mean()) for k, n in enumerate(names)}
    result["degrees_per_step"] = degrees if degrees is not None else float(
        abs(scripts["turn_right"][0, list(run.action_layout.feature_names).index("yaw_diff")]))
    return result


def counterfactual_strips(run: Any, decoder: Any, z0: Tensor, out_dir: str | os.PathLike[str], steps: int = 3,
                          hold: np.ndarray | None = None, start_image: np.ndarray | None = None) -> dict[str, Any]:
    """counterfactual.png (a row per scripted action: start, then each imagined step) + .gif."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cf = counterfactuals(run, decoder, z0, steps, hold)
    first = start_image if start_image is not None else to_uint8(cf["start"])
    rows = [[first, *to_uint8(cf["frames"][n])] for n in cf["frames"]]
    labels = [n.replace("_", " ") for n in cf["frames"]]
    grid = compose_grid(rows, labels, header=["start", *[f"+{t + 1}" for t in range(steps)]])
    grid.save(out / "counterfactual.png", optimize=True)
    gif = [compose_grid([[to_uint8(cf["frames"][n][t]) for n in cf["frames"]]], [f"+{t + 1}"]) for t in range(steps)]
    gif.insert(0, compose_grid([[to_uint8(cf["start"])] * len(cf["frames"])], ["start"]))
    save_gif(gif, out / "counterfactual.gif")
    return {"png": str(out / "counterfactual.png"), "gif": str(out / "counterfactual.gif"), "size": list(grid.size),
            "actions": list(cf["frames"]), "steps": steps, "degrees_per_step": cf["degrees_per_step"],
            "shift_px": {n: {"dy": s[0], "dx": s[1]} for n, s in cf["shift"].items()},
            "pixel_l1_to_start": cf["distance"], "latent_l1_to_start": cf["latent_distance"],
            "note": "shift of the decoded last frame against the decoded start frame (phase correlation; "
                    "+dx: scenery moved right, +dy: down); turning right should move it left (dx < 0)"}


def plan_picture(columns: dict[str, np.ndarray], path: str | os.PathLike[str]) -> dict:
    """One row of uint8 images (S, S, 3) under their captions (start | goal | imagined ends)."""
    grid = compose_grid([list(columns.values())], ["plan"], header=list(columns))
    grid.save(str(path))
    return {"png": str(path), "size": list(grid.size), "columns": list(columns)}


@torch.no_grad()
def plan_strip(run: Any, decoder: Any, z_start: Tensor, z_goal: Tensor, planned: Tensor, recorded: Tensor,
               path: str | os.PathLike[str], state_start: Tensor | None = None,
               start_image: np.ndarray | None = None, goal_image: np.ndarray | None = None) -> dict[str, Any]:
    """plan.png for one planned pair: start | goal | the decoded end state imagined under the plan |
    under the recorded actions (the baseline a plan should match), with PSNRs to the goal.

    z_start, z_goal (N, D) latents; planned, recorded (H, A) raw actions. Without pixels
    (`start_image`/`goal_image`, uint8 (S, S, 3)) start and goal are shown decoded."""
    device = next(decoder.parameters()).device
    actions = torch.stack([torch.as_tensor(planned), torch.as_tensor(recorded)]).float()  # (2, H, A)
    states = None
    if state_start is not None and state_start.numel():
        states = state_start.reshape(1, 1, -1).expand(2, actions.shape[1] + 1, -1)  # held, as planning does
    z = rollout_latents(run, z_start[None].expand(2, *z_start.shape), actions, states)  # (2, H, N, D)
    ends = to_uint8(decoder(z[:, -1].to(device)).cpu())  # (2, S, S, 3): the plan's, the recorded actions'
    start = start_image if start_image is not None else to_uint8(decoder(z_start[None].to(device)).cpu()[0])
    goal = goal_image if goal_image is not None else to_uint8(decoder(z_goal[None].to(device)).cpu()[0])
    shown = "" if goal_image is not None else " (decoded)"
    record = plan_picture({f"start{shown}": start, f"goal{shown}": goal, "plan's end": ends[0],
                           "recorded's end": ends[1]}, path)

    as_float = lambda im: torch.as_tensor(im).permute(2, 0, 1).float() / 255  # noqa: E731  uint8 HWC -> CHW
    to_goal = lambda im: float(psnr(as_float(im), as_float(goal)))  # noqa: E731
    record.update(psnr_to_goal_db=to_goal(ends[0]), recorded_psnr_to_goal_db=to_goal(ends[1]),
                  start_psnr_to_goal_db=to_goal(start),
                  goal="true frame" if goal_image is not None else "decoded true latent",
                  **_yaw_record(run, actions))
    return record


def _yaw_record(run: Any, actions: Tensor) -> dict[str, list[float]]:
    """{"planned_yaw_deg", "recorded_yaw_deg"} per step of actions (2, H, A); {} for a layout without a camera."""

    try:
        yaw = camera_degrees(actions, run.action_layout.feature_names, run.action_layout.continuous_mask)[..., 0]
    except ValueError:
        return {}
    return {"planned_yaw_deg": [round(float(v), 2) for v in yaw[0]],
            "recorded_yaw_deg": [round(float(v), 2) for v in yaw[1]]}


# ---------------------------------------------------------------------- all of them, for a report


def hold_state(layout: Any, recorded: np.ndarray) -> np.ndarray:
    """A recorded raw action (A,) -> only what the frame shows (hotbar slot, GUI flag), the rest 0."""
    keep = np.array([n.startswith("hotbar_") or n == "gui_open" for n in layout.feature_names])
    return np.where(keep, np.asarray(recorded, dtype=np.float32), 0.0).astype(np.float32)


def write_pictures(run: Any, decoder: Any, shards: str | list[str], out_dir: str | os.PathLike[str],
                   clips: int = 3, seed: int = 0, steps: int | None = None,
                   plan: dict[str, Any] | None = None) -> dict[str, Any]:
    """Strips of held-out clips + counterfactuals from the first clip's start (+ `plan_strip` of
    `plan`: its keyword arguments, when given) -> OUT/pictures.json."""

    out = Path(out_dir)
    record: dict[str, Any] = {"strips": clip_strips(run, decoder, shards, out, clips, seed)}
    batch = next(iter(build_val_loader(run.clip, shards, batch_size=1, num_workers=0, max_clips=1, seed=seed)))
    z0 = run.latents(batch["frames"][:, :1].float())[0, 0]  # (N, D)
    start = to_uint8(run.to_rgb(batch["frames"][0, 0]))
    hold = hold_state(run.action_layout, batch["actions"][0, 0].numpy())
    record["counterfactual"] = counterfactual_strips(run, decoder, z0, out, steps or max(run.clip.frames - 1, 1),
                                                     hold, start_image=start)
    record["counterfactual"]["start_key"] = batch["key"][0]
    if plan is not None:
        record["plan"] = plan_strip(run, decoder, path=out / "plan.png", **plan)
    (out / "pictures.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def pictures_markdown(record: dict[str, Any], base: str = "") -> list[str]:
    """Report lines showing the pictures (paths relative to the report folder + `base`)."""
    lines = ["## What the model imagines (decoded latents)", ""]
    dec = record.get("decoder")
    if dec:
        lines += [f"Pixel decoder on {dec['frames']} {'held-out' if dec.get('heldout') else 'training'} frames: "
                  f"PSNR {dec['psnr_db']:.2f} dB vs {dec['mean_frame_psnr_db']:.2f} dB for the mean training frame "
                  f"(margin {dec['margin_db']:+.2f} dB; better on {100 * dec['frames_better_than_mean_frame']:.0f} % "
                  "of frames).", ""]
    strips = record.get("strips")
    if strips:
        psnr_db = strips["psnr_db"]
        lines += [f"![rollout strips]({base}{Path(strips['png']).name})", "",
                  "Rows per clip: " + " | ".join(strips["rows"]) + ". PSNR (dB) against the true frames t >= 1:", "",
                  "| decoded | PSNR (dB) |", "|---|---|"]
        lines += [f"| {name} | {value:.2f} |" for name, value in psnr_db.items()]
        lines += ["", "Animated: " + ", ".join(f"[{Path(g).name}]({base}{Path(g).name})" for g in strips["gifs"]), ""]
    cf = record.get("counterfactual")
    if cf:
        lines += [f"![counterfactuals]({base}{Path(cf['png']).name})", "",
                  f"One start frame, {cf['steps']} imagined steps per scripted action "
                  f"(turns of {cf['degrees_per_step']:.1f} deg per step). Shift of the last decoded frame "
                  "against the decoded start (phase correlation; turning right should move the scenery left, "
                  "dx < 0) and mean pixel distance to it:", "",
                  "| action | dx (px) | dy (px) | pixel L1 to start |", "|---|---|---|---|"]
        lines += [f"| {n} | {cf['shift_px'][n]['dx']:+.2f} | {cf['shift_px'][n]['dy']:+.2f} | "
                  f"{cf['pixel_l1_to_start'][n]:.4f} |" for n in cf["actions"]]
        lines += ["", f"Animated: [{Path(cf['gif']).name}]({base}{Path(cf['gif']).name})", ""]
    plan = record.get("plan")
    if plan:
        lines += [f"![plan]({base}{Path(plan['png']).name})", "",
                  "A plan: start | goal | the decoded end state imagined under the chosen actions | under the "
                  f"recorded actions. PSNR to the goal ({plan.get('goal', 'true frame')}): plan "
                  f"{plan['psnr_to_goal_db']:.2f} dB, recorded actions {plan['recorded_psnr_to_goal_db']:.2f} dB, "
                  f"the start itself {plan['start_psnr_to_goal_db']:.2f} dB.", ""]
    return lines
