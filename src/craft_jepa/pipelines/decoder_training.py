"""`craft-jepa decoder train`: a pixel decoder for a trained AC run, on the shared run machinery.

`train_decoder` runs the `decoder` objective (train/objectives/pixel_decoder.py) through
train/loop.py (resume, checkpoints, logging, validation, typed config) under RUN_DIR/decoder, for
the encoder of an AC run, then scores it on held-out frames against the mean training frame (PSNR)
and writes RUN_DIR/decoder/decoder.safetensors + decoder.json (runs/decoder_files.py).

The decoder needs pixels, so it trains from video shards (`data.source: video`); given a feature
cache (tokens only), it trains from the video shards the cache's runs name as their source.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from craft_jepa.configuration import config_to_dict, load_config
from craft_jepa.data.feature_format import FEATURE_FORMAT
from craft_jepa.data.loader import build_val_loader
from craft_jepa.data.shards import expand_urls
from craft_jepa.encoders import FrozenEncoder, load_state_dict_strict, normalize_targets
from craft_jepa.models.pixel_decoder import TokenDecoder, psnr
from craft_jepa.runs import layout
from craft_jepa.runs.checkpoints import load_checkpoint
from craft_jepa.runs.decoder_files import save_decoder
from craft_jepa.train.config import RunConfig
from craft_jepa.train.distributed import resolve_device
from craft_jepa.train.loop import train
from craft_jepa.train.objectives.pixel_decoder import frames_to_rgb

# Settings of a decoder run that differ from the AC run whose encoder it decodes (any may be
# overridden with `--set`): a short schedule, many clips per decoded segment.
DECODER_RUN_DEFAULTS = (
    "schedule.total_steps=300",
    "schedule.warmup_steps=20",
    "schedule.decay_steps=60",
    "schedule.start_lr=2.0e-4",
    "schedule.final_lr=0.0",
    "optim.lr=2.0e-3",
    "optim.weight_decay=0.0",
    "optim.grad_clip=1.0",
    "optim.accum_steps=1",
    "data.batch_size=8",
    "data.shuffle_buffer_clips=64",
    "data.scaler=null",
    "clip.clips_per_segment=16",
    "validation.every=0",
    "checkpoint.latest_every=100",
    "checkpoint.every=0",
    "checkpoint.keep_last=1",
    "logging.every=25",
)


def decoder_run_config(run_dir: str | os.PathLike[str], train_shards: str | list[str],
                       overrides: list[str] = (), val_shards: str | list[str] | None = None) -> RunConfig:
    """The RunConfig of RUN_DIR's decoder run: RUN_DIR's encoder and clip, objective=decoder."""
    base = layout.config_path(run_dir)
    if not base.is_file():
        raise FileNotFoundError(f"{run_dir}: no {layout.CONFIG_FILE} (a training run directory is needed)")

    def as_yaml(urls: str | list[str]) -> str:  # JSON is YAML: paths with braces or commas stay intact
        return json.dumps(list(urls) if isinstance(urls, (list, tuple)) else str(urls))

    fixed = ["objective=decoder", f"run_dir={json.dumps(str(Path(run_dir) / layout.DECODER_DIR))}", "data.source=video",
             f"data.train_shards={as_yaml(train_shards)}", "data.val_fraction=0.0"]
    if val_shards:
        fixed.append(f"data.val_shards={as_yaml(val_shards)}")
    else:
        fixed.append("data.val_shards=null")
    return load_config(RunConfig, str(base), [*DECODER_RUN_DEFAULTS, *fixed, *overrides])


def video_shards_for(urls: list[str]) -> list[str]:
    """Shards to learn pixels from: video shards as they are; a feature shard (craft-jepa encode)
    stands for the video shards its runs were encoded from (FeatureMeta.source), which must exist."""
    out: list[str] = []
    for url in urls:
        sources: list[str] = []
        try:
            with tarfile.open(url) as tar:  # members are read header by header; only JSON bodies are read
                for member in tar:
                    if member.name.endswith(".mp4"):
                        break  # a video shard
                    if member.name.endswith(".json"):
                        meta = json.loads(tar.extractfile(member).read())
                        if isinstance(meta, dict) and meta.get("format") == FEATURE_FORMAT and meta.get("source"):
                            sources.append(str(meta["source"]))
        except (OSError, tarfile.TarError, ValueError):
            pass  # not a local tar (a URL, pipe:): used as it is, the video loader reports what is wrong
        if not sources:
            out.append(url)
            continue
        missing = sorted({s for s in sources if "://" not in s and not os.path.exists(s)})
        if missing:
            raise FileNotFoundError(f"{url} is a feature shard (tokens, no pixels): the decoder learns frames "
                                    f"from the video shards it was encoded from, and {missing[0]} is not here; "
                                    "pass the video shards with --data")
        out += [s for s in dict.fromkeys(sources) if s not in out]
    return out


@torch.no_grad()
def _frames(cfg: RunConfig, urls: list[str], max_clips: int, seed: int) -> Tensor:
    """RGB frames (M, 3, S, S) in [0, 1] of one fixed window per segment of `urls`."""
    loader = build_val_loader(cfg.clip, urls, batch_size=8, num_workers=0, max_clips=max_clips, seed=seed)
    chunks = [frames_to_rgb(b["frames"].float(), cfg.clip.mean, cfg.clip.std).flatten(0, 1) for b in loader]
    if not chunks:
        raise ValueError(f"no clips in {urls[:3]}")
    return torch.cat(chunks)


@torch.no_grad()
def score_decoder(decoder: TokenDecoder, encoder: nn.Module, cfg: RunConfig, train_urls: list[str],
                  heldout_urls: list[str], max_clips: int = 64, seed: int = 0) -> dict[str, Any]:
    """Held-out PSNR of the decoder beside the mean training frame's (the mean-frame baseline)."""
    mean_frame = _frames(cfg, train_urls, max_clips, seed).mean(0)  # (3, S, S)
    target = _frames(cfg, heldout_urls, max_clips, seed)  # (M, 3, S, S)
    norm = torch.as_tensor(cfg.clip.mean).view(3, 1, 1), torch.as_tensor(cfg.clip.std).view(3, 1, 1)
    device = next(decoder.parameters()).device
    decoded = []
    for chunk in target.split(64):
        z = normalize_targets(encoder(((chunk - norm[0]) / norm[1])[:, None].to(device)))[:, 0]
        decoded.append(decoder(z).float().cpu())
    pred = torch.cat(decoded)
    model = psnr(pred, target)
    baseline = psnr(mean_frame.expand_as(target), target)
    return {"frames": int(target.shape[0]), "psnr_db": float(model.mean()),
            "mean_frame_psnr_db": float(baseline.mean()), "margin_db": float((model - baseline).mean()),
            "l1": float((pred - target).abs().mean()), "mean_frame_l1": float((mean_frame - target).abs().mean()),
            "frames_better_than_mean_frame": float((model > baseline).float().mean())}


def train_decoder(run_dir: str | os.PathLike[str], train_shards: str | list[str], *,
                  heldout_shards: str | list[str] | None = None, overrides: list[str] = (),
                  score_clips: int = 64) -> dict[str, Any]:
    """Train RUN_DIR's decoder on the shared loop, score it, write RUN_DIR/decoder/decoder.*.

    Returns the decoder.json record. `heldout_shards`: scored there (and validated on, when
    validation.every > 0); without them the score is on the training shards and says so."""
    train_shards = video_shards_for(expand_urls(train_shards))  # a feature cache names its video shards
    heldout_shards = video_shards_for(expand_urls(heldout_shards)) if heldout_shards else None
    cfg = decoder_run_config(run_dir, train_shards, list(overrides), heldout_shards)
    summary = train(cfg, single_process=True)
    state = load_checkpoint(layout.latest_checkpoint(cfg.run_dir))
    decoder = TokenDecoder(cfg.decoder, cfg.encoder.embed_dim, cfg.encoder.grid_size, cfg.clip.size)
    load_state_dict_strict(decoder, state["decoder"], str(layout.latest_checkpoint(cfg.run_dir)))
    device = resolve_device(cfg.device, 0)  # scored where it trained (ViT-L/g: the GPU)
    decoder.to(device).eval()
    encoder = FrozenEncoder.from_config(cfg.encoder, device)
    train_urls = expand_urls(cfg.data.train_shards)
    heldout_urls = expand_urls(heldout_shards) if heldout_shards else train_urls
    scores = score_decoder(decoder, encoder, cfg, train_urls, heldout_urls, max_clips=score_clips, seed=cfg.seed)
    scores["heldout"] = bool(heldout_shards)
    meta = {"encoder": config_to_dict(cfg.encoder), "clip": config_to_dict(cfg.clip), "steps": summary.step,
            "source": str(run_dir), "scores": scores, "pictures": {}}
    save_decoder(cfg.run_dir, decoder.cpu(), meta)
    return {**meta, "folder": str(cfg.run_dir)}
