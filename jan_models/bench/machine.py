"""What the figures were measured on: cores, CPU model, load, resident memory (Linux /proc)."""

import os
import platform
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe() -> dict[str, Any]:
    one, five, fifteen = os.getloadavg()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "loadavg_at_start": f"{one:.2f} {five:.2f} {fifteen:.2f}",
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def rss_mib(pid: int) -> float | None:
    """Resident set size of a process in MiB, None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
