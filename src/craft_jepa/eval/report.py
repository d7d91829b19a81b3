"""Write an evaluation report: report.json (strict JSON), report.md and PNG plots.

Plots use matplotlib's Agg backend (no display needed):
- horizons.png: latent L1 per horizon, teacher-forced and rolled out, model vs baselines;
- sensitivity.png: prediction movement per action feature group;
- energy_landscape.png: planning energy over a yaw/pitch grid (when the report has one).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from craft_jepa.eval.pictures import pictures_markdown

METHOD_LABELS = {
    "model": "model (recorded actions)",
    "copy_last": "copy last frame",
    "dataset_mean": "dataset-mean latent",
    "zero_actions": "model, actions zeroed",
    "shuffled_actions": "model, actions shuffled",
}


def _strict(value: Any) -> Any:
    """NaN/inf -> None so that report.json is valid JSON for any reader."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and "value" in value:
        return _ratio(value)
    if isinstance(value, dict) and "mean" in value:
        return f"{_fmt(value['mean'])} (min {_fmt(value['min'])}, max {_fmt(value['max'])})"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"[{_fmt(value[0])}, {_fmt(value[1])}]"
    return str(value)


def _ratio(row: dict) -> str:
    """A ratio with its 95 % interval and, when it has one, the margin it must clear."""
    text = f"{_fmt(row['value'])} [{_fmt(row['lo'])}, {_fmt(row['hi'])}]"
    if "margin" in row:
        text += f", margin {_fmt(row['margin'])}: {'cleared' if row['clears_margin'] else 'NOT cleared'}"
    return text


def headline_lines(report: dict) -> list[str]:
    """A few lines for a terminal: each number beside its baselines, ratios with intervals."""
    head = report["headline"]
    lines = [
        f"{report['clips']} clips of {report.get('segments', '?')} segments, horizon {report['horizon']}:",
        f"  latent L1 at h=1: model {head['model_l1_h1']:.4f}, copy-last {head['copy_last_l1_h1']:.4f}, "
        f"zeroed actions {head['zero_actions_l1_h1']:.4f}, shuffled actions {head['shuffled_actions_l1_h1']:.4f}",
        f"  copy-last / model {_ratio(head['copy_last_over_model_h1'])}",
        f"  shuffled / model  {_ratio(head['shuffled_over_model_h1'])}",
    ]
    if report.get("action_layout") == "droid7" and "sensitivity" in report:
        lines.append("  sensitivity per action dimension (mean |pred' - pred| when it is swapped): " + ", ".join(
            f"{name} {_fmt(row['delta_l1'])}" for name, row in report["sensitivity"].items()))
    plan = report.get("planning", {}).get("summary")
    if plan and "displacement_error_m" in plan:  # DROID (planning/droid_offline.py)
        lines.append(
            f"  planning: end-effector displacement error {_fmt(plan['displacement_error_m'])} m "
            f"{_fmt(plan.get('displacement_error_ci95', 'n/a'))} vs {_fmt(plan['zero_displacement_error_m'])} for "
            f"no motion, {_fmt(plan['mean_displacement_error_m'])} for the mean action; energy: plan "
            f"{_fmt(plan['planned_energy'])}, recorded actions {_fmt(plan['recorded_energy'])}, no motion "
            f"{_fmt(plan['zero_action_energy'])}")
    elif plan:
        lines.append(
            f"  planning: yaw sign agreement {_fmt(plan['yaw_sign_agreement'])} "
            f"{_fmt(plan.get('yaw_sign_agreement_ci95', 'n/a'))} over {plan['turning_pairs']} turning pairs, "
            f"majority sign {_fmt(plan['yaw_majority_sign_rate'])}; yaw correlation "
            f"{_fmt(plan['yaw_correlation'])} {_fmt(plan.get('yaw_correlation_ci95', 'n/a'))}; camera error "
            f"{_fmt(plan['camera_error_deg'])} deg vs {_fmt(plan['zero_camera_error_deg'])} for no motion")
    return lines


def _horizon_table(horizons: dict, metric: str) -> list[str]:
    lines = []
    for mode, title in (("tf", "teacher-forced"), ("rollout", "rolled out from frame 0")):
        methods = horizons.get(mode, {})
        if not methods:
            continue
        h = len(next(iter(methods.values()))[metric])
        lines += [f"**{metric}, {title}**", "",
                  "| method | " + " | ".join(f"h={i + 1}" for i in range(h)) + " |",
                  "|---|" + "---|" * h]
        for method, values in methods.items():
            label = METHOD_LABELS.get(method, method)
            lines.append(f"| {label} | " + " | ".join(_fmt(v) for v in values[metric]) + " |")
        lines.append("")
    return lines


def planning_table(plan: dict) -> list[str]:
    """Each planning score beside the constant guesses it must beat, with its spread."""
    summary = plan.get("summary", {})
    seeds = summary.get("cem_seeds", {})

    def spread(key: str) -> str:
        row = seeds.get(key)
        return f"; over CEM seeds {seeds['seeds']}: {_fmt(row)}" if row and len(seeds["seeds"]) > 1 else ""

    if "displacement_error_m" in summary:
        return _droid_planning_rows(plan, summary, spread)
    if "yaw_sign_agreement" not in summary:
        return []
    rows = [
        ("yaw sign agreement", f"{_fmt(summary['yaw_sign_agreement'])} "
         f"{_fmt(summary.get('yaw_sign_agreement_ci95', 'n/a'))}{spread('yaw_sign_agreement')}",
         f"majority sign {_fmt(summary['yaw_majority_sign_rate'])}, training-mean plan "
         f"{_fmt(summary['yaw_mean_plan_sign_agreement'])}, chance 0.5"),
        ("yaw correlation", f"{_fmt(summary['yaw_correlation'])} "
         f"{_fmt(summary.get('yaw_correlation_ci95', 'n/a'))}{spread('yaw_correlation')}",
         "any constant plan: none"),
        ("camera error (deg)", f"{_fmt(summary['camera_error_deg'])}{spread('camera_error_deg')}",
         f"no motion {_fmt(summary['zero_camera_error_deg'])}, training-mean motion "
         f"{_fmt(summary['mean_camera_error_deg'])}"),
    ]
    if "key_agreement" in summary:
        rows.append(("key agreement (planned keys)", f"{_fmt(summary['key_agreement'])}{spread('key_agreement')}",
                     f"all-zero plan {_fmt(summary['key_agreement_all_zero_plan'])}, per-feature majority "
                     f"{_fmt(summary['key_agreement_majority_plan'])}"))
    lines = [f"{summary['turning_pairs']} turning pairs of {summary['pairs']}; CEM planned "
             f"`{plan.get('planned_features', '?')}`, camera `{plan.get('camera', '?')}`, camera prior "
             f"{plan.get('camera_prior', '?')}. Intervals: 95 % bootstrap over pairs.", "",
             "| score | plan | baselines |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {base} |" for name, value, base in rows]
    return lines + [""]


def _droid_planning_rows(plan: dict, summary: dict, spread) -> list[str]:
    """planning_table of a DROID plan (planning/droid_offline.py): end-effector scores in metres."""

    def ci(key: str) -> str:
        return f" {_fmt(summary[key])}" if key in summary else ""

    rows = [
        ("end-effector displacement error (m)", f"{_fmt(summary['displacement_error_m'])}"
         f"{ci('displacement_error_ci95')}{spread('displacement_error_m')}",
         f"no motion {_fmt(summary['zero_displacement_error_m'])}, mean action "
         f"{_fmt(summary['mean_displacement_error_m'])}"),
        ("no-motion error / plan error", _fmt(summary.get("zero_over_plan_error", "n/a")), "> 1: the plan is closer"),
        ("mean-action error / plan error", _fmt(summary.get("mean_over_plan_error", "n/a")), "> 1: the plan is closer"),
        ("xyz error per step (m)", f"{_fmt(summary['step_xyz_error_m'])}{spread('step_xyz_error_m')}",
         f"no motion {_fmt(summary['zero_step_xyz_error_m'])}, mean action {_fmt(summary['mean_step_xyz_error_m'])}"),
        ("direction cosine", f"{_fmt(summary['direction_cosine'])}{ci('direction_cosine_ci95')}"
         f"{spread('direction_cosine')}", f"mean action {_fmt(summary['mean_direction_cosine'])}, no motion 0"),
        ("gripper error", f"{_fmt(summary['gripper_error'])}{spread('gripper_error')}",
         f"no motion {_fmt(summary['zero_gripper_error'])}, mean action {_fmt(summary['mean_gripper_error'])}"),
        ("energy (L1 to goal)", _fmt(summary["planned_energy"]),
         f"recorded actions {_fmt(summary['recorded_energy'])}, no motion {_fmt(summary['zero_action_energy'])}"),
    ]
    lines = [f"{summary['pairs']} pairs; CEM planned `{plan.get('planned_features', '?')}`. Intervals: 95 % "
             "bootstrap over pairs. A plan of lower energy than the recorded actions that lies far from "
             "them is the model's error, not the planner's.", "",
             "| score | plan | baselines |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {base} |" for name, value, base in rows]
    return lines + [""]


def render_markdown(report: dict) -> str:
    lines = [f"# craft-jepa evaluation: {report.get('source', '')}", ""]
    lines.append(f"{report.get('clips')} clips of {report.get('frames_per_clip')} frames, "
                 f"action layout `{report.get('action_layout')}`, seed {report.get('seed')}.")
    lines.append("")
    if "headline" in report:
        lines += ["## Headline", "", "| check | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in report["headline"].items()]
        lines.append("")
    if "horizons" in report:
        lines += ["## Latent prediction error per horizon (lower L1 / higher cosine is better)", "",
                  "![horizons](horizons.png)", ""]
        lines += _horizon_table(report["horizons"], "l1")
        lines += _horizon_table(report["horizons"], "cosine")
    if "sensitivity" in report:
        lines += ["## Action sensitivity (teacher-forced; group swapped with another clip's)", "",
                  "![sensitivity](sensitivity.png)", "",
                  "| group | mean movement (L1) | steps changed | movement per changed step |",
                  "|---|---|---|---|"]
        for group, row in report["sensitivity"].items():
            lines.append(f"| {group} | {_fmt(row['delta_l1'])} | {_fmt(row['changed_fraction'])} "
                         f"| {_fmt(row['delta_l1_per_changed_step'])} |")
        lines.append("")
    if "mirrored_camera" in report:
        lines += ["## Does the model know which way the camera turned?", "",
                  "Teacher-forced L1 with the recorded yaw (or pitch) reversed, over L1 with the recorded "
                  "actions (95 % interval over clips). 1.0: the prediction ignores that axis's direction.", "",
                  "| reversed axis | L1 ratio |", "|---|---|"]
        lines += [f"| {axis} | {_ratio(row)} |" for axis, row in report["mirrored_camera"].items()]
        lines.append("")
    if "probe" in report:
        probe = report["probe"]
        rows = {k: v for k, v in probe.items() if "action_f1" in v}
        groups = sorted({k for v in rows.values() for k in v if k.startswith("f1_") and k != "f1_state"})
        fit_on = probe["fit_on"]["source"] if "fit_on" in probe else "held-out segments"
        lines += ["## Inverse-dynamics probe (fit and scored on different segments)", "",
                  f"Fit on {_fmt(probe['fit_segments']['count'])} segments of the {fit_on}, scored on "
                  f"{_fmt(probe['scored_segments']['count'])}"
                  + (f"; ridge penalty {probe['ridge']['min']:g}-{probe['ridge']['max']:g} over the "
                     "actions (cross-validated on the fit segments)" if "ridge" in probe else "")
                  + ". `no_future` is the probe fitted and scored without the future frame: what it "
                  "scores is read from the present, so `real` and `predicted` must beat it. The hotbar "
                  "slot and GUI flag (`state`) are visible in z_t and stay out of the action F1.", "",
                  "| input pairs | action F1 | " + " | ".join(groups) + " | state F1 | camera error (deg) |",
                  "|---|---|" + "---|" * len(groups) + "---|---|"]
        for name, row in rows.items():
            cells = [_fmt(row["action_f1"])] + [_fmt(row.get(g, float("nan"))) for g in groups]
            cells += [_fmt(row["state_f1"]), _fmt(row.get("camera_error_deg", float("nan")))]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
        for name in ("real", "predicted"):
            gain = probe.get(f"{name}_minus_no_future_action_f1")
            if gain:
                lines.append(f"- action F1 of `{name}` minus `no_future`: {gain['value']:+.3f} "
                             f"[{gain['lo']:+.3f}, {gain['hi']:+.3f}] (95 % interval over clips)")
        lines.append("")
    if "planning" in report:
        plan = report["planning"]
        lines += ["## Offline planning (start = frame t, goal = frame t+k of held-out clips)", ""]
        lines += planning_table(plan)
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in plan.get("summary", {}).items()]
        lines.append("")
        if "landscape" in plan:
            lines += ["![energy landscape](energy_landscape.png)", ""]
    if "pictures" in report:  # the pixel decoder's pictures (eval/pictures.py), in OUT/pictures/

        lines += pictures_markdown(report["pictures"], base="pictures/")
    if "data_stats" in report:
        lines += ["## Bad data skipped by the loader", ""]
        stats = report["data_stats"]
        lines += [f"- {k}: {v}" for k, v in stats.items()] if stats else ["- none"]
        lines.append("")
    if "timings" in report:
        lines += ["## Timings (s)", ""] + [f"- {k}: {_fmt(v)}" for k, v in report["timings"].items()]
    return "\n".join(lines) + "\n"


def plot_horizons(horizons: dict, path: Path) -> None:
    import matplotlib  # heavy (about 0.5 s): only the plots need it; Agg draws without a display

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, (mode, title) in zip(axes, (("tf", "teacher-forced"), ("rollout", "rolled out"))):
        for method, values in horizons.get(mode, {}).items():
            h = list(range(1, len(values["l1"]) + 1))
            ax.plot(h, values["l1"], marker="o", label=METHOD_LABELS.get(method, method),
                    linewidth=2.5 if method == "model" else 1.2)
            ax.set_xticks(h)
        ax.set_title(title)
        ax.set_xlabel("predicted frame (true frames before it)" if mode == "tf"
                      else "horizon (frames after frame 0)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("latent L1")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_sensitivity(sensitivity: dict, path: Path) -> None:
    import matplotlib  # heavy (about 0.5 s): only the plots need it; Agg draws without a display

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(sensitivity)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(groups, [sensitivity[g]["delta_l1"] for g in groups])
    ax.set_ylabel("mean |pred' - pred| (L1)")
    ax.set_title("prediction movement when an action group changes")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# The landscape's two axes: VPT's camera (planning/offline.py), DROID's end-effector xy (planning/droid.py).
LANDSCAPE_AXES = {"yaw": ("yaw", "pitch", "yaw per step (deg)", "pitch per step (deg)"),
                  "dx": ("dx", "dy", "dx per step (m)", "dy per step (m)")}


def plot_landscape(landscape: dict, path: Path) -> None:
    """landscape: yaw (Y,), pitch (P,), energy (P, Y), optional recorded/planned [yaw, pitch];
    or the same over dx, dy (a DROID landscape)."""
    import matplotlib  # heavy (about 0.5 s): only the plots need it; Agg draws without a display

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y, x_label, y_label = LANDSCAPE_AXES["dx" if "dx" in landscape else "yaw"]
    fig, ax = plt.subplots(figsize=(5, 4.2))
    mesh = ax.pcolormesh(landscape[x], landscape[y], landscape["energy"], shading="auto")
    fig.colorbar(mesh, ax=ax, label="energy (L1 to goal)")
    for name, marker in (("recorded", "*"), ("planned", "x")):
        if landscape.get(name) is not None:
            ax.plot(*landscape[name], marker, color="white" if name == "recorded" else "red",
                    markersize=12, label=name)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(report: dict, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write report.json, report.md and the plots; return {name: path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "markdown": out / "report.md"}
    paths["json"].write_text(json.dumps(_strict(report), indent=2, allow_nan=False) + "\n")
    paths["markdown"].write_text(render_markdown(report))
    if "horizons" in report:
        paths["horizons"] = out / "horizons.png"
        plot_horizons(report["horizons"], paths["horizons"])
    if "sensitivity" in report:
        paths["sensitivity"] = out / "sensitivity.png"
        plot_sensitivity(report["sensitivity"], paths["sensitivity"])
    if "landscape" in report.get("planning", {}):
        paths["landscape"] = out / "energy_landscape.png"
        plot_landscape(report["planning"]["landscape"], paths["landscape"])
    return paths
