"""The machine a benchmark ran on: what it is (:func:`description`), and what else used its
cores meanwhile (``/proc/stat``; Linux only).

Timings on a shared virtual machine move with work the benchmark never sees: other
processes, and the hypervisor's *steal* (time a virtual CPU was ready to run while the host
ran something else: 13-33 % of this project's 2-core machine on 2026-12-03, when every
contender ran 25-50 % slower than the day before). The bench reports both beside its
figures, so a slow run can be told from a slow engine. Elsewhere (macOS, a container
without ``/proc``) they are None.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

from twi_endpoint.segmentation import usable_cpu_count

_STEAL = 7  # /proc/stat "cpu" columns: user nice system idle iowait irq softirq steal ...


def _cpu_ticks() -> list[int] | None:
    try:
        with open("/proc/stat", encoding="ascii") as f:
            return [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None


def busy_s() -> float | None:
    """CPU seconds the whole machine has been busy since boot, steal included: with a
    benchmark's own CPU time it shows how much *other* work shared the cores."""
    ticks = _cpu_ticks()
    if ticks is None:
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def steal_s() -> float | None:
    """CPU seconds the hypervisor has taken from this machine since boot."""
    ticks = _cpu_ticks()
    if ticks is None or len(ticks) <= _STEAL:
        return None
    return ticks[_STEAL] / os.sysconf("SC_CLK_TCK")


def steal_share(before: float | None, after: float | None, wall_s: float) -> float | None:
    """The share of the usable cores the hypervisor took between two :func:`steal_s`
    readings ``wall_s`` apart (0.2: a fifth of the time the cores were not ours)."""
    if before is None or after is None or wall_s <= 0:
        return None
    return round(max(0.0, after - before) / (wall_s * usable_cpu_count()), 3)


def description() -> dict[str, Any]:
    """Where the figures come from: the machine and the versions that decide the speed,
    with how the CPU computes bfloat16 (which decides the default engine's encoder:
    :func:`twi_endpoint.torch_encoder.bfloat16_units`)."""
    from twi_endpoint.torch_encoder import bfloat16_units, cpu_identity

    versions: dict[str, str | None] = {}
    for package in (
        "ctranslate2",
        "faster-whisper",
        "torch",
        "transformers",
        "onnxruntime",
        "numpy",
        "soundfile",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        units = bfloat16_units()
    except ImportError:  # no PyTorch
        units = None
    return {
        "platform": platform.platform(),
        "processor": cpu_identity()[0],
        "cpu_cores": usable_cpu_count(),
        "cpu_bfloat16": units,
        "python": platform.python_version(),
        "versions": versions,
    }
