"""CPU seconds per process and per benchmark step, and how much of a step was CPU-bound.

``Meter`` times a step and records the user + system CPU seconds each watched process
(and its children) used during it, the summed CPU divided by the cores (the least wall
time that much work can take on this machine), how busy the machine's cores were
(ours and everyone else's, from /proc/stat), and, from a sampler process that reads
the threads' states every 10 ms, how often the watched processes had at least as many
threads ready to run as there are cores (the cores were the limit) or none (waiting on
something other than a core: latency, a lock, a serial step).

Linux only (/proc). Run ``python benchmarks/_cpu_meter.py sample OUT PID...`` to sample
by hand; ``Meter`` starts and stops the sampler itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

CORES = os.cpu_count() or 1
_PERIOD = 0.01


def _now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def _machine() -> tuple[float, float]:
    """(busy, total) jiffies of all cores; steal counts as busy (not ours to use)."""
    fields = [float(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return total - idle, total


@dataclass
class Step:
    wall: float
    cpu: dict[str, float]
    machine_busy: float  # share of all cores busy with anything during the step
    start: float
    end: float
    ready: list[int] = field(default_factory=list)  # sampled runnable-thread counts

    @property
    def total(self) -> float:
        return sum(self.cpu.values())

    @property
    def bound(self) -> float:
        """The least wall time the step's CPU seconds allow on this machine's cores."""
        return self.total / CORES

    @property
    def floor(self) -> float:
        """The bound, or the busiest process's CPU seconds when larger: a process here
        runs mostly on one core at a time (Python's GIL, Node's event loop; hashing
        outside them can overlap), so this is an estimate, not a guarantee."""
        return max(self.bound, *self.cpu.values())


class Meter:
    """Measure steps: wall, CPU seconds per process, the CPU bound and the sampled
    runnable threads of the watched processes.

    Parameters
    ----------
    pids : dict of str to int
        Name -> process id to watch (children included); the calling process is always
        watched as ``client``.
    sample_to : Path
        Where the sampler writes its samples (read back by :meth:`close`).
    """

    def __init__(self, pids: dict[str, int], sample_to: Path) -> None:
        self.procs = {"client": psutil.Process(), **{n: psutil.Process(p) for n, p in pids.items()}}
        self.steps: dict[str, Step] = {}
        self._samples = sample_to
        self._sampler = subprocess.Popen(
            [sys.executable, __file__, "sample", str(sample_to)]
            + [str(p.pid) for p in self.procs.values()]
        )

    def __enter__(self) -> Meter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the sampler and attach its samples to the steps (once)."""
        if self._sampler.poll() is not None:
            return
        self._sampler.send_signal(signal.SIGTERM)
        self._sampler.wait(30)
        samples = []
        for text in self._samples.read_text().splitlines():
            when, ready = text.split()
            samples.append((float(when), int(ready)))
        for step in self.steps.values():
            step.ready = [n for t, n in samples if step.start <= t <= step.end]

    def cpu(self) -> dict[str, float]:
        out = {}
        for name, proc in self.procs.items():
            family = [proc] if name == "client" else [proc, *proc.children(recursive=True)]
            out[name] = sum(sum(p.cpu_times()[:2]) for p in family)
        return out

    def run(self, step: str, work: Callable[[], object]) -> tuple[float, object]:
        before, busy_before = self.cpu(), _machine()
        start = _now()
        result = work()
        end = _now()
        after, busy_after = self.cpu(), _machine()
        busy = (busy_after[0] - busy_before[0]) / max(busy_after[1] - busy_before[1], 1e-9)
        self.steps[step] = Step(
            end - start, {n: after[n] - before[n] for n in after}, busy, start, end
        )
        return end - start, result

    def report(self) -> None:
        names = list(self.procs)
        print(
            f"{'step':<18}{'wall s':>7}"
            + "".join(f"{n[:6] + ' cpu':>11}" for n in names)
            + f"{'sum':>6}{'bound':>7}{'wall/bd':>8}{'machine':>8}{'>=cores':>8}{'none':>6}"
        )
        for name, s in self.steps.items():
            full = sum(n >= CORES for n in s.ready) / max(len(s.ready), 1)
            none = sum(n == 0 for n in s.ready) / max(len(s.ready), 1)
            print(
                f"{name:<18}{s.wall:7.2f}"
                + "".join(f"{s.cpu[n]:11.2f}" for n in names)
                + f"{s.total:6.2f}{s.bound:7.2f}{s.wall / s.bound:7.2f}x"
                + f"{s.machine_busy:8.0%}{full:8.0%}{none:6.0%}"
            )
        print(
            f"  bound = summed CPU s / {CORES} cores; machine = share of all cores busy "
            "(anyone's); >=cores / none = share of 10 ms samples with at least "
            f"{CORES} / no threads of these processes ready to run"
        )


def _runnable(pids: list[int]) -> int:
    """Threads of ``pids`` running or waiting for a core."""
    count = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            except OSError:
                continue
            count += stat.rsplit(")", 1)[1].split()[0] == "R"
    return count


def _sample(out: Path, pids: list[int]) -> None:
    stop = []
    family = [c.pid for p in pids for c in psutil.Process(p).children(recursive=True)]
    pids = [*pids, *family]  # the emulators start no processes later
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    lines = []
    while not stop:
        lines.append(f"{_now():.4f} {_runnable(pids)}")
        time.sleep(_PERIOD)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__" and sys.argv[1:2] == ["sample"]:
    _sample(Path(sys.argv[2]), [int(p) for p in sys.argv[3:]])
