"""`craft-jepa actions FILE.jsonl`: print the per-step actions of one VPT recording."""

from __future__ import annotations

import argparse

HELP = "print one JSON object per clip step of a VPT .jsonl file (named action/state values)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a VPT contractor .jsonl file")
    parser.add_argument("--fps", type=float, default=5.0, help="clip frame rate (recordings are 20 fps)")
    parser.add_argument(
        "--layout", default="vpt38",
        help="action layout: vpt13, vpt38, or comma-separated feature names (e.g. mouse_dx,key_w)",
    )
    parser.add_argument("--state-layout", default="none", help="none, pitch or yaw_pitch")
    parser.add_argument("--start-tick", type=int, default=0, help="raw tick of the first frame")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument("--hotbar-start", choices=("first_line", "zero"), default="first_line",
                        help="slot before the first line for hotbar key injection: the first line's own "
                             "(default, no phantom key press at step 0) or 0 (VPT's convention); "
                             "as clip.hotbar_start in a run config")
    parser.add_argument("--vpt-names", action="store_true",
                        help="print VPT terms (forward, attack, hotbar_slot ...) instead of feature names")


def run(args: argparse.Namespace) -> int:
    import os
    import sys
    from pathlib import Path

    from craft_jepa.vpt.actions import SOURCE_FPS, aggregate_steps, prepare_ticks, segment_frame_ticks
    from craft_jepa.vpt.jsonl import parse_jsonl
    from craft_jepa.vpt.layouts import get_action_layout, get_state_layout

    try:
        spec = args.layout if "," not in args.layout else [n.strip() for n in args.layout.split(",")]
        layout = get_action_layout(spec)
        state_layout = get_state_layout(args.state_layout)
        if not 0 < args.fps <= SOURCE_FPS:
            raise ValueError(f"--fps must be in (0, {SOURCE_FPS}], got {args.fps}")
        data = Path(args.file).read_bytes()
    except (ValueError, OSError) as err:
        print(f"craft-jepa actions: {err}", file=sys.stderr)
        return 2

    parsed = parse_jsonl(data, args.file)
    ticks = prepare_ticks(parsed.ticks, args.hotbar_start)
    frame_ticks = segment_frame_ticks(len(ticks), args.fps, start_tick=max(0, args.start_tick))
    if args.max_steps is not None:
        frame_ticks = frame_ticks[: args.max_steps + 1]
    steps = aggregate_steps(ticks, frame_ticks) if len(frame_ticks) >= 2 else []
    actions = layout.encode(steps)  # (T-1, A)
    states = state_layout.encode([ticks[f] for f in frame_ticks])  # (T, S)
    try:
        _print_steps(args, layout, state_layout, steps, actions, states)
    except BrokenPipeError:  # `craft-jepa actions f.jsonl | head`: the reader left, not an error
        sys.stdout = open(os.devnull, "w")
        return 0
    print(parsed.report.summary(), file=sys.stderr)
    for message in parsed.report.messages:
        print("  " + message, file=sys.stderr)
    print(f"{len(steps)} steps at {args.fps:g} fps, layout {layout.name} (A={layout.dim})", file=sys.stderr)
    return 0


def _print_steps(args, layout, state_layout, steps, actions, states) -> None:
    import json

    for t, step in enumerate(steps):
        row: dict[str, object] = {"step": t, "tick": step.start_tick, "ticks": step.num_ticks}
        if step.valid_ticks < step.num_ticks:
            row["bad_ticks"] = step.num_ticks - step.valid_ticks
        if args.vpt_names:
            row.update({k: round(v, 6) if isinstance(v, float) else v
                        for k, v in layout.describe(actions[t]).items()})
        else:
            row.update({name: _plain(v, layout.continuous_mask[i])
                        for i, (name, v) in enumerate(zip(layout.feature_names, actions[t]))})
        if state_layout.dim:
            row["state"] = {name: round(float(v), 6) for name, v in zip(state_layout.feature_names, states[t])}
        print(json.dumps(row))


def _plain(value: float, continuous: bool) -> float | int:
    # float32 -> short decimal for continuous dims; 0/1 ints for binary ones.
    return round(float(value), 6) if continuous else int(value)
