"""Where a portal worker spends its CPU: py-spy samples the gunicorn workers while
signed-in clients load the pages (no artificial CRM latency), then the samples are
summed per function (own time and time including callees).

Run: `uv run python -m bench profile [--seconds 20] [--clients 8] [--top 40]`. The raw
samples (py-spy's collapsed-stack format, one file per worker) stay in a temporary
directory, or in `--keep DIR`.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.load import _paths_for, run_level
from bench.stack import Stack


def _summarise(files: list[Path], top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for file in files:
        for line in file.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack:
                continue
            samples = int(count)
            frames = stack.split(";")
            total += samples
            own[frames[-1]] += samples
            for frame in set(frames):
                inclusive[frame] += samples
    if not total:
        print("py-spy recorded nothing")
        return
    print(f"\n{total} samples; own time (top {top}):")
    for frame, samples in own.most_common(top):
        print(f"{100 * samples / total:6.1f}%  {frame}")
    print(f"\nincluding callees (top {top}):")
    for frame, samples in inclusive.most_common(top):
        print(f"{100 * samples / total:6.1f}%  {frame}")


def _start_recorders(pids: list[int], out: Path, seconds: float) -> list:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.mkdir(parents=True, exist_ok=True)
    recorders = []
    for pid in pids:
        target = out / f"worker-{pid}.txt"
        command = [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "250",
            "--format",
            "raw",
            "--nonblocking",
            "--function",
            "--output",
            str(target),
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        recorders.append((target, process))
    return recorders


async def run_profile(stack: Stack, seconds: float, clients: int, top: int, keep: str) -> None:
    paths = await _paths_for(stack)
    out = Path(keep or tempfile.mkdtemp(prefix="portal-profile-"))
    recorders = _start_recorders(stack.portal.worker_pids(), out, seconds)
    level = await run_level(stack, clients, paths, seconds - 2)
    for _target, recorder in recorders:
        recorder.wait(timeout=seconds + 30)
    print(
        f"{clients} clients: {level['pages_per_second']:.1f} pages/s,"
        f" {level['portal_cpu_ms_per_page']:.1f} ms portal CPU per page; samples in {out}"
    )
    _summarise([target for target, _ in recorders if target.exists()], top)
