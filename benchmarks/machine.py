"""The machine a benchmark ran on, saved with every result: int8 speed and even correctness
depend on the CPU's instruction sets (AVX2 alone vs AVX-512 VNNI, issue #12), and a shared
machine's load skews timings, so both go into the JSON."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

#: CPU flags that decide which int8 kernels onnxruntime runs.
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni")


def cpu_info(cpuinfo: str | None = None) -> dict:
    """CPU model name and the `CPU_FLAGS` it has, from /proc/cpuinfo (or the given text).

    Returns `{"model": str | None, "flags": {flag: bool}}`; off Linux the model comes from
    `platform.processor()` and the flags are None (unknown).
    """
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    model, flags = None, None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key == "flags" and flags is None:
            flags = set(value.split())
    return {
        "model": model or platform.processor() or None,
        "flags": {f: f in flags for f in CPU_FLAGS} if flags is not None else None,
    }


def machine_info() -> dict:
    """Python, platform, core count, CPU model and flags, and the load when the run began."""
    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu": cpu_info(),
    }
    if hasattr(os, "getloadavg"):
        info["load_average_1m"] = round(os.getloadavg()[0], 2)
    return info
