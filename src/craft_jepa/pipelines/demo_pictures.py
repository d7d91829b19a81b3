"""The demo's last step: train the pixel decoder of the toy world model and draw what it imagines.

    craft_jepa.pipelines.demo._run_demo -> draw_pictures(run_dir, train_shards, heldout, OUT/eval, report)

1. `craft-jepa decoder train`'s own code (pipelines/decoder_training.py) on the training video
   shards (the feature cache holds tokens, not pixels), scored on held-out frames against the
   mean training frame;
2. strips of held-out clips (true | decoded true | teacher-forced | rollout) and counterfactual
   strips from one start frame under scripted actions (eval/pictures.py), as `craft-jepa eval`
   draws them, added to OUT/eval/report.md;
3. one plan: start, goal and the decoded predicted end state of the chosen actions (plan.png):
   the plan the demo's plan step printed (plan.txt), handed over, not planned again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from craft_jepa.api import WorldModel
from craft_jepa.data.loader import build_val_loader
from craft_jepa.eval.pictures import pictures_markdown, plan_strip, to_uint8, write_pictures
from craft_jepa.eval.report import write_report
from craft_jepa.pipelines.decoder_training import train_decoder
from craft_jepa.planning.action_space import ActionSpace
from craft_jepa.runs.decoder_files import load_run_decoder

# Decoder-run settings of the demo (tiny encoder, 64 px frames, batches of 8 clips x 4 frames).
DEMO_DECODER_STEPS = 250
DEMO_DECODER = ("logging.progress_bar=false", "logging.tensorboard=false")


def draw_pictures(run_dir: Path, train_shards: list[str], heldout: list[str], eval_dir: Path, report: dict,
                  seed: int = 0, steps: int | None = None, overrides: tuple[str, ...] = DEMO_DECODER,
                  planned: np.ndarray | None = None) -> dict:
    """-> the pictures record (also report["pictures"], re-written into eval_dir/report.*).
    `steps`: decoder training steps (default DEMO_DECODER_STEPS; the shortened demo takes fewer).
    `planned`: the demo plan step's actions (2, A) for plan.png (None: planned here)."""

    n = steps or DEMO_DECODER_STEPS
    schedule = [f"schedule.total_steps={n}", f"schedule.warmup_steps={min(20, n // 10)}",
                f"schedule.decay_steps={max(n // 5, 1)}"]
    decoder_record = train_decoder(run_dir, train_shards, heldout_shards=heldout,
                                   overrides=[*overrides, f"seed={seed}", *schedule])
    return draw_with_decoder(run_dir, heldout, eval_dir, report, decoder_record["scores"], seed, planned)


def draw_with_decoder(run_dir: Path, heldout: list[str], eval_dir: Path, report: dict | None, scores: dict,
                      seed: int = 0, planned: np.ndarray | None = None) -> dict:
    """The pictures of a run that has its decoder (RUN_DIR/decoder/); `report` (the eval report, or
    None) gets them and is re-written into eval_dir. `planned`: raw actions (2, A) of the plan from
    frame 0 to frame 2 of the first held-out clip (demo.plan_once's); None: planned here, the same way."""

    model = WorldModel.from_pretrained(run_dir, which="latest")
    run = model.run
    decoder = load_run_decoder(run)
    pictures_dir = eval_dir / "pictures"
    record = write_pictures(run, decoder, heldout, pictures_dir, seed=seed)
    # One plan, as the demo's plan step makes it (frame 0 -> frame 2 of the first held-out clip).
    batch = next(iter(build_val_loader(run.clip, heldout[:1], batch_size=1, num_workers=0, max_clips=1, seed=seed)))
    rgb = run.to_rgb(batch["frames"][0])  # (T, 3, S, S) in [0, 1]
    start, goal = to_uint8(rgb[0]), to_uint8(rgb[2])
    if planned is None:
        space = ActionSpace.from_layout(run.action_layout, run.scaler)
        planned = model.plan(start, goal, horizon=2, seed=seed, samples=200, iterations=6,
                             hold=space.hold_from(batch["actions"][0, 0])).actions
    z = run.latents(batch["frames"][:, :3].float())[0]  # (3, N, D)
    record["plan"] = plan_strip(run, decoder, z[0], z[2], torch.as_tensor(np.asarray(planned)), batch["actions"][0, :2],
                                pictures_dir / "plan.png", start_image=start, goal_image=goal)
    record["decoder"] = scores
    (pictures_dir / "pictures.json").write_text(json.dumps(record, indent=2) + "\n")
    if report is not None:
        report["pictures"] = record
        write_report(report, eval_dir)
    return record


def summary_lines(out: Path) -> list[str]:
    """The demo summary's picture section (OUT/README.md), when draw_pictures ran."""

    path = out / "eval" / "pictures" / "pictures.json"
    if not path.is_file():
        return []
    return pictures_markdown(json.loads(path.read_text()), base="eval/pictures/")
