"""`craft-jepa pretrain CONFIG.yaml [--set key=value ...]`: self-supervised V-JEPA (continued) pre-training.

The same run machinery as `craft-jepa train` (checkpoints, exact resume, torchrun/SLURM, logging)
with the objective of train/objectives/vjepa.py. The config must say `objective: vjepa`.

Tiny CPU run:     craft-jepa pretrain configs/pretrain-tiny-cpu.yaml
One node, 8 GPUs: torchrun --nproc-per-node 8 -m craft_jepa pretrain configs/vitl16/pretrain-256px-16f.yaml
Continue Meta's:  ... --set encoder.checkpoint=/path/vitl.pt
The result (RUN_DIR/checkpoints/latest.pt) is an `encoder.checkpoint` for `craft-jepa train`.
"""

from __future__ import annotations

import argparse

from craft_jepa.cli import train as _train

HELP = "pre-train (or continue pre-training) the encoder with V-JEPA's masked latent prediction"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _train.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return _train.run(args, objective="vjepa")
