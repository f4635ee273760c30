"""MemoryManager: the policy's notes logged once, the budget, and make_room freeing RAM-cached
entries before other freeable ones, never what is not freeable."""

import logging

import pytest
import torch

from modules.config.flags import parse_flags
from modules.memory.ledger import RAM_CACHE, module_bytes
from modules.memory.manager import GIB, MemoryManager

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="the no-GPU messages are for machines without CUDA")


@NO_GPU
def test_an_offload_flag_without_a_gpu_is_explained_once(caplog):
    memory = MemoryManager(parse_flags(["--medvram", "--lowram"]))
    with caplog.at_level(logging.INFO, logger="modules.memory.manager"):
        for _ in range(3):
            memory.policy()
            memory.execution_device("unet")
            memory.describe()
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "--medvram: no effect on this machine: there is no GPU; the weights are already in RAM, so there is no "
        "device memory to save",
        "--lowram: no effect on this machine: there is no GPU; weights are read into RAM anyway",
        "memory: normal (medvram requested; no GPU) on cpu",
    ]
    assert memory.describe()["mode"] == "normal (medvram requested; no GPU)"
    assert memory.describe()["dtypes"]["unet"] == "float32"


@NO_GPU
def test_the_budget_is_the_flag_or_this_machines_ram():
    assert MemoryManager(parse_flags(["--memory-budget", "1.5"])).budget_bytes() == int(1.5 * GIB)
    with open("/proc/meminfo") as meminfo:
        total_kib = int(meminfo.readline().split()[1])  # MemTotal: the kernel's figure, a little under physical
    physical = MemoryManager(parse_flags([])).budget_bytes()
    assert total_kib * 1024 <= physical <= total_kib * 1024 * 1.1


def blocks(count: int) -> torch.nn.Module:
    return torch.nn.Linear(count, 1024, bias=False)  # count * 4 KiB


def test_make_room_frees_ram_cached_entries_first_and_never_the_unfreeable():
    memory = MemoryManager(parse_flags(["--memory-budget", str(1 / 1024)]))  # 1 MiB
    freed: list[str] = []
    kept = {"current": blocks(64), "cached": blocks(128), "beside": blocks(32)}  # 256, 512, 128 KiB
    memory.register("current", "current", "checkpoint", {"unet": kept["current"]})
    memory.register("beside", "beside", "checkpoint", {"unet": kept["beside"]}, free=lambda: freed.append("beside"))
    memory.register("cached", "cached", "checkpoint", {"unet": kept["cached"]}, state=RAM_CACHE,
                    free=lambda: freed.append("cached"))  # fmt: skip
    assert memory.resident_bytes() == sum(module_bytes(module) for module in kept.values()) == 896 * 1024
    assert memory.make_room(64 * 1024) is True and freed == []  # 128 KiB free already
    assert memory.make_room(512 * 1024) is True and freed == ["cached"]
    assert memory.make_room(700 * 1024) is True and freed == ["cached", "beside"]
    assert memory.make_room(900 * 1024) is False  # the current checkpoint stays
    assert [row["owner"] for row in memory.ledger()] == ["current"]


def test_placing_a_part_casts_plain_floats_and_leaves_fp8_storage_alone():
    from modules.memory.manager import _placed

    plain = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    assert {p.dtype for p in _placed(plain, torch.device("cpu"), torch.float16).parameters()} == {torch.float16}
    stored = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    stored[0].weight.data = stored[0].weight.data.to(torch.float8_e4m3fn)
    kept = _placed(stored, torch.device("cpu"), torch.float16)
    assert kept[0].weight.dtype == torch.float8_e4m3fn and kept[1].weight.dtype == torch.float32
