"""The bench's description of its machine and reading of what else used the cores
(`bench.machine`, ``/proc/stat``)."""

from __future__ import annotations

import sys

import pytest
from twi_endpoint.segmentation import usable_cpu_count

from bench import machine


def test_steal_is_a_share_of_the_usable_cores() -> None:
    cores = usable_cpu_count()
    # 2 CPU seconds taken over 1 s of wall time: all of two cores, half of four
    assert machine.steal_share(10.0, 12.0, 1.0) == round(2.0 / cores, 3)
    assert machine.steal_share(10.0, 10.0, 5.0) == 0.0
    # no reading (not Linux), or no time passed: no figure rather than a wrong one
    assert machine.steal_share(None, 12.0, 1.0) is None and machine.steal_share(10.0, 12.0, 0.0) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux's")
def test_the_counters_are_read_from_this_machine() -> None:
    steal0, busy0 = machine.steal_s(), machine.busy_s()
    sum(i * i for i in range(200_000))  # some work of our own
    steal1, busy1 = machine.steal_s(), machine.busy_s()
    assert steal0 is not None and steal1 is not None and 0.0 <= steal0 <= steal1
    assert busy0 is not None and busy1 is not None and 0.0 < busy0 <= busy1
    assert steal1 <= busy1  # steal counts as busy: the cores were not idle, just not ours


def test_the_description_names_what_decides_the_speed() -> None:
    described = machine.description()
    assert described["cpu_cores"] == usable_cpu_count() and described["processor"]
    assert described["cpu_bfloat16"] in ("amx", "avx512_bf16", None)  # which encoder the engine runs
    assert {"ctranslate2", "torch", "transformers", "onnxruntime"} <= set(described["versions"])
    assert described["versions"]["ctranslate2"]  # installed here, so a version, not None
