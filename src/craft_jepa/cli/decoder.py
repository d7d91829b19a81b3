"""`craft-jepa decoder train RUN_DIR --data 'video-*.tar'`: a pixel decoder of RUN_DIR's latents.

Trains on the shared run machinery (resume, checkpoints, logging) under RUN_DIR/decoder, scores
it on held-out frames against the mean-frame baseline, and writes RUN_DIR/decoder/decoder.json +
decoder.safetensors (`craft-jepa export` copies them; `craft-jepa eval` and `WorldModel.decode`
use them). With --heldout it also draws the pictures (RUN_DIR/decoder/pictures/).
"""

from __future__ import annotations

import argparse
import sys

HELP = "Train a pixel decoder of a run's frozen latents (see what the model imagines)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="decoder_command", metavar="ACTION", required=True)
    p = sub.add_parser("train", help="train RUN_DIR's decoder", description=HELP)
    p.add_argument("run_dir", help="the AC training run whose encoder the decoder reads (RUN_DIR with config.yaml)")
    p.add_argument("--data", required=True,
                   help="video shards to learn frames from, or the feature cache (its shards name the video "
                        "shards they were encoded from, which must be readable here: a cache holds no pixels)")
    p.add_argument("--heldout", default=None, help="held-out video shards: scored there and pictures drawn")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a decoder-run setting (e.g. schedule.total_steps=1000, decoder.width=128, "
                        "device=cuda); repeatable")
    p.add_argument("--no-pictures", action="store_true", help="do not draw pictures after training")


def run(args: argparse.Namespace) -> int:
    from craft_jepa.configuration import ConfigError
    from craft_jepa.pipelines.decoder_training import train_decoder

    try:
        record = train_decoder(args.run_dir, args.data, heldout_shards=args.heldout, overrides=args.overrides)
    except (ValueError, FileNotFoundError, ConfigError) as err:
        print(f"craft-jepa decoder: {err}", file=sys.stderr)
        return 2
    s = record["scores"]
    where = "held-out" if s["heldout"] else "training (no --heldout)"
    print(f"decoder: {where} PSNR {s['psnr_db']:.2f} dB vs mean frame {s['mean_frame_psnr_db']:.2f} dB "
          f"(margin {s['margin_db']:+.2f} dB over {s['frames']} frames)")
    if args.heldout and not args.no_pictures:
        from craft_jepa.eval.pictures import write_pictures
        from craft_jepa.runs.decoder_files import load_run_decoder
        from craft_jepa.runs.loading import load_run

        run = load_run(args.run_dir, which="latest")
        pictures = write_pictures(run, load_run_decoder(run), args.heldout, f"{record['folder']}/pictures")
        print(f"pictures: {pictures['strips']['png']}, {pictures['counterfactual']['png']}")
    print(f"decoder: {record['folder']}/decoder.json")
    return 0
