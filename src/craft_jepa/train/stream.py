"""The training batch stream: resumable, its order a function of (seed, step); the run's scaler.

The training data order is a deterministic function of (seed, step): the stream is cut
into chunks of `chunk_batches` micro-batches and chunk c reads shards and windows seeded
with `data.carry_buffer.chunk_seed(seed, c)`. The loader is built ONCE and its workers run chunk
after chunk, keeping their shuffle buffer (data/carry_buffer.py); a checkpoint stores
(chunk, batches consumed in it) and a resume builds one loader that starts there (each
worker re-reads the previous chunk to rebuild its buffer, then skips the consumed batches).
This holds with worker processes because the loader derives every worker's randomness from
its seed, chunk and role (DataLoader returns worker batches in a fixed round-robin order).

`data.source` picks the loader (data/sources.py): `video` (decoded clips, frames pass through
the frozen encoder) or `features` (tokens pre-encoded by `craft-jepa encode`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from craft_jepa.configuration import require_range
from craft_jepa.data.clips import ClipConfig
from craft_jepa.data.config import DataConfig
from craft_jepa.data.fit_scaler import FitScalerConfig, fit_action_scaler
from craft_jepa.data.sources import Batch, LoaderFactory
from craft_jepa.runs import layout as run_layout
from craft_jepa.vpt.layouts import get_action_layout
from craft_jepa.vpt.scaler import ActionScaler

log = logging.getLogger(__name__)



class TrainStream:
    """An endless, resumable batch stream whose order depends only on (seed, position)."""

    def __init__(self, build: LoaderFactory, seed: int, chunk_batches: int) -> None:
        require_range("chunk_batches", chunk_batches, at_least=1)
        self.build = build
        self.seed = seed
        self.chunk_batches = chunk_batches
        self.chunk = 0
        self.consumed = 0  # batches taken from the current chunk
        self.loaders_built = 0  # one per run (and per resume): workers live across chunks
        self._iter: Iterator[Batch] | None = None

    def __next__(self) -> Batch:
        if self._iter is None:
            start = self.chunk * self.chunk_batches + self.consumed
            self._iter = iter(self.build(self.seed, start, self.chunk_batches))
            self.loaders_built += 1
        batch = next(self._iter)
        self.consumed += 1
        if self.consumed == self.chunk_batches:
            self.chunk, self.consumed = self.chunk + 1, 0
        return batch

    def __iter__(self) -> TrainStream:
        return self

    def _close(self) -> None:
        # Dropping the iterator lets a DataLoader shut its worker processes down.
        self._iter = None

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "chunk": self.chunk, "consumed": self.consumed,
                "chunk_batches": self.chunk_batches}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["seed"] != self.seed or state["chunk_batches"] != self.chunk_batches:
            log.warning(
                "data stream settings changed since the checkpoint (seed %s -> %s, chunk %s -> %s):"
                " the data order will differ from an uninterrupted run",
                state["seed"], self.seed, state["chunk_batches"], self.chunk_batches,
            )
            self.chunk, self.consumed = state["chunk"] + 1, 0
        else:
            self.chunk, self.consumed = state["chunk"], state["consumed"]
        self._close()


def resolve_scaler(cfg: DataConfig, clip_cfg: ClipConfig, run_dir: Path, *, may_fit: bool) -> ActionScaler | None:
    """The run's ActionScaler: configured file, else RUN_DIR/scaler.json, else fit one.

    Returns None when this process must wait for rank 0 to fit and save it (`may_fit` False).
    """
    layout = get_action_layout(clip_cfg.action_layout)
    saved = run_dir / run_layout.SCALER_FILE
    if cfg.scaler is not None:
        scaler = ActionScaler.load(cfg.scaler)
    elif saved.is_file():
        scaler = ActionScaler.load(saved)
    elif not may_fit:
        return None
    elif cfg.source == "droid":
        # Meta's DROID training feeds the raw actions (metres, radians): no standardization.
        scaler = ActionScaler.identity(layout)
    elif cfg.source == "features":
        raise ValueError("data.source=features needs data.scaler: feature shards hold no jsonl to fit one on "
                         "(craft-jepa encode writes OUT_DIR/scaler.json, or run craft-jepa fit-scaler on the video shards)")
    else:
        train_spec = cfg.train_shards
        log.info("no data.scaler configured: fitting one on %s (at most %d steps)", train_spec,
                 cfg.scaler_fit_max_steps)
        fit_cfg = FitScalerConfig(
            data=train_spec, layout=clip_cfg.action_layout, fps=float(clip_cfg.fps),
            max_steps=cfg.scaler_fit_max_steps, val_fraction=cfg.val_fraction, progress=False,
        )
        scaler = fit_action_scaler(fit_cfg).scaler
    scaler.check_layout(layout)
    return scaler
