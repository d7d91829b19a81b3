"""The `craft-jepa` command: one argparse sub-command per module in this folder.

Each sub-command module defines `HELP` (one line), `add_arguments(parser)` and
`run(args) -> int`. Modules keep heavy imports (torch, av) inside `run` so that
`craft-jepa --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command name -> module. The order is the order of `craft-jepa --help`.
COMMANDS: dict[str, str] = {
    "actions": "craft_jepa.cli.actions",
    "fit-scaler": "craft_jepa.cli.fit_scaler",
    "synth": "craft_jepa.cli.synth",
    "download": "craft_jepa.cli.download",
    "record": "craft_jepa.cli.record",
    "pack": "craft_jepa.cli.pack",
    "train": "craft_jepa.cli.train",
    "pretrain": "craft_jepa.cli.pretrain",
    "encode": "craft_jepa.cli.encode",
    "eval": "craft_jepa.cli.eval",
    "plan": "craft_jepa.cli.plan",
    "droid-encode": "craft_jepa.cli.droid_encode",
    "export": "craft_jepa.cli.export",
    "decoder": "craft_jepa.cli.decoder",
    "push": "craft_jepa.cli.push",
    "demo": "craft_jepa.cli.demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="craft-jepa",
        description="Action-conditioned V-JEPA 2 world models for Minecraft (VPT).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue  # not written yet
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
