"""benchmarks/machine.py: every saved benchmark names the CPU and its int8-relevant flags."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _machine():
    spec = importlib.util.spec_from_file_location("machine", ROOT / "benchmarks" / "machine.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CPUINFO = """processor\t: 0
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni
processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni
"""


def test_cpu_info_reads_model_and_int8_flags():
    info = _machine().cpu_info(CPUINFO)
    assert info == {
        "model": "AMD EPYC 7B13",
        "flags": {"avx2": True, "avx512f": True, "avx512_vnni": True, "avx_vnni": False},
    }
    haswell = CPUINFO.replace(" avx512f avx512bw avx512_vnni", "")
    assert _machine().cpu_info(haswell)["flags"] == {
        "avx2": True, "avx512f": False, "avx512_vnni": False, "avx_vnni": False,
    }  # fmt: skip


def test_machine_info_has_the_cpu():
    info = _machine().machine_info()
    assert info["cpus"] >= 1 and set(info["cpu"]) == {"model", "flags"}
