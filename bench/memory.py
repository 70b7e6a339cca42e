"""Peak memory of the processes a scenario runs, read from /proc.

VmHWM ("high water mark") is the most memory a process ever held resident,
kept by the kernel, so nothing has to sample it while the work runs. A
scenario that seeds its data in the same process first resets it
(``peak_reset``), so the figure is the measured work's, not the seeding's.
Off Linux every figure is ``None``: the scenarios still run.
"""

import contextlib
import os
from pathlib import Path

PROC = Path("/proc")


def peak_rss_mb(pid: int | None = None) -> float | None:
    """The peak resident memory of ``pid`` (this process by default), in MB;
    None when it cannot be read (the process is gone, or no /proc)."""
    try:
        status = (PROC / str(pid or os.getpid()) / "status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def peak_reset() -> None:
    """Start this process's peak again from its current size (Linux ≥ 4.0:
    writing 5 to clear_refs resets VmHWM); does nothing where it cannot."""
    with contextlib.suppress(OSError):
        (PROC / "self" / "clear_refs").write_text("5")


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers, say), in pid
    order. /proc/<pid>/task/<pid>/children is not built into every kernel,
    so this reads each process's parent instead."""
    found = []
    for entry in PROC.iterdir() if PROC.exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended while we looked
            continue
        # After "(command)": state, then the parent's pid.
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)
