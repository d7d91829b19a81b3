"""Preemption: a stop signal becomes 'checkpoint at the next step boundary, then exit to be requeued'.

SLURM sends SIGUSR1 ahead of the time limit when asked (`#SBATCH --signal=USR1@300`, see
scripts/slurm/train.sbatch) and SIGTERM when it preempts or cancels a job. The handler only
records the signal; the training loop asks `requested()` after each optimizer step, the ranks
agree (`distributed.any_rank`: any signalled rank stops them all, at the same step), rank 0
writes latest.pt and the marker file, and the process exits with REQUEUE_EXIT_CODE.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
REQUEUE_EXIT_CODE = 75  # EX_TEMPFAIL: "try again later"; `craft-jepa train` exits with it
# The batch script sets this to a path on a shared filesystem; rank 0 writes it after the
# preemption checkpoint, and the script requeues the job when it exists (torchrun reports a
# worker's own exit code only as "failed", so an exit code alone cannot carry the request).
REQUEUE_FILE_ENV = "CRAFT_JEPA_REQUEUE_FILE"


class StopSignals:
    """Context manager: while active, SIGTERM / SIGUSR1 set a flag instead of killing the process."""

    def __init__(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> None:
        self.signals = signals
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum  # only a flag: the loop checkpoints at the next step boundary

    def requested(self) -> bool:
        return self.received is not None

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            log.warning("train() runs outside the main thread: stop signals are not handled")
            return self
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()


def write_requeue_marker(step: int, signum: int | None) -> Path | None:
    """Rank 0, after the preemption checkpoint: tell the batch script to requeue the job."""
    target = os.environ.get(REQUEUE_FILE_ENV)
    if not target:
        return None
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    name = signal.Signals(signum).name if signum is not None else "a stop signal"
    path.write_text(f"stopped by {name} after step {step}; latest.pt holds that step\n")
    return path
