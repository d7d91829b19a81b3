"""Device-side measuring tools for `benchmarks/gpu.py`: the device's bf16 peak, timing with
CUDA events (wall clock on CPU), peak CUDA memory, FLOP counting, the bounded largest-batch
search, and the result rows with their markdown table. Pure where it can be, so that
tests/benchmarks/test_gpu_benchmark.py checks it without a GPU.
"""

from __future__ import annotations

import gc
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from craft_jepa.models import ACPredictor, PredictorConfig

# Dense (no sparsity) bf16 tensor-core peaks from the vendors' datasheets, TFLOP/s. The first
# entry whose key occurs in torch.cuda.get_device_name() wins: specific names come first
# ("H100 PCIe" before "H100", "L40S" before "L40" before "L4").
BF16_PEAK_TFLOPS: tuple[tuple[str, str, float], ...] = (
    # (substring of the device name, what it is taken for, TFLOP/s)
    ("H100 PCIe", "H100 PCIe", 756.0),
    ("H100 NVL", "H100 NVL", 835.0),
    ("H100", "H100 SXM", 989.4),
    ("H200 NVL", "H200 NVL", 835.0),
    ("H200", "H200 SXM", 989.4),
    ("B200", "B200", 2250.0),
    ("A100", "A100", 312.0),
    ("L40S", "L40S", 362.1),
    ("L40", "L40", 181.0),
    ("L4", "L4", 121.0),
    ("A10G", "A10G", 70.0),
    ("RTX A6000", "RTX A6000", 154.8),
    ("RTX 4090", "RTX 4090", 165.2),
)


def bf16_peak(device_name: str) -> tuple[float | None, str]:
    """(peak TFLOP/s or None, a sentence saying where it came from) for a device name."""
    for key, taken_for, tflops in BF16_PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return tflops, f"{device_name!r} taken for {taken_for}: dense bf16 peak {tflops:g} TFLOP/s (datasheet)"
    return None, f"{device_name!r} is not in the bf16 peak table (benchmarks/gpu_tools.py): MFU n/a"


def pick_device(requested: str | None) -> torch.device:
    """--device, or cuda when one is present, else cpu. A CUDA device that is not there is an error."""
    if requested is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {requested}: no CUDA device is visible to torch {torch.__version__} "
                         "(torch.cuda.is_available() is False); run without --device for the CPU fallback")
    return device


def describe_device(device: torch.device, requested: str | None,
                    peak_tflops: float | None) -> tuple[str, float | None, str]:
    """(device name, bf16 peak TFLOP/s or None, where the peak came from); says so when the CPU
    stands in because no CUDA device was found (`requested` None)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak, peak_note = bf16_peak(name)
    else:
        name = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        peak, peak_note = None, "CPU: no bf16 peak, MFU n/a"
        if requested is None:
            print("No CUDA device found (torch.cuda.is_available() is False): running the CPU fallback with tiny "
                  "shapes (configs/tiny-cpu.yaml, configs/pretrain-tiny-cpu.yaml). These numbers say nothing "
                  "about a GPU; run on a GPU machine for the real sizes.", flush=True)
    if peak_tflops:
        peak, peak_note = peak_tflops, f"bf16 peak {peak_tflops:g} TFLOP/s given with --peak-tflops"
    return name, peak, peak_note


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], Any], device: torch.device, warmup: int, repeats: int) -> list[float]:
    """Seconds of each of `repeats` calls after `warmup` untimed ones: CUDA events on a GPU
    (queued work is fenced by synchronize), perf_counter on the CPU."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    seconds = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            torch.cuda.synchronize(device)
            seconds.append(start.elapsed_time(stop) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - t0)
    return seconds


def median(values: list[float]) -> float:
    return statistics.median(values)


def reset_peak(device: torch.device) -> None:
    free_memory(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    """torch.cuda.max_memory_allocated since the last reset_peak, in GiB; None on the CPU."""
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def free_memory(device: torch.device) -> None:
    """Give cached CUDA blocks back (after collecting cycles that hold tensors); nothing on the CPU."""
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()


def count_flops(fn: Callable[[], Any], device: torch.device) -> int:
    """FLOPs of one call as torch.utils.flop_counter counts them (matmuls, convolutions and
    attention, dense even where masked; a multiply-add is 2). The fused CPU attention kernel is
    not counted, so attention runs on the math backend there (plain matmuls, the same count); on
    a GPU the counted call keeps to the flash and memory-efficient kernels, which every
    torch >= 2.5 counts (cuDNN attention only in later versions)."""
    backends = [SDPBackend.MATH] if device.type == "cpu" else [
        SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    with sdpa_kernel(backends), FlopCounterMode(display=False) as counter:
        fn()
    synchronize(device)
    return counter.get_total_flops()


@dataclass
class BatchSearch:
    largest: int | None  # largest batch that fitted (None: not even `start`)
    first_failing: int | None  # smallest batch seen to fail (None: none failed)
    cap: int
    probes: list[tuple[int, bool]]  # (batch, fitted) in the order tried

    @property
    def exact(self) -> bool:
        """The search closed the gap: `largest` + 1 failed, or `largest` is the cap."""
        if self.largest is None:
            return True
        return self.largest == self.cap if self.first_failing is None else self.first_failing == self.largest + 1

    def describe(self) -> str:
        if self.largest is None:
            return f"even {self.first_failing} fails"
        if self.first_failing is None:
            return f"cap {self.cap} reached" if self.exact else f"{self.largest} fits, nothing failed yet"
        return f"{self.first_failing} fails"


def largest_batch(fits: Callable[[int], bool], start: int, cap: int, max_probes: int) -> BatchSearch:
    """The largest batch in [start, cap] for which fits(batch) holds, assuming fitting is
    monotone: doubling from `start` until a failure (or the cap), then bisection between the last
    fit and the first failure. At most `max_probes` calls; when they run out the answer is a
    fitting lower bound and `first_failing` an upper bound."""
    if not 1 <= start <= cap or max_probes < 1:
        raise ValueError(f"need 1 <= start ({start}) <= cap ({cap}) and max_probes >= 1 ({max_probes})")
    probes: list[tuple[int, bool]] = []

    def probe(batch: int) -> bool:
        fitted = bool(fits(batch))
        probes.append((batch, fitted))
        return fitted

    if not probe(start):
        return BatchSearch(None, start, cap, probes)
    low, high = start, None  # low fits; high (when known) fails
    while high is None and low < cap and len(probes) < max_probes:
        batch = min(2 * low, cap)
        if probe(batch):
            low = batch
        else:
            high = batch
    while high is not None and high - low > 1 and len(probes) < max_probes:
        batch = (low + high) // 2
        if probe(batch):
            low = batch
        else:
            high = batch
    return BatchSearch(low, high, cap, probes)


def is_out_of_memory(err: BaseException) -> bool:
    """torch's out-of-memory error, or cuBLAS failing to allocate its workspace (a RuntimeError)."""
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and ("out of memory" in str(err) or "CUBLAS_STATUS_ALLOC_FAILED" in str(err)))


def predictor_on(config: PredictorConfig, device: torch.device) -> ACPredictor:
    """An ACPredictor built on `device`: without an init_seed (the presets have none) its random
    init then runs there, not on the host (300M parameters)."""
    with device:
        return ACPredictor(config)


@dataclass
class Row:
    """One line of the table (and one entry of the JSON `rows`)."""

    task: str  # ac_step | ac_step_features | pretrain_step | encoder | plan | max_batch
    shape: str  # the preset: vitl, vitg, tiny
    variant: str
    batch: int | None
    seconds: float | None  # median seconds per call (a step, a whole plan, an encoder forward)
    peak_gib: float | None  # torch.cuda.max_memory_allocated of the call; None on the CPU
    tflop: float | None  # model FLOPs per call (without activation-checkpointing recompute)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    tflops: float | None = None  # achieved: tflop / seconds
    mfu: float | None = None  # tflops / the device's bf16 peak

    def rate(self, peak_tflops: float | None) -> Row:
        if self.tflop is not None and self.seconds:
            self.tflops = self.tflop / self.seconds
            self.mfu = self.tflops / peak_tflops if peak_tflops else None
        return self


COLUMNS = ("task", "shape", "variant", "batch", "seconds", "peak GiB", "TFLOP", "TFLOP/s", "MFU", "note")


def cell(value: Any, kind: str = "") -> str:
    """How a value is printed: 4 significant digits; MFU in percent; '-' for none."""
    if value is None:
        return "-"
    if kind == "mfu":
        return f"{100 * value:.1f}%"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def row_cells(row: Row) -> list[str]:
    return [row.task, row.shape, row.variant, cell(row.batch), cell(row.seconds), cell(row.peak_gib),
            cell(row.tflop), cell(row.tflops), cell(row.mfu, "mfu"), row.note]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row_cells(r)) + " |" for r in rows]
    return "\n".join(lines)
