"""scripts/slurm/train.sbatch, run with stand-ins for srun / scontrol / torchrun on PATH.

It must give the per-node launcher all CPUs (srun -c / SRUN_CPUS_PER_TASK, which srun no longer
inherits from --cpus-per-task since Slurm 22.05), size OMP threads per rank, keep torchrun
itself deaf to SIGUSR1, and requeue the job when a rank left the preemption marker.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from craft_jepa.train.preempt import REQUEUE_FILE_ENV

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slurm" / "train.sbatch"

SRUN = """#!/bin/bash
# Record what srun was given, then run the command after srun's own options.
python3 - "$@" <<'PY'
import json, os, sys
json.dump({"argv": sys.argv[1:], "SRUN_CPUS_PER_TASK": os.environ.get("SRUN_CPUS_PER_TASK"),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}, open(os.environ["FAKE_LOG"] + ".srun", "w"))
PY
while [[ "$1" == -* ]]; do [[ "$1" == "-c" ]] && shift; shift; done
"$@"
"""
TORCHRUN = f"""#!{sys.executable}
import json, os, signal, sys
ignored = signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN
json.dump({{"argv": sys.argv[1:], "usr1_ignored": ignored}}, open(os.environ["FAKE_LOG"] + ".torchrun", "w"))
if os.environ.get("FAKE_PREEMPT"):
    open(os.environ["{REQUEUE_FILE_ENV}"], "w").write("stopped by SIGUSR1 after step 7")
    sys.exit(1)  # torchrun's exit code when a rank exits 75
"""
SCONTROL = """#!/bin/bash
if [[ "$1" == show ]]; then echo node-a; else echo "$@" >> "$FAKE_LOG.scontrol"; fi
"""


def _tool(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def run_script(tmp_path: Path, preempt: bool) -> tuple[int, dict, dict, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("srun", SRUN), ("torchrun", TORCHRUN), ("scontrol", SCONTROL)):
        _tool(bin_dir, name, text)
    log = tmp_path / "log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMP_", "SRUN_", "CRAFT_JEPA"))}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", FAKE_LOG=str(log), SLURM_CPUS_PER_TASK="96", SLURM_JOB_ID="42",
               SLURM_JOB_NODELIST="node-a", SLURM_JOB_NUM_NODES="1", SLURM_SUBMIT_DIR=str(tmp_path),
               PRETRAIN_CHECKPOINT="/ckpt/vitl.pt", VPT_DATA_PATH="/data/shards")
    if preempt:
        env["FAKE_PREEMPT"] = "1"
    done = subprocess.run(["bash", str(SCRIPT), "cfg.yaml", "--set", "optim.lr=1e-4"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    srun = json.loads(Path(f"{log}.srun").read_text())
    torchrun = json.loads(Path(f"{log}.torchrun").read_text())
    requeued = Path(f"{log}.scontrol").read_text() if Path(f"{log}.scontrol").exists() else ""
    return done.returncode, srun, torchrun, requeued


def test_header_asks_for_a_warning_signal_and_requeue():
    header = [line for line in SCRIPT.read_text().splitlines() if line.startswith("#SBATCH")]
    assert any(line.split()[1].startswith("--signal=USR1@") for line in header)
    assert any(line.split()[1] == "--requeue" for line in header)


def test_launcher_gets_the_cpus_and_torchrun_ignores_usr1(tmp_path):
    rc, srun, torchrun, requeued = run_script(tmp_path, preempt=False)
    assert rc == 0 and requeued == ""
    assert srun["SRUN_CPUS_PER_TASK"] == "96" and srun["argv"][srun["argv"].index("-c") + 1] == "96"
    assert srun["OMP_NUM_THREADS"] == "4"  # 96 CPUs / 8 ranks = 12, minus 8 loader workers
    assert torchrun["usr1_ignored"]
    assert torchrun["argv"][-6:] == ["-m", "craft_jepa", "train", "cfg.yaml", "--set", "optim.lr=1e-4"]


def test_a_preempted_run_is_requeued(tmp_path):
    rc, _, _, requeued = run_script(tmp_path, preempt=True)
    assert rc == 0 and requeued.split() == ["requeue", "42"]
    assert not (tmp_path / ".craft-jepa-requeue-42").exists()  # consumed, so the next start is clean
