"""The ledger: sizes are parameters + buffers (shared tensors once), entries follow their modules'
lifetime, and bad kinds are refused."""

import gc

import pytest
import torch

from modules.memory.ledger import Ledger, module_bytes


def linear(inputs: int, outputs: int) -> torch.nn.Module:
    module = torch.nn.Sequential(torch.nn.Linear(inputs, outputs), torch.nn.BatchNorm1d(outputs))
    return module


def test_bytes_are_parameters_and_buffers_each_tensor_once():
    module = linear(8, 4)  # weight 32 + bias 4 + norm weight/bias 8 + running mean/var 8 floats + count (int64)
    assert module_bytes(module) == (32 + 4 + 4 + 4 + 4 + 4) * 4 + 8
    tied = torch.nn.ModuleDict({"a": module, "b": module})
    assert module_bytes(tied) == module_bytes(module)
    assert module_bytes(module.half()) == (32 + 4 + 4 + 4 + 4 + 4) * 2 + 8


def test_entries_rows_release_and_totals():
    ledger = Ledger()
    unet, vae = linear(16, 16), linear(4, 4)
    ledger.register(
        "/m/a.safetensors", "a.safetensors", "checkpoint", {"unet": unet, "vae": vae, "text_encoder_2": None}
    )
    ledger.register("onnx:u2net", "u2net", "onnx", {"session": 1234})
    rows = ledger.rows()
    assert [(row["owner"], row["component"], row["kind"]) for row in rows] == [
        ("a.safetensors", "unet", "checkpoint"), ("a.safetensors", "vae", "checkpoint"), ("u2net", "session", "onnx"),
    ]  # fmt: skip
    assert rows[0]["bytes"] == module_bytes(unet) and rows[0]["device"] == "cpu"
    assert ledger.total_bytes() == module_bytes(unet) + module_bytes(vae) + 1234
    ledger.release("/m/a.safetensors")
    assert ledger.total_bytes() == 1234


def test_an_entry_whose_module_is_gone_is_not_reported():
    ledger = Ledger()
    ledger.register("k", "k", "upscaler", {"model": linear(8, 8)})
    gc.collect()
    assert ledger.rows() == []


def test_a_source_reports_what_it_holds_now():
    ledger, held = Ledger(), {}
    ledger.register_source("taesd:sd", "taesd:sd", "taesd", lambda: dict(held))
    assert ledger.rows() == []
    held["decoder"] = linear(4, 4)
    assert [(row["owner"], row["component"], row["bytes"]) for row in ledger.rows()] == [
        ("taesd:sd", "decoder", module_bytes(held["decoder"]))
    ]


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="ledger kind 'weights'"):
        Ledger().register("k", "k", "weights", {})
