"""What the extension lists: extra-network cards, and A1111's `GET /sdapi/v1/loras` on a real
engine and FastAPI app (the hooks called through the real extension manager)."""

import json

import pytest
import torch
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modules.plugins.types import ExtraNetwork
from tests.conftest import make_engine
from tests.extensions.lycoris_support import extension, write_lycoris_file


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("listing")
    models = data_dir / "models"
    (models / "Lora" / "sub").mkdir(parents=True)
    (models / "LyCORIS").mkdir(parents=True)
    tags = json.dumps({"10_ink": {"ink": 3, "lines": 2}})
    write_lycoris_file(models / "Lora" / "ink.safetensors", "lora", dim=4, alpha=2, metadata={"ss_tag_frequency": tags})
    (models / "Lora" / "ink.json").write_text(
        json.dumps({"description": "ink lines", "activation text": "ink style", "preferred weight": 0.6})
    )
    torch.save({"lora_unet_conv_in.alpha": torch.tensor(1.0)}, models / "Lora" / "sub" / "old.pt")
    write_lycoris_file(models / "LyCORIS" / "paper.safetensors", "loha", dim=4, alpha=2)
    (models / "Lora" / "notes.txt").write_text("not a network")
    (models / "Lora" / ".hidden").mkdir()
    (models / "Lora" / ".hidden" / "skip.safetensors").write_bytes(b"")

    engine = make_engine(data_dir, "--models-dir", str(models))
    manager, _ = extension()
    app = FastAPI()
    manager.call("app_started", app=app, engine=engine)
    yield models, manager, TestClient(app)
    engine.queue.shutdown()


def test_the_network_object_fits_the_contract(served):
    models, manager, _ = served
    [(owner, network)] = manager.collect("extra_networks", models_dir=models)
    assert owner == "lycoris" and isinstance(network, ExtraNetwork)
    assert network.names == ("lora", "lyco")


def test_list_items_shows_every_network_file_with_its_card(served):
    models, manager, _ = served
    [(_, network)] = manager.collect("extra_networks", models_dir=models)
    items = {item.name: item for item in network.list_items()}

    assert sorted(items) == ["ink", "old", "paper"]
    assert items["ink"].prompt == "<lora:ink:0.6> ink style"
    assert items["ink"].description == "ink lines"
    # Paths below the models folder: where the server keeps its files is not shown.
    assert items["ink"].filename == "Lora/ink.safetensors"
    assert items["old"].prompt == "<lora:old:1>" and items["old"].filename == "Lora/sub/old.pt"
    assert items["paper"].filename == "LyCORIS/paper.safetensors"


def test_get_loras_answers_in_a1111_shape(served):
    models, _, client = served
    response = client.get("/sdapi/v1/loras")
    assert response.status_code == 200
    entries = {entry["name"]: entry for entry in response.json()}

    assert sorted(entries) == ["ink", "old", "paper"]
    for entry in entries.values():
        assert set(entry) == {"name", "alias", "path", "metadata"}
    assert entries["ink"]["alias"] == "ink-alias"  # ss_output_name from the file's metadata
    # Unlike A1111's absolute path: the path below the models folder, never where it is on disk.
    assert entries["ink"]["path"] == "Lora/ink.safetensors"
    assert not any(str(models) in json.dumps(entry) for entry in entries.values())
    assert entries["ink"]["metadata"]["ss_output_name"] == "ink-alias"
    # As A1111 answers: JSON held inside a metadata string comes back as an object.
    assert entries["ink"]["metadata"]["ss_tag_frequency"] == {"10_ink": {"ink": 3, "lines": 2}}
    assert entries["ink"]["metadata"]["sshs_model_hash"].startswith("0x")  # written by the package's saver
    # A pickle is not opened just to list it: no metadata.
    assert entries["old"] == {"name": "old", "alias": "old", "path": "Lora/sub/old.pt", "metadata": {}}


def test_refresh_loras_answers_and_new_files_show_up(served):
    models, _, client = served
    torch.save({}, models / "LyCORIS" / "new.ckpt")
    assert client.post("/sdapi/v1/refresh-loras").json() == {}
    assert "new" in {entry["name"] for entry in client.get("/sdapi/v1/loras").json()}
    (models / "LyCORIS" / "new.ckpt").unlink()
