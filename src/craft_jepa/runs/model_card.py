"""The model card of an export: EXPORT_DIR/README.md, what the model is and how good it is.

Written by every export (and again before a push, so pictures added later are shown):
- YAML front matter for the Hub: library_name, tags, base_model (the encoder's repo id when the
  encoder came from the Hub or a Hub cache folder);
- what the model is: the frozen encoder, the predictor, the clip format and action layout;
- the training data, from the `training` section of craft_jepa.json (shard counts, recording
  hours when a pack-report.json next to the shards records them, else "unknown"; steps);
- the evaluation table from EXPORT_DIR/eval/report.json (copied there from the run's
  `craft-jepa eval` report, or `--report`): every number beside its baselines, ratios with
  their 95 % intervals; "not evaluated" when there is no report;
- pictures of predicted futures (rollout.png, counterfactual.png, plan.png: the pixel decoder's,
  which export copies beside the decoder, runs/decoder_files.py) when the folder holds them;
- how to load it.

This module reads report.json as plain JSON (the eval stage sits below train/ and is not
imported): its formatting of a ratio row follows eval/report.py.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import yaml

from craft_jepa.data.config import DataConfig, resolve_shards
from craft_jepa.hub import repo_id_of

CARD_FILE = "README.md"
REPORT_DIR = "eval"  # EXPORT_DIR/eval/report.json (+ report.md, plots)
PICTURES = (("rollout.png", "Predicted futures (decoded latent rollout)"),
            ("counterfactual.png", "Counterfactual futures: the same start under different actions"),
            ("plan.png", "A plan: start, goal, and the decoded predicted end state"))
TAGS = ("craft-jepa", "world-model", "minecraft", "vpt", "v-jepa-2", "action-conditioned", "jepa")
TICKS_PER_SECOND = 20  # VPT jsonl lines


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.{digits}g}"
    if value is None:
        return "n/a"
    return str(value)


def _ratio(row: Any) -> str:
    """{'value', 'lo', 'hi'[, 'margin', 'clears_margin']} -> 'v [lo, hi]' (as eval/report.py)."""
    if not isinstance(row, dict) or "value" not in row:
        return _num(row)
    text = f"{_num(row['value'], 3)} [{_num(row.get('lo'), 3)}, {_num(row.get('hi'), 3)}]"
    if "margin" in row:
        text += f" (margin {_num(row['margin'], 3)}: {'cleared' if row.get('clears_margin') else 'not cleared'})"
    return text


# ---------------------------------------------------------------------------------- training data


def shard_hours(shards: list[str]) -> float | None:
    """Recording hours of local shards from the pack-report.json beside them, None when unknown.

    `craft-jepa pack` records each shard's seconds of recording (`shard_seconds`); a shard
    without such a record makes the total unknown rather than guessed."""
    reports: dict[str, dict] = {}
    total = 0.0
    for shard in shards:
        path = shard.removeprefix("file:")
        if "://" in path or path.startswith("pipe:"):
            return None
        folder = os.path.dirname(os.path.abspath(path))
        if folder not in reports:
            try:
                reports[folder] = json.loads(Path(folder, "pack-report.json").read_text()).get("shard_seconds") or {}
            except (OSError, ValueError, AttributeError):
                reports[folder] = {}
        seconds = reports[folder].get(os.path.basename(path))
        if not isinstance(seconds, (int, float)):
            return None
        total += float(seconds)
    return total / 3600.0 if shards else None


def training_summary(run_dir: str | os.PathLike[str], step: int | None) -> dict[str, Any]:
    """What the run trained on, from RUN_DIR/config.yaml; fields that cannot be found are None."""

    summary: dict[str, Any] = {"steps": step, "source": None, "train_shards": None, "val_shards": None,
                               "hours": None, "shard_spec": None, "batch_size": None, "seed": None}
    config_path = Path(run_dir) / "config.yaml"
    try:
        config = yaml.safe_load(config_path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return summary
    data = config.get("data") or {}
    summary.update(source=data.get("source", "video"), shard_spec=data.get("train_shards"),
                   batch_size=data.get("batch_size"), seed=config.get("seed"))
    try:
        cfg = DataConfig(**{k: data[k] for k in ("train_shards", "val_shards", "val_fraction") if k in data})
        train, val = resolve_shards(cfg)
    except (ValueError, TypeError, OSError):
        return summary  # the shards are not on this machine: counts unknown
    summary.update(train_shards=len(train), val_shards=len(val))
    if summary["source"] == "video":
        summary["hours"] = shard_hours(train)
    return summary


# ---------------------------------------------------------------------------------- the card


def _front_matter(meta: dict, base_model: str | None) -> list[str]:
    lines = ["---", "library_name: craft-jepa", "tags:"] + [f"- {tag}" for tag in TAGS]
    if base_model:
        lines.append(f"base_model: {base_model}")
    return lines + ["---", ""]


def _config_lines(meta: dict) -> list[str]:
    enc, pred, clip = meta["encoder"], meta["predictor"], meta["clip"]
    weights = enc.get("checkpoint") or f"random weights (init_seed {enc.get('init_seed')}: a test/demo stand-in)"
    layout = clip.get("action_layout")
    layout = layout if isinstance(layout, str) else f"custom ({len(layout)} features)"
    shape = ", ".join(f"{k} {pred[k]}" for k in ("depth", "width", "heads") if pred.get(k) is not None)
    rows = [
        ("encoder (frozen, not in this repo)", f"`{enc.get('name')}` at {enc.get('img_size')} px, {weights}"),
        ("predictor", f"preset `{pred.get('preset')}`" + (f" ({shape})" if shape else "")
         + f", rope `{pred.get('rope')}`, predict_residual {pred.get('predict_residual')}"),
        ("tokens per frame", f"{pred.get('grid_size')} x {pred.get('grid_size')}, {pred.get('encoder_dim')} dims"),
        ("clip", f"{clip.get('frames')} frames at {clip.get('fps')} fps, {clip.get('size')} px "
                 f"(max crop aspect {clip.get('max_crop_aspect')})"),
        ("actions", f"layout `{layout}` ({pred.get('action_dim')} dims), states `{clip.get('state_layout')}`"),
    ]
    return ["## Configuration", "", "| part | setting |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows] + [
        "", "The full configuration is in `craft_jepa.json`.", ""]


def _training_lines(training: dict | None, step: int | None) -> list[str]:
    training = training or {}
    steps = training.get("steps", step)
    hours = training.get("hours")

    def known(value: Any) -> str:
        return "unknown" if value is None else str(value)

    rows = [
        ("optimizer steps", known(steps)),
        ("input", {"video": "VPT recordings (mp4 + jsonl shards), encoded on the fly",
                   "features": "pre-computed encoder features (feature shards of `craft-jepa encode`)"}.get(
            training.get("source"), "unknown")),
        ("training shards", known(training.get("train_shards"))),
        ("validation shards", known(training.get("val_shards"))),
        ("recording hours (training shards)", "unknown" if hours is None else f"{hours:.4g}"),
        ("clips per process per micro-batch", known(training.get("batch_size"))),
        ("seed", known(training.get("seed"))),
    ]
    lines = ["## Training data", "", "| | |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    spec = training.get("shard_spec")
    if spec:
        shown = [spec] if isinstance(spec, str) else list(spec)
        more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
        lines += ["", "Training shards: " + ", ".join(f"`{s}`" for s in shown[:3]) + more + "."]
    return lines + [""]


def _evaluation_lines(report: dict | None) -> list[str]:
    lines = ["## Evaluation", ""]
    if not report or "headline" not in report:
        return lines + ["Not evaluated: no `craft-jepa eval` report was exported with this model. Run "
                        "`craft-jepa eval RUN_DIR --data 'held-out/*.tar'`, then export again (the run's "
                        "`eval/report.json` is picked up, or pass `--report PATH`).", ""]
    head = report["headline"]
    held = report.get("held_out", "not recorded by this report")
    lines += [f"{report.get('clips')} evaluation clips of {report.get('segments', '?')} segments "
              f"({report.get('frames_per_clip')} frames, action layout `{report.get('action_layout')}`), "
              f"scored by `craft-jepa eval`; held out from training: {held}. Ratios are baseline / model "
              f"latent L1 (above 1: the model is better) with 95 % bootstrap intervals over clips.", "",
              "| teacher-forced, h=1 | latent L1 | baseline / model |", "|---|---|---|",
              f"| **this model** | **{_num(head.get('model_l1_h1'))}** | |",
              f"| copy last frame | {_num(head.get('copy_last_l1_h1'))} | {_ratio(head.get('copy_last_over_model_h1'))} |",
              f"| model, actions zeroed | {_num(head.get('zero_actions_l1_h1'))} | "
              f"{_ratio(head.get('zero_actions_over_model_h1'))} |",
              f"| model, actions shuffled across clips | {_num(head.get('shuffled_actions_l1_h1'))} | "
              f"{_ratio(head.get('shuffled_over_model_h1'))} |"]
    for axis, row in (report.get("mirrored_camera") or {}).items():
        lines.append(f"| model, recorded {axis} reversed | | {_ratio(row)} |")
    if "copy_last_over_model_rollout_last" in head:
        lines += ["", f"Rolled out to h={report.get('horizon')}: model L1 {_num(head.get('model_l1_rollout_last'))}, "
                      f"copy-last / model {_ratio(head['copy_last_over_model_rollout_last'])}."]
    summary = (report.get("planning") or {}).get("summary") or {}
    if "yaw_sign_agreement" in summary:
        lines += ["", f"Offline planning (CEM toward a held-out goal frame, {summary.get('turning_pairs')} turning "
                      f"pairs of {summary.get('pairs')}):", "",
                  "| score | plan | baselines |", "|---|---|---|",
                  f"| yaw sign agreement | {_num(summary['yaw_sign_agreement'], 3)} "
                  f"{_interval(summary.get('yaw_sign_agreement_ci95'))} | majority sign "
                  f"{_num(summary.get('yaw_majority_sign_rate'), 3)}, training-mean plan "
                  f"{_num(summary.get('yaw_mean_plan_sign_agreement'), 3)}, chance 0.5 |",
                  f"| yaw correlation | {_num(summary.get('yaw_correlation'), 3)} "
                  f"{_interval(summary.get('yaw_correlation_ci95'))} | any constant plan: none |",
                  f"| camera error per step (deg) | {_num(summary.get('camera_error_deg'), 3)} | no motion "
                  f"{_num(summary.get('zero_camera_error_deg'), 3)}, training-mean motion "
                  f"{_num(summary.get('mean_camera_error_deg'), 3)} |"]
    lines += ["", f"The full report: [`{REPORT_DIR}/report.md`]({REPORT_DIR}/report.md) "
                  f"(`{REPORT_DIR}/report.json`)."]
    return lines + [""]


def _interval(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"[{_num(value[0], 3)}, {_num(value[1], 3)}]"
    return ""


def _picture_lines(folder: Path) -> list[str]:
    found = [(name, caption) for name, caption in PICTURES if (folder / name).is_file()]
    if not found:
        return []
    lines = ["## Predicted futures", "", "Decoded by the pixel decoder trained on this model's latents "
             "(`craft-jepa decoder`): what the model predicts, made visible.", ""]
    for name, caption in found:
        lines += [f"![{caption}]({name})", "", f"*{caption}.*", ""]
    return lines


def _usage_lines(repo_id: str | None, meta: dict, decoder: bool = False) -> list[str]:
    where = repo_id or "path/to/this/folder"
    enc = meta["encoder"].get("checkpoint")
    note = []
    if enc and "://" not in enc and os.path.isabs(enc):
        note = ["", f"The encoder weights are not in this repo; `craft_jepa.json` names `{enc}` (the training "
                    "machine's path). Pass `encoder_checkpoint=` (`--encoder-checkpoint`) with a local path "
                    "or a Hub repo id of the same weights (or export with `--encoder-checkpoint hf://ORG/NAME` "
                    "when they are on the Hub)."]
    lines = ["## Use", "", "```python", "from craft_jepa.api import WorldModel", "",
             f'model = WorldModel.from_pretrained("{where}", device="cpu")',
             "z = model.encode(frames)                 # (T, H, W, 3) RGB -> (T, N, D) latents",
             "future = model.rollout(z[None, :1], actions)  # raw VPT action vectors (1, T, A)",
             "plan = model.plan(start_image, goal_image, horizon=2)", "print(plan.describe())"]
    if decoder:
        lines.append("frames = model.imagine(start_image, plan.actions)  # decoded future frames (uint8)")
    lines += ["```", "", "```bash", f"craft-jepa plan {where} --start start.png --goal goal.png",
              f"craft-jepa eval {where} --data 'held-out/*.tar' --out eval-out", "```"]
    return lines + note + [""]


def render_card(folder: str | os.PathLike[str], repo_id: str | None = None) -> str:
    """README.md text for the export in `folder` (craft_jepa.json, eval/report.json, pictures)."""

    folder = Path(folder)
    meta = json.loads((folder / "craft_jepa.json").read_text())
    report = None
    report_path = folder / REPORT_DIR / "report.json"
    if report_path.is_file():
        try:
            report = json.loads(report_path.read_text())
        except ValueError as err:
            raise ValueError(f"{report_path}: not valid JSON ({err})") from None
    enc = meta["encoder"]
    base_model = repo_id_of(enc.get("checkpoint"))
    title = repo_id or folder.resolve().name
    if base_model:
        encoder_text = f"the frozen V-JEPA 2 video encoder `{base_model}`"
    elif enc.get("checkpoint"):
        encoder_text = f"the frozen V-JEPA 2 video encoder `{enc.get('name')}` (weights `{enc['checkpoint']}`)"
    else:
        encoder_text = f"a frozen random-weight `{enc.get('name')}` encoder (a test/demo stand-in for V-JEPA 2)"
    lines = _front_matter(meta, base_model) + [
        f"# {title}", "",
        f"An action-conditioned world model for Minecraft, trained with "
        f"craft-jepa on OpenAI VPT recordings: a V-JEPA 2-AC style predictor "
        f"on top of {encoder_text}. Given the encoder's latents of the "
        f"frames so far and the keyboard, mouse and camera actions taken, it predicts the latents of "
        f"the next frames; CEM planning over it finds actions that lead toward a goal frame.", "",
        f"This repo holds the predictor (`predictor.safetensors`, step {meta.get('step')}), its "
        f"configuration and action scaler (`craft_jepa.json`)"
        + (", and a pixel decoder of its latents (`decoder.safetensors`, `decoder.json`)."
           if (folder / "decoder.safetensors").is_file() else "."), ""]
    lines += _config_lines(meta) + _training_lines(meta.get("training"), meta.get("step"))
    lines += _evaluation_lines(report) + _picture_lines(folder)
    lines += _usage_lines(repo_id, meta, decoder=(folder / "decoder.safetensors").is_file())
    return "\n".join(lines)


def write_card(folder: str | os.PathLike[str], repo_id: str | None = None) -> Path:
    path = Path(folder) / CARD_FILE
    path.write_text(render_card(folder, repo_id), encoding="utf-8")
    return path


__all__ = ["CARD_FILE", "PICTURES", "REPORT_DIR", "render_card", "shard_hours", "training_summary", "write_card"]
