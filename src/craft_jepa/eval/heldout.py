"""`craft-jepa eval`: encode held-out clips once, then score the predictor against baselines.

Phases (each timed in the report):
1. encode: up to `clips` clips from the deterministic validation loader -> cached latents
   z (C, T, N, D), raw actions (C, T-1, A), states (C, T, S) on the CPU, plus the loader's
   bad-data counters. Memory: C * T * N * D * 4 bytes (ViT-L, 8 frames: 8 MiB a clip).
2. horizons: latent L1/cosine per horizon, teacher-forced and rolled out, vs baselines.
3. sensitivity: how far predictions move per action feature group.
4. probe: inverse-dynamics probe fitted on real pairs of the TRAINING data (`probe_fit_clips`
   clips read with the validation loader over the run's training shards, video or feature
   cache), scored on the held-out pairs and on predicted futures. Without readable training
   data it falls back to fitting on half of the held-out segments, which on a few long
   recordings leaves it too few pairs to read anything (docs/world-model.md).
Deterministic for a seed: the loader's windows, the shuffles and the probe are all seeded.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor
from tqdm.auto import tqdm

from craft_jepa.configuration import require_range
from craft_jepa.data.config import DataConfig
from craft_jepa.data.loader import build_val_loader
from craft_jepa.data.sources import build_val_batches
from craft_jepa.data.shards import expand_urls
from craft_jepa.encoders import normalize_targets
from craft_jepa.eval.metrics import evaluate_horizons, pooled_teacher_forced
from craft_jepa.eval.probe import ProbeConfig, inverse_dynamics_probe
from craft_jepa.eval.sensitivity import action_sensitivity, mirrored_camera
from craft_jepa.eval.spread import margin_check
from craft_jepa.runs.loading import LoadedRun
from craft_jepa.vpt.action_groups import feature_group


@dataclass
class EvalConfig:
    clips: int = 64  # held-out clips to encode (bounds time and memory)
    windows_per_segment: int = 1  # >1: extra passes with seeds seed+1.. take other windows
    batch_size: int = 8
    num_workers: int = 0
    seed: int = 0
    progress: bool = True
    # A ratio "beats" its baseline only when its whole 95 % interval clears this margin.
    margin: float = 1.05
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    # Training clips the probe is fitted on (0: fit on half of the held-out segments instead);
    # the validation loader over the training shards runs up to `probe_fit_passes` times with
    # seeds seed, seed+1, ... (one window per segment or feature run each) to collect them.
    # 2048: on 20 ViZDoom segments, 436-512 fitting clips left the probe's F1 gain over its
    # no-future row between -0.01 and +0.06 depending on the sample; 2048 gave +0.12 to +0.14,
    # intervals clear of 0 (docs/world-model.md).
    probe_fit_clips: int = 2048
    probe_fit_passes: int = 16

    def __post_init__(self) -> None:
        require_range("EvalConfig.clips", self.clips, at_least=2, note=" (baselines shuffle across clips)")
        require_range("EvalConfig.windows_per_segment", self.windows_per_segment, at_least=1)
        require_range("EvalConfig.batch_size", self.batch_size, at_least=1)
        require_range("EvalConfig.num_workers", self.num_workers, at_least=0)
        require_range("EvalConfig.probe_fit_clips", self.probe_fit_clips, at_least=0)
        require_range("EvalConfig.probe_fit_passes", self.probe_fit_passes, at_least=1)
        if not self.margin >= 1.0:
            raise ValueError(f"EvalConfig.margin must be >= 1 (a ratio to clear), got {self.margin}")


class LatentSource(Protocol):
    """What encoding clips needs of a model: a LoadedRun, or eval/droid.py's DroidModel."""

    def latents(self, frames: Tensor) -> Tensor: ...


@dataclass
class EncodedClips:
    z: Tensor  # (C, T, N, D) normalized latents, CPU
    actions: Tensor  # (C, T-1, A) raw layout vectors
    states: Tensor  # (C, T, S)
    keys: list[str]
    stats: dict[str, int]  # summed bad-data counters of the loader

    def __len__(self) -> int:
        return self.z.shape[0]


def encode_batches(run: LatentSource, batches: Iterable[dict], max_clips: int,
                   progress: bool = True) -> EncodedClips:
    """Encode loader batches (frames or precomputed tokens) until `max_clips` clips.

    A window seen before (same key and start tick, e.g. from another pass) is dropped and
    counted as `duplicate_windows`, so no clip weighs twice in the metrics."""
    zs, actions, states, keys = [], [], [], []
    stats: dict[str, int] = {"duplicate_windows": 0}
    seen: set[tuple[str, int]] = set()
    done = 0
    with tqdm(total=max_clips, desc="encode", unit="clip", disable=not progress) as bar:
        for batch in batches:
            for name, counts in batch.get("stats", {}).items():
                stats[name] = stats.get(name, 0) + int(torch.as_tensor(counts).sum())
            fresh = []
            for i, key in enumerate(batch["key"]):
                window = (str(key), int(batch["start_tick"][i]))
                if window in seen:
                    stats["duplicate_windows"] += 1
                elif len(fresh) < max_clips - done:
                    seen.add(window)
                    fresh.append(i)
            if not fresh:
                continue
            idx = torch.tensor(fresh)
            if "tokens" in batch:  # feature shards: encoder already applied
                z = normalize_targets(batch["tokens"][idx])
            else:
                z = run.latents(batch["frames"][idx])
            zs.append(z.cpu())
            actions.append(batch["actions"][idx].float())
            states.append(batch["states"][idx].float())
            keys.extend(batch["key"][i] for i in fresh)
            done += len(fresh)
            bar.update(len(fresh))
            if done >= max_clips:
                break
    if done < 2:
        raise ValueError(f"evaluation needs at least 2 clips, the data gave {done}")
    return EncodedClips(torch.cat(zs), torch.cat(actions), torch.cat(states), keys, stats)


def encode_val_clips(run: LoadedRun, data: str | list[str], config: EvalConfig) -> EncodedClips:
    """Encode clips of the deterministic validation loader over `data` (a shard spec).

    The validation loader takes one window per segment, fixed by (seed, key); with
    `windows_per_segment` W > 1 it is run W times with seeds seed, seed+1, ... so that a
    few long held-out segments still give many clips (windows may overlap; repeats are dropped)."""

    urls = expand_urls(data)

    def batches() -> Iterable[dict]:
        for window in range(config.windows_per_segment):
            yield from build_val_loader(run.clip, urls, batch_size=config.batch_size,
                                        num_workers=config.num_workers, max_clips=config.clips,
                                        seed=config.seed + window)

    return encode_batches(run, batches(), config.clips, config.progress)


def encode_probe_fit_clips(run: LoadedRun, train_urls: list[str], source: str,
                           config: EvalConfig) -> EncodedClips | None:
    """Up to `config.probe_fit_clips` clips of the run's training data (video shards encoded,
    feature-cache shards read as they are) for the probe to fit on; None when the run's data
    source has no such loader here or the option is 0."""
    if config.probe_fit_clips == 0 or source not in ("video", "features"):
        return None
    data_cfg = DataConfig(source=source, train_shards=train_urls, num_workers=config.num_workers)

    def batches() -> Iterable[dict]:
        for repeat in range(config.probe_fit_passes):
            yield from build_val_batches(data_cfg, run.clip, train_urls, batch_size=config.batch_size,
                                         max_clips=config.probe_fit_clips, seed=config.seed + repeat)

    return encode_batches(run, batches(), config.probe_fit_clips, config.progress)


def evaluate_encoded(run: LoadedRun, clips: EncodedClips, config: EvalConfig,
                     probe_fit: EncodedClips | None = None) -> dict:
    """Phases 2-4 on cached clips -> the report dict (JSON-ready). `probe_fit`: the training
    clips the probe is fitted on (None: half of the held-out segments)."""
    timings: dict[str, float] = {}
    scaled = run.scale(clips.actions)  # (C, T-1, A)
    predictor, device = run.predictor, run.device
    kw = dict(batch_size=config.batch_size, device=device)

    start = time.perf_counter()
    horizons = evaluate_horizons(predictor, clips.z, scaled, clips.states, seed=config.seed,
                                 progress=config.progress, **kw)
    timings["horizons_s"] = time.perf_counter() - start

    start = time.perf_counter()
    layout = run.action_layout
    groups = [feature_group(n, bool(c)) for n, c in zip(layout.feature_names, layout.continuous_mask)]
    sensitivity = action_sensitivity(predictor, clips.z, scaled, clips.states, groups,
                                     seed=config.seed, **kw)
    mirrored = mirrored_camera(predictor, clips.z, clips.actions, clips.states, run.scale,
                               layout.feature_names, layout.continuous_mask.tolist(), seed=config.seed, **kw)
    timings["sensitivity_s"] = time.perf_counter() - start

    start = time.perf_counter()
    predicted = pooled_teacher_forced(predictor, clips.z, scaled, clips.states, **kw)
    fit = None if probe_fit is None else (probe_fit.z.float().mean(2), probe_fit.actions, probe_fit.keys)
    probe = inverse_dynamics_probe(clips.z.float().mean(2), predicted, clips.actions,
                                   layout.feature_names, layout.continuous_mask.tolist(),
                                   clips.keys, config.probe, seed=config.seed, fit=fit)
    timings["probe_s"] = time.perf_counter() - start

    return {
        "source": run.source,
        "clips": len(clips),
        "segments": len(set(clips.keys)),
        "frames_per_clip": int(clips.z.shape[1]),
        "horizon": int(clips.z.shape[1]) - 1,
        "tokens_per_frame": int(clips.z.shape[2]),
        "action_layout": layout.name,
        "seed": config.seed,
        "headline": headline(horizons, config.margin),
        "horizons": horizons,
        "sensitivity": sensitivity,
        "mirrored_camera": mirrored,
        "probe": probe,
        "data_stats": clips.stats,
        "timings": timings,
    }


def headline(horizons: dict, margin: float) -> dict:
    """The numbers a reader looks at first, each beside its baseline: L1 at h=1, and
    baseline / model L1 ratios with paired 95 % bootstrap intervals and the margin each must
    clear (the whole interval past it), never a bare yes/no."""
    tf, ro, ratios = horizons["tf"], horizons["rollout"], horizons["ratios"]
    return {
        "model_l1_h1": tf["model"]["l1"][0],
        "copy_last_l1_h1": tf["copy_last"]["l1"][0],
        "zero_actions_l1_h1": tf["zero_actions"]["l1"][0],
        "shuffled_actions_l1_h1": tf["shuffled_actions"]["l1"][0],
        "copy_last_over_model_h1": margin_check(ratios["tf"]["copy_last"][0], margin),
        "shuffled_over_model_h1": margin_check(ratios["tf"]["shuffled_actions"][0], margin),
        "zero_actions_over_model_h1": margin_check(ratios["tf"]["zero_actions"][0], margin),
        "copy_last_over_model_rollout_last": margin_check(ratios["rollout"]["copy_last"][-1], margin),
        "model_l1_rollout_last": ro["model"]["l1"][-1],
    }
