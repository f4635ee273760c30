"""The memory manager on a real engine: the ledger after switching checkpoints and after a refiner
job, the offload hooks installed for real (onload = offload = CPU) giving the same picture as no
offload, and GET /sdapi/v1/memory reporting the ledger and the policy."""

import numpy as np
import pytest
import requests
import torch

from modules.memory.ledger import module_bytes
from modules.memory.offload import offload_mode_of, remove_offload
from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.fixtures.tiny_model import three_checkpoints
from tests.server import start_api_server

CPU = torch.device("cpu")
NO_GPU_NOTE = ("--medvram: no effect on this machine: there is no GPU; the weights are already in RAM, so there is "
               "no device memory to save")  # fmt: skip


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, tiny_single_file):
    return three_checkpoints(tmp_path_factory.mktemp("memory-models"), tiny_single_file)


@pytest.fixture
def engine(tmp_path, models_dir):
    built = make_engine(tmp_path, "--models-dir", str(models_dir))
    yield built
    built.queue.shutdown()


def picture(engine, checkpoint: str | None = "a.safetensors", **fields) -> np.ndarray:
    request = Txt2ImgRequest(prompt="a red cube", steps=3, width=64, height=64, seed=11, sampler_name="Euler",
                             checkpoint=checkpoint, save_images=False, **fields)  # fmt: skip
    return np.asarray(engine.submit_txt2img(request).outcome().images[0].image)


def checkpoints_in(ledger: list[dict]) -> dict[str, set]:
    found: dict[str, set] = {}
    for row in ledger:
        if row["kind"] in ("checkpoint", "refiner"):
            found.setdefault(row["owner"], set()).add((row["kind"], row["state"]))
    return found


def test_three_switches_leave_one_checkpoint_whose_bytes_are_its_parameters_and_buffers(engine):
    for name in ("a.safetensors", "b.safetensors", "c.safetensors"):
        engine.submit_model_switch(name).outcome()
    ledger = engine.memory.ledger()
    assert checkpoints_in(ledger) == {"c.safetensors": {("checkpoint", "resident")}}
    model = engine.models.loaded
    expected = sum(t.numel() * t.element_size() for part in model.modules().values()
                   for t in (*part.parameters(), *part.buffers()))  # fmt: skip
    assert {row["component"] for row in ledger} == {"unet", "vae", "text_encoder"}
    assert sum(row["bytes"] for row in ledger) == expected == engine.memory.resident_bytes() > 0
    assert {row["device"] for row in ledger} == {"cpu"}


def test_the_ram_cache_shows_in_the_ledger_and_make_room_frees_it(engine):
    engine.settings.update({"sd_checkpoint_cache": 1})
    for name in ("a.safetensors", "b.safetensors"):
        engine.submit_model_switch(name).outcome()
    assert checkpoints_in(engine.memory.ledger()) == {
        "a.safetensors": {("checkpoint", "ram-cache")}, "b.safetensors": {("checkpoint", "resident")},
    }  # fmt: skip
    held = engine.memory.resident_bytes()
    engine.flags.memory_budget = (held - 1) / 1024**3  # everything loaded, less one byte
    assert engine.memory.make_room(1) is True
    assert checkpoints_in(engine.memory.ledger()) == {"b.safetensors": {("checkpoint", "resident")}}
    engine.submit_model_switch("a.safetensors").outcome()  # the cache was really emptied: read again
    assert engine.models.loaded.info.name == "a.safetensors"


def test_make_room_frees_a_checkpoint_loaded_beside_the_current_one_never_the_current(engine):
    engine.settings.update({"sd_checkpoints_limit": 2})
    for name in ("a.safetensors", "b.safetensors"):
        engine.submit_model_switch(name).outcome()
    assert set(checkpoints_in(engine.memory.ledger())) == {"a.safetensors", "b.safetensors"}
    engine.flags.memory_budget = engine.memory.resident_bytes() / 1024**3
    assert engine.memory.make_room(1) is True
    assert checkpoints_in(engine.memory.ledger()) == {"b.safetensors": {("checkpoint", "resident")}}
    assert [model.info.name for model in engine.models.resident] == ["b.safetensors"]
    assert engine.memory.make_room(engine.memory.available_bytes() + 1) is False  # the current one stays
    assert [model.info.name for model in engine.models.resident] == ["b.safetensors"]


def test_a_refiner_swaps_with_the_base_and_the_next_job_runs_on_the_base(engine):
    picture(engine, refiner_checkpoint="b.safetensors", refiner_switch_at=0.5)
    assert checkpoints_in(engine.memory.ledger()) == {"b.safetensors": {("refiner", "resident")}}
    picture(engine, checkpoint=None)
    assert checkpoints_in(engine.memory.ledger()) == {"a.safetensors": {("checkpoint", "resident")}}


@pytest.mark.parametrize("mode", ["medvram", "lowvram"])
def test_the_offload_hooks_give_the_same_picture_as_no_offload(engine, mode):
    plain = picture(engine)
    model = engine.models.get("a.safetensors")
    assert engine.memory.prepare(model, onload=CPU, offload=CPU, mode=mode) == mode
    try:
        assert offload_mode_of(model) == mode
        assert type(model.text_encoder._hf_hook).__name__ == "OneAtATime"  # accelerate's hook is on
        if mode == "lowvram":
            assert model.unet._diffusers_hook.get_hook("group_offloading") is not None
        offloaded = picture(engine)
        if mode == "lowvram":  # the group hook really ran: its first block became the group's leader
            assert model.unet._diffusers_hook.get_hook("group_offloading").group.onload_leader is not None
    finally:
        remove_offload(model)
    assert offload_mode_of(model) == "normal" and not hasattr(model.text_encoder, "_hf_hook")
    assert np.array_equal(plain, offloaded)
    assert plain.std() > 1
    assert np.array_equal(plain, picture(engine))  # and the hooks come off cleanly


def test_offloaded_parts_keep_their_size_in_the_ledger(engine):
    model = engine.models.get("a.safetensors")
    before = {row["component"]: row["bytes"] for row in engine.memory.ledger()}
    engine.memory.prepare(model, onload=CPU, offload=CPU, mode="lowvram")
    try:
        after = {row["component"]: row["bytes"] for row in engine.memory.ledger()}
    finally:
        remove_offload(model)
    assert after == before == {name: module_bytes(part) for name, part in model.modules().items()}


@pytest.mark.skipif(torch.cuda.is_available(), reason="the no-GPU policy is for machines without CUDA")
def test_memory_route_reports_the_ledger_and_the_policy(tmp_path, tiny_single_file):
    server = start_api_server(tmp_path, tiny_single_file.parents[1], "--medvram")
    try:
        body = {"prompt": "a cube", "steps": 2, "width": 64, "height": 64, "send_images": False}
        assert requests.post(f"{server.url}/sdapi/v1/txt2img", json=body, timeout=120).status_code == 200
        response = requests.get(f"{server.url}/sdapi/v1/memory", timeout=30)
        log = server.log()
    finally:
        server.stop()
    assert response.status_code == 200
    memory = response.json()
    assert memory["policy"]["mode"] == "normal (medvram requested; no GPU)"
    assert memory["policy"]["device"] == "cpu" and memory["policy"]["dtypes"]["unet"] == "float32"
    owners = {(row["owner"], row["kind"], row["component"]) for row in memory["ledger"]}
    assert owners == {("tiny.safetensors", "checkpoint", part) for part in ("unet", "vae", "text_encoder")}
    assert all(row["bytes"] > 0 and row["device"] == "cpu" for row in memory["ledger"])
    assert memory["ram"]["total"] > 0 and "attention" in memory
    assert log.count(NO_GPU_NOTE) == 1
