"""A description of the machine the benchmark ran on (results mean little without it)."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> dict[str, Any]:
    """CPU, cores, RAM, load, Python and library versions, and OpenBLAS tuning variables."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "dlib": _version("dlib-bin") if _version("dlib") == "not installed" else _version("dlib"),
        "pillow": _version("pillow"),
        "face_recognition": _version("face-recognition"),
        "huey": _version("huey"),
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")},
    }


def header_lines(info: dict[str, Any]) -> list[str]:
    blas = ", ".join(f"{k}={v}" for k, v in info["openblas_env"].items()) or "none"
    return [
        f"CPU: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM; "
        f"load average at start {info['load_average_at_start']} (the machine is shared)",
        f"Python {info['python']}, numpy {info['numpy']}, dlib {info['dlib']}, "
        f"Pillow {info['pillow']}, face_recognition {info['face_recognition']}, huey {info['huey']}; "
        f"OPENBLAS_* variables: {blas}",
    ]
