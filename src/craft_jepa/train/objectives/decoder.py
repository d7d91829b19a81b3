"""The pixel-decoder objective: a small decoder from one frame's frozen latents to its RGB frame.

Per micro-batch: video clips (B, T, 3, H, W) -> the frozen encoder's tokens, layer-normed exactly
as the predictor's targets (train/losses.py) -> z (B*T, N, D); the decoder (models/decoder.py)
maps each frame's z to RGB in [0, 1] and the loss is L1 + `decoder.ssim_weight` * (1 - SSIM)
against the frame (un-normalized with the clip mean/std). The batch's mean frame is logged beside
it as a baseline (`mean_frame`: the L1 of predicting every frame as the batch's mean frame).

`train_decoder` runs it on the shared run machinery (train/loop.py: resume, checkpoints,
logging, validation, typed config) under RUN_DIR/decoder, for the encoder of an AC run, then
scores it on held-out frames against the mean training frame (PSNR) and writes
RUN_DIR/decoder/decoder.safetensors + decoder.json (models/decoder.py: save_decoder).

The decoder needs pixels, so it trains from video shards (`data.source: video`); given a feature
cache (tokens only), it trains from the video shards the cache's runs name as their source.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from craft_jepa.models.decoder import DecoderConfig, TokenDecoder, psnr, ssim
from craft_jepa.train.losses import normalize_targets
from craft_jepa.train.objectives.base import Objective


class DecoderLossModule(nn.Module):
    def __init__(self, decoder: TokenDecoder, cfg: DecoderConfig) -> None:
        super().__init__()
        self.decoder = decoder
        self.cfg = cfg

    def forward(self, z: Tensor, target: Tensor) -> dict[str, Tensor]:
        """z (M, N, D) normalized latents, target (M, 3, S, S) RGB in [0, 1]."""
        pred = self.decoder(z)
        l1 = (pred - target).abs().mean()
        out = {"l1": l1.detach()}
        loss = l1
        if self.cfg.ssim_weight > 0:
            score = ssim(pred, target, self.cfg.ssim_window)
            loss = loss + self.cfg.ssim_weight * (1 - score)
            out["ssim"] = score.detach()
        out["loss"] = loss
        with torch.no_grad():
            out["mean_frame"] = (target.mean(0, keepdim=True) - target).abs().mean()
            out["psnr"] = psnr(pred.detach(), target).mean()
        return out


def frames_to_rgb(frames: Tensor, mean: Any, std: Any) -> Tensor:
    """Normalized frames (..., 3, H, W) -> RGB in [0, 1]."""
    m = torch.as_tensor(mean, dtype=frames.dtype, device=frames.device).view(3, 1, 1)
    s = torch.as_tensor(std, dtype=frames.dtype, device=frames.device).view(3, 1, 1)
    return (frames * s + m).clamp(0, 1)


class DecoderObjective(Objective):
    name = "decoder"
    checkpoint_keys = ("decoder",)
    loss_names = ("loss", "l1", "ssim", "mean_frame", "psnr")

    def __init__(self, decoder: TokenDecoder, encoder: nn.Module, cfg: DecoderConfig, clip: Any,
                 device: torch.device) -> None:
        self.device = device
        self.decoder = decoder.to(device)
        self.encoder = encoder
        self.cfg = cfg
        self.clip = clip
        self.module = DecoderLossModule(self.decoder, cfg)
        if cfg.ssim_weight == 0:
            self.loss_names = tuple(k for k in self.loss_names if k != "ssim")

    @torch.no_grad()
    def prepare(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        if "frames" not in batch:
            raise ValueError("the decoder objective needs pixels: a video batch (data.source=video), not features")
        frames = batch["frames"].to(self.device, non_blocking=True).float()  # (B, T, 3, H, W) normalized
        z = normalize_targets(self.encoder(frames))  # (B, T, N, D), the predictor's targets
        target = frames_to_rgb(frames, self.clip.mean, self.clip.std)
        return z.flatten(0, 1), target.flatten(0, 1)

    def start_messages(self) -> list[str]:
        return [self.encoder.weights_source] if hasattr(self.encoder, "weights_source") else []

    def state_dict(self) -> dict[str, Any]:
        return {"decoder": self.decoder.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from craft_jepa.encoders.checkpoint import load_state_dict_strict

        load_state_dict_strict(self.decoder, state["decoder"], "decoder")

    def progress(self, losses: dict[str, float]) -> dict[str, float]:
        return {"l1": losses["l1"], "mean": losses["mean_frame"], "psnr": losses["psnr"]}

    def describe_validation(self, losses: dict[str, float]) -> str:
        return (f"val pixel L1 {losses['l1']:.4f} (batch-mean-frame baseline {losses['mean_frame']:.4f}), "
                f"PSNR {losses['psnr']:.2f} dB")


def build_decoder_objective(cfg: Any, info: Any, run_dir: Any, urls: list[str]) -> DecoderObjective:
    from craft_jepa.encoders import FrozenEncoder
    from craft_jepa.train.rng import seed_everything

    seed_everything(cfg.seed)
    decoder = TokenDecoder(cfg.decoder, cfg.encoder.embed_dim, cfg.encoder.grid_size, cfg.clip.size)
    encoder = FrozenEncoder.from_config(cfg.encoder, info.device)
    return DecoderObjective(decoder, encoder, cfg.decoder, cfg.clip, info.device)


# ---------------------------------------------------------------------- the driver

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
                       overrides: list[str] = (), val_shards: str | list[str] | None = None):
    """The RunConfig of RUN_DIR's decoder run: RUN_DIR's encoder and clip, objective=decoder."""
    from craft_jepa.configuration import load_config
    from craft_jepa.train.config import RunConfig

    base = Path(run_dir) / "config.yaml"
    if not base.is_file():
        raise FileNotFoundError(f"{run_dir}: no config.yaml (a training run directory is needed)")
    def as_yaml(urls: str | list[str]) -> str:  # JSON is YAML: paths with braces or commas stay intact
        return json.dumps(list(urls) if isinstance(urls, (list, tuple)) else str(urls))

    fixed = ["objective=decoder", f"run_dir={json.dumps(str(Path(run_dir) / 'decoder'))}", "data.source=video",
             f"data.train_shards={as_yaml(train_shards)}", "data.val_fraction=0.0"]
    if val_shards:
        fixed.append(f"data.val_shards={as_yaml(val_shards)}")
    else:
        fixed.append("data.val_shards=null")
    return load_config(RunConfig, str(base), [*DECODER_RUN_DEFAULTS, *fixed, *overrides])


def video_shards_for(urls: list[str]) -> list[str]:
    """Shards to learn pixels from: video shards as they are; a feature shard (craft-jepa encode)
    stands for the video shards its runs were encoded from (FeatureMeta.source), which must exist."""
    import tarfile

    from craft_jepa.data.feature_format import FEATURE_FORMAT

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
def _frames(cfg: Any, urls: list[str], max_clips: int, seed: int) -> Tensor:
    """RGB frames (M, 3, S, S) in [0, 1] of one fixed window per segment of `urls`."""
    from craft_jepa.data.loader import build_val_loader

    loader = build_val_loader(cfg.clip, urls, batch_size=8, num_workers=0, max_clips=max_clips, seed=seed)
    chunks = [frames_to_rgb(b["frames"].float(), cfg.clip.mean, cfg.clip.std).flatten(0, 1) for b in loader]
    if not chunks:
        raise ValueError(f"no clips in {urls[:3]}")
    return torch.cat(chunks)


@torch.no_grad()
def score_decoder(decoder: TokenDecoder, encoder: nn.Module, cfg: Any, train_urls: list[str],
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
    from craft_jepa.configuration import config_to_dict
    from craft_jepa.data.shards import expand_urls
    from craft_jepa.encoders import FrozenEncoder
    from craft_jepa.models.decoder import save_decoder
    from craft_jepa.train.checkpoint import load_checkpoint
    from craft_jepa.train.loop import train

    from craft_jepa.data.shards import expand_urls as _expand

    train_shards = video_shards_for(_expand(train_shards))  # a feature cache names its video shards
    heldout_shards = video_shards_for(_expand(heldout_shards)) if heldout_shards else None
    cfg = decoder_run_config(run_dir, train_shards, list(overrides), heldout_shards)
    summary = train(cfg, single_process=True)
    state = load_checkpoint(Path(cfg.run_dir) / "checkpoints" / "latest.pt")
    decoder = TokenDecoder(cfg.decoder, cfg.encoder.embed_dim, cfg.encoder.grid_size, cfg.clip.size)
    decoder.load_state_dict(state["decoder"])
    from craft_jepa.train.distributed import resolve_device

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
