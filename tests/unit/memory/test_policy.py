"""The device policy's decisions from A1111's flags: offload mode per family, --use-cpu per part,
dtypes from the precision flags, and what is said where a flag has no effect. `decide` takes the
accelerator as an argument, so the GPU decisions are checked here too (no GPU is touched)."""

import pytest
import torch

from modules.config.flags import parse_flags
from modules.memory.device_policy import LOWVRAM, MEDVRAM, NORMAL, decide

CUDA = torch.device("cuda", 0)
CPU = torch.device("cpu")


def policy(*argv: str, accelerator=CUDA, cpu_bf16: bool = False):
    return decide(parse_flags(list(argv)), accelerator, cpu_bf16=cpu_bf16)


@pytest.mark.parametrize(
    ("argv", "sd1", "sdxl", "name"),
    [
        ((), NORMAL, NORMAL, "normal"),
        (("--medvram",), MEDVRAM, MEDVRAM, "medvram"),
        (("--lowvram",), LOWVRAM, LOWVRAM, "lowvram"),
        (("--medvram-sdxl",), NORMAL, MEDVRAM, "medvram-sdxl"),
        (("--medvram", "--lowvram"), LOWVRAM, LOWVRAM, "lowvram"),  # the stronger one wins, as in A1111
    ],
)
def test_offload_flags_give_the_mode_per_family_on_a_gpu(argv, sd1, sdxl, name):
    decided = policy(*argv)
    assert (decided.mode_for("sd1"), decided.mode_for("sdxl"), decided.mode_name) == (sd1, sdxl, name)
    assert decided.mode_for("sdxl_refiner") == sdxl and decided.mode_for("sdxl_inpaint") == sdxl
    assert decided.device == CUDA


def test_offloaded_parts_rest_in_ram_and_compute_on_the_gpu():
    decided = policy("--medvram-sdxl")
    assert decided.storage_device("unet", "sdxl") == CPU
    assert decided.storage_device("unet", "sd1") == CUDA
    assert decided.execution_device("unet") == CUDA


@pytest.mark.parametrize("flag", ["--medvram", "--lowvram", "--medvram-sdxl"])
def test_without_a_gpu_an_offload_flag_is_normal_and_says_why(flag):
    decided = policy(flag, accelerator=None)
    requested = flag.removeprefix("--")
    assert decided.mode_for("sdxl") == NORMAL
    assert decided.mode_name == f"normal ({requested} requested; no GPU)"
    assert decided.describe()["mode"] == decided.mode_name
    said = [note for note in decided.notes if note.startswith(flag + ":")]
    assert said == [f"{flag}: no effect on this machine: there is no GPU; the weights are already in RAM, "
                    "so there is no device memory to save"]  # fmt: skip


def test_use_cpu_sd_sends_the_checkpoint_parts_to_the_cpu_only():
    decided = policy("--use-cpu", "SD", "esrgan")
    for part in ("unet", "vae", "text_encoder", "text_encoder_2", "taesd"):
        assert decided.execution_device(part) == CPU, part
        assert decided.dtype_for(part) == torch.float32  # half types are slow on a CPU
    assert decided.execution_device("upscaler") == CPU and decided.execution_device("esrgan") == CPU
    assert decided.execution_device("gfpgan") == CUDA and decided.execution_device("interrogate") == CUDA
    assert decided.device == CUDA


def test_use_cpu_all_runs_everything_on_the_cpu_and_offload_does_nothing():
    decided = policy("--use-cpu", "all", "--lowvram")
    assert decided.device == CPU and decided.execution_device("gfpgan") == CPU
    assert decided.mode_name == "normal (lowvram requested; no GPU)"
    assert any("--use-cpu all runs everything on the CPU" in note for note in decided.notes)


def test_an_unknown_use_cpu_name_is_accepted_and_named():
    decided = policy("--use-cpu", "myextension")
    assert decided.execution_device("myextension") == CPU and decided.execution_device("unet") == CUDA
    assert any(note.startswith("--use-cpu myextension: not a part this app knows") for note in decided.notes)


@pytest.mark.parametrize(
    ("argv", "unet", "vae", "sampling", "autocast"),
    [
        ((), torch.float16, torch.float16, torch.float32, torch.float16),
        (("--no-half",), torch.float32, torch.float32, torch.float32, None),
        (("--no-half-vae",), torch.float16, torch.float32, torch.float32, torch.float16),
        (("--precision", "full"), torch.float16, torch.float16, torch.float32, None),
        (("--precision", "half"), torch.float16, torch.float16, torch.float16, None),
        (("--precision", "half", "--upcast-sampling"), torch.float16, torch.float16, torch.float32, None),
    ],
)
def test_precision_flags_on_a_gpu(argv, unet, vae, sampling, autocast):
    decided = policy(*argv)
    assert (decided.dtype, decided.vae_dtype, decided.sampling_dtype, decided.autocast_dtype) == (
        unet, vae, sampling, autocast,
    )  # fmt: skip
    assert decided.dtype_for("vae") == vae and decided.dtype_for("unet") == unet


@pytest.mark.parametrize("bf16_hardware", [False, True])
def test_on_a_cpu_everything_is_float32_whatever_the_flags_and_each_flag_says_why(bf16_hardware):
    argv = ("--precision", "autocast", "--upcast-sampling", "--no-half-vae")
    decided = policy(*argv, accelerator=None, cpu_bf16=bf16_hardware)
    assert {decided.dtype, decided.vae_dtype, decided.sampling_dtype} == {torch.float32}
    assert decided.autocast_dtype is None  # never bf16 autocast on a CPU
    said = [note.split(":")[0] for note in decided.notes]
    assert said == ["--no-half-vae", "--upcast-sampling", "--precision autocast"]
    assert all("no effect on the CPU" in note for note in decided.notes)
    assert ("has bf16 instructions" in decided.notes[0]) is bf16_hardware


def test_lowram_loads_to_the_gpu_and_says_it_does_nothing_without_one():
    assert policy("--lowram").lowram is True
    cpu_only = policy("--lowram", accelerator=None)
    assert cpu_only.lowram is False
    assert any(note.startswith("--lowram: no effect on this machine") for note in cpu_only.notes)


def test_bad_memory_budget_and_precision_are_refused_by_the_parser(capsys):
    for argv in (["--memory-budget", "0"], ["--memory-budget", "nan"], ["--precision", "fp8"]):
        with pytest.raises(SystemExit):
            parse_flags(argv)
    assert parse_flags(["--memory-budget", "7.5"]).memory_budget == 7.5
