"""`craft-jepa train CONFIG.yaml [--set key=value ...]`: fine-tune the AC predictor.

Single process:   craft-jepa train configs/tiny-cpu.yaml
One node, 8 GPUs: torchrun --nproc-per-node 8 -m craft_jepa train configs/vitl16/minecraft-256px-8f.yaml
Many nodes:       see scripts/slurm/train.sbatch (srun + torchrun, env:// rendezvous)
"""

from __future__ import annotations

import argparse
import os
import sys

HELP = "train the action-conditioned predictor against a frozen encoder (CPU, GPU, torchrun, SLURM)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML run config, e.g. configs/vitl16/minecraft-256px-8f.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="dotted override, repeatable: --set optim.lr=3e-4 --set data.batch_size=4")
    parser.add_argument("--run-dir", help="shortcut for --set run_dir=PATH")
    parser.add_argument("--steps", type=int, default=None,
                        help="stop (and checkpoint) after this optimizer step; the schedule still "
                             "spans schedule.total_steps, so a later call continues the same run")
    parser.add_argument("--debug", action="store_true",
                        help="one process, a few steps, no workers, into RUN_DIR/debug (no resume)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


_COMMAND = {"ac": "craft-jepa train", "vjepa": "craft-jepa pretrain"}


def run(args: argparse.Namespace, objective: str = "ac") -> int:
    """The one front door of the training loop; `craft-jepa pretrain` is this with objective vjepa."""
    import dataclasses
    from pathlib import Path

    from craft_jepa.configuration import ConfigError, dump_config, load_config
    from craft_jepa.runs.compat import CheckpointMismatchError
    from craft_jepa.train.config import RunConfig
    from craft_jepa.train.loop import NonFiniteLossError, debug_overrides, train

    overrides = list(args.overrides)
    if args.run_dir:
        overrides.append(f"run_dir={args.run_dir}")
    if args.debug:
        overrides += debug_overrides()
    prog = _COMMAND[objective]
    try:
        cfg = load_config(RunConfig, args.config, overrides)
    except ConfigError as err:
        print(f"{prog}: config error: {err}", file=sys.stderr)
        return 2
    if cfg.objective != objective:
        print(f"{prog}: {args.config} sets objective: {cfg.objective}; run it with {_COMMAND[cfg.objective]}",
              file=sys.stderr)
        return 2
    if args.debug:
        cfg = dataclasses.replace(cfg, run_dir=str(Path(cfg.run_dir) / "debug"))
    if args.print_config:
        print(dump_config(cfg), end="")
        return 0
    stop = args.steps
    if args.debug:
        stop = 3 if stop is None else stop
    try:
        summary = train(cfg, stop_at_step=stop, single_process=args.debug)
    except NonFiniteLossError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 3
    except CheckpointMismatchError as err:
        print(f"{prog}: cannot resume: {err}", file=sys.stderr)
        return 2
    if summary.preempted:
        from craft_jepa.train.preempt import REQUEUE_EXIT_CODE

        if int(os.environ.get("RANK", "0")) == 0:
            print(f"{prog}: stopped by a signal after step {summary.step} (checkpointed); "
                  f"run the same command again to resume", file=sys.stderr)
        return REQUEUE_EXIT_CODE
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # rank 0 reports for everyone
    losses = ", ".join(f"{k} {v:.4f}" for k, v in summary.train_losses.items())
    print(f"step {summary.step}: {losses}")
    if summary.val_losses:
        baseline = {"ac": ("copy_last", "copy-last"), "vjepa": ("mean_token", "predict-the-mean-token")}[objective]
        print(f"validation: loss {summary.val_losses['loss']:.4f} ({baseline[1]} baseline "
              f"{summary.val_losses[baseline[0]]:.4f}); best {summary.best_val_loss:.4f}")
    print(f"run dir: {summary.run_dir}")
    return 0
