"""The DROID settings `craft-jepa eval` and `craft-jepa plan` share (a helper, not a sub-command).

Both commands take a DROID world model where they take a VPT one: a craft-jepa run or export with
the `droid7` action layout needs nothing more; a bare predictor file laid out like Meta's
`vjepa2-ac-vitg.pt` does not say its encoder, head count and clip geometry, so these flags do
(their defaults are the release's). pipelines/droid.py does the work.
"""

from __future__ import annotations

import argparse

from craft_jepa.data.droid_config import CAMERA_VIEWS  # light: no h5py, no torch


def add_droid_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "DROID models", "a predictor file laid out like vjepa2-ac-vitg.pt (with --encoder-checkpoint vitg.pt), or a "
                        "run / export with the droid7 layout; --data is then a DROID path-list file")
    group.add_argument("--encoder", default="vit_giant", help="predictor file: encoder name (release: vit_giant)")
    group.add_argument("--img-size", type=int, default=256, help="predictor file: frame size (release: 256)")
    group.add_argument("--heads", type=int, default=16, help="predictor file: attention heads (release: 16)")
    group.add_argument("--fps", type=float, default=4.0, help="predictor file: sampled frames per second (4)")
    group.add_argument("--frames", type=int, default=8, help="predictor file: frames per clip (release: 8)")
    group.add_argument("--predictor-key", default="predictor", help="entry of the .pt holding the predictor")
    group.add_argument("--encoder-key", default="target_encoder", help="entry of the encoder .pt")
    group.add_argument("--maxnorm", type=float, default=0.05, help="CEM's largest xyz step in metres (0.05)")
    group.add_argument("--camera-view", default="left_mp4_path", choices=CAMERA_VIEWS,
                       help="the camera whose frames are encoded (default left_mp4_path)")


def droid_options(args: argparse.Namespace):
    """The parsed flags -> pipelines.droid.DroidOptions."""
    from craft_jepa.models.released import ReleasedModelSpec
    from craft_jepa.pipelines.droid import DroidOptions

    released = ReleasedModelSpec(encoder=args.encoder, img_size=args.img_size, heads=args.heads, fps=args.fps,
                                 frames=args.frames, predictor_key=args.predictor_key, encoder_key=args.encoder_key)
    return DroidOptions(released=released, maxnorm=args.maxnorm, camera_view=args.camera_view)


def model_errors() -> tuple[type[BaseException], ...]:
    """What a bad model, data file or trajectory raises: reported, exit status 2."""
    from craft_jepa.data.droid_config import TrajectoryError
    from craft_jepa.encoders import StateDictMismatchError

    return (ValueError, OSError, KeyError, TrajectoryError, StateDictMismatchError)
