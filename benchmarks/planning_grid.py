"""The toy world model over training seeds x CEM seeds: does it learn and plan, and how much of
that is luck? (issue 12's table for docs/world-model.md)

Runs the demo's pipeline (craft_jepa.pipelines.demo: ToyWorld recordings, the feature cache,
configs/tiny-world-model.yaml) once for the data, then trains one model per training seed and
plans the held-out pairs with every CEM seed. Prints one row per training seed and a summary:
latent L1 ratios at h=1 (with 95 % bootstrap intervals over clips), the mirrored-yaw ratio, and
planning yaw-sign agreement / correlation (mean, min, max over CEM seeds) beside the
majority-sign rate and the no-motion camera error.

    .venv/bin/python benchmarks/planning_grid.py --out /tmp/grid --train-seeds 0 1 2 --cem-seeds 0 1 2
    .venv/bin/python benchmarks/planning_grid.py --set predictor.rope=meta   # one lever at a time

Each training takes a few minutes on 2 CPU cores; the data and features are reused across rows
(and across runs with the same --out).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from craft_jepa.pipelines import demo


def _tag(overrides: list[str]) -> str:
    return "-".join(o.replace("=", "_").replace(".", "_").replace("/", "_") for o in overrides)


def _fmt_ratio(row: dict) -> str:
    return f"{row['value']:.3f} [{row['lo']:.3f}, {row['hi']:.3f}]"


def _spread(row: dict) -> str:
    return f"{row['mean']:.3f} ({row['min']:.3f}-{row['max']:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="/tmp/craft-jepa-grid")
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cem-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2, help="torch threads while training (pinned)")
    parser.add_argument("--train-recordings", type=int, default=demo.ToyWorld().train_recordings,
                        help="training recordings of the toy world (a data lever): data in OUT/trainN")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra overrides of configs/tiny-world-model.yaml (a lever to measure)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    world = dataclasses.replace(demo.ToyWorld(), train_recordings=args.train_recordings)
    out = Path(args.out) / f"train{world.train_recordings}"  # the data of one toy world
    data_seed = 0
    if not (out / "data" / "heldout" / "shards").is_dir():
        train_shards, heldout = demo.make_data(out, data_seed, world)
        demo.fit_scaler(train_shards, out / "scaler.json")
    train_shards = sorted(str(p) for p in (out / "data" / "train" / "shards").glob("*.tar"))
    heldout = sorted(str(p) for p in (out / "data" / "heldout" / "shards").glob("*.tar"))
    # Encoder settings change the latents: their own feature cache.
    encoder_overrides = [o for o in args.overrides if o.startswith("encoder.")]
    features = out / ("features-" + _tag(encoder_overrides) if encoder_overrides else "features")
    if not (features / "heldout").is_dir():
        demo.encode_cache(train_shards, features / "train", "all", overrides=encoder_overrides)
        demo.encode_cache(heldout, features / "heldout", "val", overrides=encoder_overrides)
    tag = _tag(args.overrides) or "preset"
    rows = []
    for seed in args.train_seeds:
        run_dir = out / f"run-{tag}-seed{seed}"
        start = time.perf_counter()
        if not (run_dir / "checkpoints" / "latest.pt").exists():
            demo.train_model(run_dir, features / "train", features / "heldout",
                             out / "scaler.json", seed, ["logging.progress_bar=false", *args.overrides])
        train_s = time.perf_counter() - start
        report = demo.evaluate(run_dir, heldout, run_dir / "eval", data_seed, world, cem_seeds=tuple(args.cem_seeds),
                               progress=False)
        head, plan = report["headline"], report["planning"]["summary"]
        rows.append({"seed": seed, "train_s": train_s, "head": head, "plan": plan,
                     "mirrored_yaw": report["mirrored_camera"]["yaw"], "probe": report["probe"]})
    print(f"\npreset configs/tiny-world-model.yaml, {world.train_recordings} training recordings, "
          f"overrides {args.overrides or 'none'}; "
          f"{rows[0]['plan']['turning_pairs']} turning pairs of {rows[0]['plan']['pairs']}, CEM seeds {args.cem_seeds}\n")
    print("| train seed | copy-last / model | shuffled / model | reversed yaw / model | yaw sign agreement "
          "(CEM seeds) | majority sign | yaw correlation (CEM seeds) | camera error deg | no motion | train s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        h, p, s = r["head"], r["plan"], r["plan"]["cem_seeds"]
        print(f"| {r['seed']} | {_fmt_ratio(h['copy_last_over_model_h1'])} | {_fmt_ratio(h['shuffled_over_model_h1'])} "
              f"| {_fmt_ratio(r['mirrored_yaw'])} | {_spread(s['yaw_sign_agreement'])} | {p['yaw_majority_sign_rate']:.3f} "
              f"| {_spread(s['yaw_correlation'])} | {_spread(s['camera_error_deg'])} | {p['zero_camera_error_deg']:.3f} "
              f"| {r['train_s']:.0f} |")
    print("\ninverse-dynamics probe (split by segment): action F1 of the real pair / the predicted pair / "
          "copy-last (no future) / majority; yaw error deg (real / copy-last)\n")
    print("| train seed | action F1 real | predicted | copy-last | majority | yaw error real | copy-last |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        pr = r["probe"]
        print(f"| {r['seed']} | {pr['real']['action_f1']:.3f} | {pr['predicted']['action_f1']:.3f} "
              f"| {pr['copy_last']['action_f1']:.3f} | {pr['majority']['action_f1']:.3f} "
              f"| {pr['real'].get('yaw_error_deg', float('nan')):.2f} | {pr['copy_last'].get('yaw_error_deg', float('nan')):.2f} |")
    signs = [v for r in rows for v in (r["plan"]["cem_seeds"]["yaw_sign_agreement"]["min"],)]
    corrs = [r["plan"]["cem_seeds"]["yaw_correlation"]["min"] for r in rows]
    print(f"\nworst over the grid: yaw sign agreement {min(signs):.3f}, yaw correlation {min(corrs):.3f}")
    (out / f"grid-{tag}.json").write_text(json.dumps(rows, indent=2, default=float))


if __name__ == "__main__":
    main()
