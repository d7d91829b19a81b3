"""Training metrics: a tqdm bar (loss, lr, clips/s, ETA), metrics.csv and TensorBoard.

Only rank 0 writes. On resume, CSV rows past the resumed step (written after the last
checkpoint by the interrupted run) are dropped so each step appears once.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from craft_jepa.data.clips import STAT_KEYS
from craft_jepa.data.droid_config import DROID_STAT_KEYS
from craft_jepa.data.feature_format import FEATURE_STAT_KEYS
from craft_jepa.train.config import LoggingConfig

CSV_COLUMNS = [
    "step", "split", "loss", "teacher_forcing", "rollout", "copy_last",
    "mean_token", "loss_mask0", "loss_mask1",  # objective vjepa (further mask generators: TensorBoard only)
    "target_std", "target_rank",  # objective vjepa: is the target representation collapsing?
    "l1", "ssim", "mean_frame", "psnr",  # objective decoder
    "lr", "grad_norm",
    "clips_per_s", "data_time_s", "step_time_s", "peak_mem_mb", "skipped_steps", "bad_inputs",
    # skipped input by kind (all ranks, whole run), for either source's counters
    *(f"skipped_{kind}" for kind in dict.fromkeys(STAT_KEYS + FEATURE_STAT_KEYS + DROID_STAT_KEYS)),
]


class MetricsLogger:
    def __init__(self, run_dir: Path, cfg: LoggingConfig, *, enabled: bool, total_steps: int,
                 start_step: int) -> None:
        self.cfg = cfg
        self.enabled = enabled
        self.csv_path = run_dir / "metrics.csv"
        self._bar = None
        self._tb = None
        if not enabled:
            return
        if cfg.csv:
            self._prepare_csv(start_step)
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # heavy (imports tensorboard): only when on

            self._tb = SummaryWriter(str(run_dir / "tb"), purge_step=start_step or None)
        if cfg.progress_bar:
            self._bar = tqdm(total=total_steps, initial=start_step, unit="step", file=sys.stderr,
                             dynamic_ncols=True)

    def _prepare_csv(self, start_step: int) -> None:
        rows: list[dict[str, str]] = []
        if self.csv_path.is_file():
            with open(self.csv_path, newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if r.get("step") and int(r["step"]) <= start_step]
        with open(self.csv_path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    def advance(self, steps: int = 1, **postfix: float) -> None:
        if self._bar is not None:
            self._bar.update(steps)
            if postfix:
                self._bar.set_postfix({k: _short(v) for k, v in postfix.items()}, refresh=False)

    def log(self, step: int, split: str, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if self.cfg.csv:
            row = {"step": step, "split": split, **values}
            with open(self.csv_path, "a", newline="") as handle:
                csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore").writerow(row)
        if self._tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self._tb.add_scalar(f"{split}/{key}", value, step)

    def write(self, message: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.close()


def _short(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
