"""benchmarks/gpu.py: the CPU fallback run end to end (so the GPU command cannot rot between the
rare lent GPUs), and its measuring tools as pure functions: the bounded batch search under an
injected memory limit, FLOP counting against analytic formulas, the bf16 peak lookup.

Nothing here asserts on a timing's size: only that times exist and are positive, and on FLOP
counts, which are deterministic.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from craft_jepa.planning.cem import CEMConfig

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.append(str(BENCHMARKS))  # after site-packages: its scripts (models.py, loader.py) shadow nothing

import gpu
from gpu_tools import (
    bf16_peak,
    count_flops,
    describe_device,
    largest_batch,
    pick_device,
    time_calls,
)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """One quick CPU run: (stdout, the JSON report). One torch thread: steadier on a shared machine."""
    out = tmp_path_factory.mktemp("gpu_bench") / "results.json"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "gpu.py"), "--quick", "--device", "cpu", "--threads", "1",
                           "--out", str(out)], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text())


def table_rows(stdout: str) -> list[list[str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| task | shape | variant | batch | seconds |"), lines[0]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[1:]]


def rows_of(report: dict, task: str) -> list[dict]:
    return [r for r in report["rows"] if r["task"] == task]


def test_printed_table_is_the_json(cpu_run):
    stdout, report = cpu_run
    printed = table_rows(stdout)
    assert len(printed) == len(report["rows"])
    for cells, row in zip(printed, report["rows"]):
        assert cells[:3] == [row["task"], row["shape"], row["variant"]]
        assert cells[3] == ("-" if row["batch"] is None else str(row["batch"]))
        for text, value in zip((cells[4], cells[6], cells[7]), (row["seconds"], row["tflop"], row["tflops"])):
            if value is None:
                assert text == "-"
            else:
                assert float(text) == pytest.approx(value, rel=1e-3)
        assert cells[5] == "-" and row["peak_gib"] is None  # no CUDA memory on the CPU
        assert cells[8] == "-" and row["mfu"] is None  # no bf16 peak for a CPU: MFU n/a
        assert cells[9] == row["note"]
    assert report["peak_bf16_tflops"] is None and "n/a" in report["peak_note"]
    assert report["device"] == "cpu" and report["size"] == "tiny" and report["quick"] is True


def test_every_measurement_is_there_and_positive(cpu_run):
    _, report = cpu_run
    tasks = {(r["task"], r["variant"]) for r in report["rows"]}
    for task, variant in [("ac_step", "ckpt"), ("ac_step", "no ckpt"), ("ac_step_features", "ckpt"),
                          ("ac_step_features", "no ckpt"), ("plan", "h=1 kv cache"), ("plan", "h=1 recompute"),
                          ("plan", "h=2 kv cache"), ("plan", "h=2 recompute")]:
        assert (task, variant) in tasks
    for task in ("encoder", "pretrain_step", "max_batch"):
        assert rows_of(report, task), task
    for row in report["rows"]:
        if row["task"] == "max_batch":
            continue
        assert row["seconds"] is not None and math.isfinite(row["seconds"]) and row["seconds"] > 0, row
        assert row["tflop"] > 0 and row["tflops"] == pytest.approx(row["tflop"] / row["seconds"])
    (encoder,) = rows_of(report, "encoder")
    clips = encoder["extra"]["frames_per_forward"] / 4  # tiny-cpu.yaml: 4-frame clips
    assert encoder["extra"]["clips_per_s"] == pytest.approx(clips / encoder["seconds"])


def test_step_flops_add_up_and_checkpointing_recomputes(cpu_run):
    _, report = cpu_run
    full = {r["variant"]: r for r in rows_of(report, "ac_step")}
    features = {r["variant"]: r for r in rows_of(report, "ac_step_features")}
    for variant in ("ckpt", "no ckpt"):
        # A step from pixels = the encoder's forward + the step from cached tokens, FLOP for FLOP.
        encoder = full[variant]["extra"]["encoder_tflop"]
        assert full[variant]["tflop"] == pytest.approx(encoder + features[variant]["tflop"], rel=1e-9)
        assert full[variant]["extra"]["executed_tflop"] == pytest.approx(
            encoder + features[variant]["extra"]["executed_tflop"], rel=1e-9)
        shares = full[variant]["extra"]
        assert shares["encoder_time_share"] + shares["predictor_time_share"] == pytest.approx(1.0)
        assert 0 < shares["encoder_flop_share"] < 1
    for rows in (full, features):
        # Model FLOPs are the same; checkpointing executes the predictor's forward again in backward.
        assert rows["ckpt"]["tflop"] == rows["no ckpt"]["tflop"] == rows["no ckpt"]["extra"]["executed_tflop"]
        assert rows["ckpt"]["extra"]["executed_tflop"] > 1.1 * rows["no ckpt"]["extra"]["executed_tflop"]


def test_planning_flops_kv_cache_against_recompute(cpu_run):
    _, report = cpu_run
    plan = {(r["extra"]["horizon"], r["extra"]["kv_cache"]): r for r in rows_of(report, "plan")}
    # Horizon 1: one predictor pass either way. Horizon 2: the cache runs 2 frame passes, the
    # recompute 1 + 2 (the first frame again).
    assert plan[1, True]["tflop"] == pytest.approx(plan[1, False]["tflop"], rel=1e-9)
    assert plan[2, True]["tflop"] < 0.8 * plan[2, False]["tflop"]
    assert plan[2, False]["tflop"] > 2.5 * plan[1, False]["tflop"]
    for row in plan.values():
        assert row["batch"] == row["extra"]["samples"]
        assert row["extra"]["seconds_per_action"] == pytest.approx(row["seconds"] / row["extra"]["horizon"])


def test_cpu_batch_search_stops_at_the_cap(cpu_run):
    _, report = cpu_run
    (row,) = rows_of(report, "max_batch")
    extra = row["extra"]
    assert row["batch"] == extra["largest"] == extra["cap"] == 16  # 2 x tiny-cpu.yaml's batch of 8
    assert extra["first_failing"] is None and [tuple(p) for p in extra["probes"]] == [(8, True), (16, True)]


def test_a_failing_section_is_a_row_and_the_others_still_run(capsys):
    settings = quick_settings()
    broken = gpu.Size({"nowhere": "no-such-preset.yaml"}, ("tiny", "pretrain-tiny-cpu.yaml"), CEMConfig())
    rows = gpu.run(settings, broken, skip=["pretrain"])  # ac and plan both need the missing preset
    assert [(r.task, r.shape, r.variant) for r in rows] == [("ac", "nowhere", "failed"), ("plan", "nowhere", "failed")]
    assert all("no-such-preset.yaml" in r.note for r in rows)
    assert "Traceback" in capsys.readouterr().err


def quick_settings(**changes) -> gpu.Settings:
    base = {"device": CPU, "quick": True, "precision": None, "warmup": 1, "repeats": 2, "horizons": (1,),
            "plan_repeats": 1, "max_probes": 10, "max_batch": None, "peak_tflops": None}
    return gpu.Settings(**(base | changes))


class MemoryLimitedRunner:
    """Stands in for a StepRunner on a GPU with room for at most `limit` clips: the batch
    search's out-of-memory handling is what is under test, not the step."""

    def __init__(self, limit: int) -> None:
        self.limit, self.tried = limit, []

    def train_step(self, batches, step):
        clips = batches[0]["frames"].shape[0]
        self.tried.append(clips)
        if clips > self.limit:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate for {clips} clips")


def test_batch_search_row_catches_out_of_memory():
    cfg = gpu.load_preset("tiny-cpu.yaml", quick_settings())
    for limit, cap, expected in [(20, 64, 20), (8, 64, 8), (100, 64, 64), (5, 64, None)]:
        runner = MemoryLimitedRunner(limit)
        row = gpu.batch_search_row("tiny", cfg, runner, quick_settings(max_batch=cap))
        assert row.batch == row.extra["largest"] == expected
        assert row.extra["exact"] and [b for b, _ in row.extra["probes"]] == runner.tried
        if expected is not None and expected < cap:
            assert row.extra["first_failing"] == expected + 1 and f"{expected + 1} fails" in row.note


def test_measure_reports_out_of_memory_and_still_counts_flops():
    layer = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)

    def too_big() -> None:
        raise torch.OutOfMemoryError("CUDA out of memory")

    measured = gpu.measure(too_big, quick_settings(), count=lambda: layer(x), count_times=5)
    assert measured.seconds is None and measured.flops == 5 * 2 * 2 * 4 * 3
    with pytest.raises(ValueError, match="not memory"):  # any other error is not swallowed
        gpu.measure(lambda: (_ for _ in ()).throw(ValueError("not memory")), quick_settings())


# ---------------------------------------------------------------------- pure functions


@pytest.mark.parametrize("start,cap", [(1, 1024), (8, 512), (8, 100), (3, 7)])
def test_batch_search_finds_the_largest_batch_under_a_memory_limit(start, cap):
    base_gib, per_clip_gib = 5.0, 0.75
    for limit in [4.0, 5.75, 6.0, 11.0, 11.01, 30.0, 80.0, 200.0, 1000.0]:
        calls: list[int] = []

        def fits(batch: int, calls: list[int] = calls, limit: float = limit) -> bool:
            calls.append(batch)
            return base_gib + per_clip_gib * batch <= limit

        truth = min(cap, math.floor((limit - base_gib) / per_clip_gib))
        search = largest_batch(fits, start, cap, max_probes=64)
        if truth < start:
            assert search.largest is None and search.first_failing == start and calls == [start]
            continue
        assert search.largest == truth and search.exact
        assert search.first_failing == (None if truth == cap else truth + 1)
        assert len(calls) <= 2 * math.ceil(math.log2(cap / start + 1)) + 2  # doubling + bisection
        assert calls[: 2] == [start, min(2 * start, cap)][: len(calls[:2])]


def test_batch_search_with_few_probes_returns_bounds():
    def fits(batch: int) -> bool:
        return batch <= 300

    search = largest_batch(fits, 8, 4096, max_probes=6)  # 8 16 32 64 128 256: the budget ends doubling
    assert len(search.probes) == 6 and search.largest == 256 and search.first_failing is None
    search = largest_batch(fits, 8, 4096, max_probes=8)  # ... 512 fails, then one bisection step (384)
    assert search.largest == 256 and search.first_failing == 384 and not search.exact
    assert all(fits(b) == ok for b, ok in search.probes)
    with pytest.raises(ValueError, match="start"):
        largest_batch(fits, 0, 10, 3)


def test_flop_count_of_a_linear_matches_the_formula():
    torch.manual_seed(0)
    batch, n_in, n_out = 5, 12, 7
    layer = torch.nn.Linear(n_in, n_out)
    x = torch.randn(batch, n_in)
    assert count_flops(lambda: layer(x), CPU) == 2 * batch * n_in * n_out
    # Backward adds the weight gradient (2 b i o) and, when the input needs one, its gradient too.
    assert count_flops(lambda: layer(x).sum().backward(), CPU) == 4 * batch * n_in * n_out
    x.requires_grad_(True)
    assert count_flops(lambda: layer(x).sum().backward(), CPU) == 6 * batch * n_in * n_out


def test_flop_count_includes_masked_attention_on_the_cpu():
    b, h, length, d = 2, 3, 10, 8
    q, k, v = (torch.randn(b, h, length, d) for _ in range(3))
    mask = torch.ones(length, length, dtype=torch.bool).tril()
    # QK^T and AV: 2 b h L L d each (the mask saves nothing in the count, as for the GPU kernels).
    assert count_flops(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), CPU) == 4 * b * h * length**2 * d


def test_bf16_peak_takes_the_most_specific_name():
    assert bf16_peak("NVIDIA H100 PCIe")[0] == 756.0
    assert bf16_peak("NVIDIA H100 80GB HBM3")[0] == bf16_peak("NVIDIA H200")[0] == 989.4
    assert bf16_peak("NVIDIA L40S")[0] == 362.1 and bf16_peak("NVIDIA L40")[0] == 181.0
    assert bf16_peak("NVIDIA L4")[0] == 121.0
    assert bf16_peak("NVIDIA A100-SXM4-80GB")[0] == 312.0
    peak, note = bf16_peak("Tesla V100-SXM2-16GB")
    assert peak is None and "MFU n/a" in note and "V100" in note


def test_cpu_stand_in_is_announced(capsys):
    name, peak, note = describe_device(CPU, None, None)  # no --device and no CUDA: the fallback
    assert name.startswith("CPU") and peak is None and "MFU n/a" in note
    assert "No CUDA device found" in capsys.readouterr().out
    describe_device(CPU, "cpu", None)  # asked for: nothing to announce
    assert capsys.readouterr().out == ""
    assert describe_device(CPU, "cpu", 100.0)[1:] == (100.0, "bf16 peak 100 TFLOP/s given with --peak-tflops")


def test_device_choice_and_cpu_timing():
    assert pick_device("cpu") == CPU
    assert pick_device(None) == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="no CUDA device"):
            pick_device("cuda")
    calls = []
    seconds = time_calls(lambda: calls.append(1), CPU, warmup=2, repeats=3)
    assert len(calls) == 5 and len(seconds) == 3 and all(s >= 0 for s in seconds)
