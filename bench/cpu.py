"""CPU seconds per process group while a benchmark step runs, read from /proc (Linux only).

On a 2-core machine the lab's own agents share the cores with the tool under test, so a wall time
alone does not say whose work it was. ``CpuMeter`` samples every process's utime + stime a few
times a second and sums the growth per group: the audit process, its SSH and SNMP workers (named
by prctl), the lab's sshd and snmpsim processes, everything else. With ``lab`` given, only this
process's descendants and the processes of that lab folder count, so other work on the machine
(another lab, a profiler) stays out of the figures. A process that ends between two samples loses
at most one interval of its CPU.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _group(pid: int) -> str:
    proc = Path("/proc", str(pid))
    comm = (proc / "comm").read_text().strip()
    if comm.startswith(("govops-ssh", "govops-snmp")):
        return comm.rstrip("-0123456789")
    cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    for marker, name in (
        ("govops.lab.extranet.sshd", "lab sshd"),
        ("govops.lab.extranet.snmpagent", "lab snmpsim"),
        ("snmpbulkwalk", "snmpbulkwalk"),
        ("govops net audit", "govops audit"),
        ("-m govops", "govops audit"),
        ("forkserver", "forkserver"),
    ):
        if marker in cmd:
            return name
    return "other"


def _stat(pid: int) -> tuple[int, int]:
    """(parent PID, CPU ticks) of a process."""
    # fields after the parenthesised comm: ppid is the 2nd, utime and stime the 12th and 13th
    stat = Path("/proc", str(pid), "stat").read_text()
    rest = stat[stat.rindex(")") + 2 :].split()
    return int(rest[1]), int(rest[11]) + int(rest[12])


class CpuMeter:
    """``with CpuMeter() as m: ...``, then ``m.by_group`` (CPU seconds) and ``m.total``."""

    def __init__(self, interval: float = 0.5, lab: Path | None = None) -> None:
        self.interval = interval
        self.lab = str(lab.resolve()) + "/" if lab is not None else None
        self._parents: dict[int, int] = {}
        self._ours: dict[int, bool] = {}
        self._start: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self._groups: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.by_group: dict[str, float] = {}

    def _sample(self) -> dict[int, int]:
        seen: dict[int, int] = {}
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            pid = int(entry)
            if self._ours.get(pid) is False:
                continue  # not ours: read once, never again (the meter must not load the cores it measures)
            try:
                self._parents[pid], ticks = _stat(pid)
                if not self._counts(pid):
                    continue
                seen[pid] = ticks
                # a worker is forked from the fork server and names itself a moment later
                if self._groups.get(pid, "forkserver") == "forkserver":
                    self._groups[pid] = _group(pid)
            except (OSError, ValueError, IndexError):
                continue  # gone between listdir and read
        return seen

    def _counts(self, pid: int) -> bool:
        if self.lab is None:
            return True
        ours = self._ours.get(pid)
        if ours is None:
            up = pid
            for _ in range(64):  # walk up to this process, init, or a parent not read yet
                if up <= 1 or up == os.getpid() or up not in self._parents:
                    break
                up = self._parents[up]
            cmd = Path("/proc", str(pid), "cmdline").read_bytes().decode(errors="replace")
            ours = up == os.getpid() or self.lab in cmd.replace("\0", " ")
            if ours or up <= 1:  # else its parent was not read yet: decide at the next sample
                self._ours[pid] = ours
        return ours

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._last.update(self._sample())

    def __enter__(self) -> CpuMeter:
        self._start = self._sample()
        self._last = dict(self._start)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._last.update(self._sample())
        totals: Counter[str] = Counter()
        for pid, ticks in self._last.items():
            grown = ticks - self._start.get(pid, 0)
            if grown > 0:
                totals[self._groups.get(pid, "other")] += grown / _TICK
        self.by_group = dict(totals.most_common())

    @property
    def total(self) -> float:
        return sum(self.by_group.values())

    def line(self) -> str:
        parts = ", ".join(f"{name} {secs:.1f}" for name, secs in self.by_group.items())
        return f"CPU-s {self.total:.1f} ({parts})"
