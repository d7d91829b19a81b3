"""`craft-jepa droid-encode`: the feature cache for DROID-format data (pipelines/encode_droid.py).

    craft-jepa droid-encode --config configs/vitg16/droid-256px-8f.yaml \\
        --data /data/droid/droid_paths.csv --out '/data/droid-vitg/features-{000000..}.tar'

Then train with `--set data.source=features --set data.train_shards=/data/droid-vitg/
--set data.scaler=/data/droid-vitg/scaler.json`. Rerunning resumes (complete shards are skipped);
under torchrun every rank writes its share of the shards.
"""

from __future__ import annotations

import argparse

HELP = "Encode DROID-format trajectories once with the frozen encoder into feature shards (resumable)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True,
                        help="DROID run config YAML: its clip, encoder and data.droid sections are used")
    parser.add_argument("--data", required=True, help="path-list file: one trajectory directory per line")
    parser.add_argument("--out", required=True, help="output pattern, e.g. 'features/features-{000000..}.tar'")
    parser.add_argument("--trajectories-per-shard", type=int, default=100)
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"], help="stored token dtype")
    parser.add_argument("--pool", type=int, default=1, help="average KxK patches (K^2 fewer tokens per frame)")
    parser.add_argument("--batch-size", type=int, default=64, help="frames per encoder forward")
    parser.add_argument("--frames-per-sample", type=int, default=64,
                        help="longest run per tar sample (runs overlap by clip.frames-1)")
    parser.add_argument("--device", default=None, help="default: the config's device (auto: cuda:LOCAL_RANK)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="dotted override of the run config, e.g. --set encoder.checkpoint=/w/vitg.pt")


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from craft_jepa.configuration import ConfigError, load_config, read_yaml
    from craft_jepa.train.config import RunConfig
    from craft_jepa.pipelines.encode_droid import encode_droid_features
    from craft_jepa.pipelines.encode_features import EncodeConfig

    try:
        tree = read_yaml(args.config)
        tree.setdefault("data", {})["train_shards"] = args.data  # the config's own may be an unset ${ENV}
        cfg = load_config(RunConfig, tree, args.overrides)
        if cfg.data.source != "droid":
            raise ValueError(f"{args.config}: data.source is {cfg.data.source!r}, not droid")
        encode_cfg = EncodeConfig(data=args.data, out=args.out, windows="all", dtype=args.dtype, pool=args.pool,
                                  batch_size=args.batch_size, frames_per_sample=args.frames_per_sample,
                                  device=args.device or cfg.device, workers=0, progress=False)
        summary = encode_droid_features(cfg.clip, cfg.data.droid, cfg.encoder, encode_cfg,
                                        trajectories_per_shard=args.trajectories_per_shard)
    except (ConfigError, ValueError, OSError) as err:
        print(f"craft-jepa droid-encode: {err}", file=sys.stderr)
        return 2
    rank = int(os.environ.get("RANK", "0"))
    print(f"rank {rank}: wrote {len(summary.shards_written)} shard(s) ({summary.runs} runs, {summary.frames} frames, "
          f"{summary.windows} windows); {len(summary.shards_skipped)} already complete", file=sys.stderr)
    if summary.skipped:
        print(f"rank {rank}: skipped trajectories: {dict(summary.skipped)}", file=sys.stderr)
    return 0
