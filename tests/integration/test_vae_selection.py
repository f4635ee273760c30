"""VAE selection on a real engine and the tiny SD 1.x model: a VAE file changes the picture and
lands in the infotext, "None" gives the checkpoint's own pixels back exactly, "Automatic" finds
NAME.vae.safetensors beside the checkpoint, bad files are refused naming them, and the API lists
and refreshes the files."""

import pickle

import numpy as np
import pytest
import torch
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modules.api.routes import register_api
from modules.images.infotext import parse_infotext
from modules.models.hashing import sha256_of_path
from modules.models.vae_weights import VaeLoadError
from modules.processing.request import Img2ImgRequest, Txt2ImgRequest
from tests.conftest import make_engine
from tests.fixtures.hostile_pickle import TouchOnUnpickle
from tests.fixtures.tiny_model import save_single_file
from tests.fixtures.tiny_vae import build_vae, write_vae


@pytest.fixture(scope="module")
def engine(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("vae-data")
    models = data_dir / "models"
    (models / "Stable-diffusion").mkdir(parents=True)
    (models / "Stable-diffusion" / "tiny.safetensors").symlink_to(tiny_single_file)
    save_single_file(models / "Stable-diffusion" / "refiner.safetensors", seed=1)
    other = build_vae(seed=7)
    write_vae(models / "VAE" / "other.safetensors", other)
    write_vae(models / "VAE" / "sub" / "diffusers-layout.safetensors", other, "diffusers")
    write_vae(models / "VAE" / "pickled.pt", other, "pickled")
    write_vae(models / "VAE" / "latent8.safetensors", build_vae(latent_channels=8))
    write_vae(models / "VAE" / "wide.safetensors", build_vae(block_out_channels=[32, 32, 32, 32]))
    marker = data_dir / "pwned"
    (models / "VAE" / "evil.pt").write_bytes(pickle.dumps({"state_dict": TouchOnUnpickle(marker)}))
    built = make_engine(data_dir, "--models-dir", str(models))
    built.marker = marker
    yield built
    built.queue.shutdown()


def generate(engine, vae: str | None = None, **fields):
    base = {"prompt": "a cat", "steps": 2, "width": 64, "height": 64, "seed": 3, "save_images": False,
            "checkpoint": "tiny.safetensors"}  # fmt: skip
    if vae is not None:
        base["override_settings"] = {"sd_vae": vae}
    request = Txt2ImgRequest(**{**base, **fields})
    result = engine.submit_txt2img(request).outcome()
    return np.asarray(result.images[0].image), result.images[0].infotext


def test_the_vae_files_are_listed_with_the_fixed_choices(engine):
    assert engine.vaes.choices() == [
        "Automatic", "None", "evil.pt", "latent8.safetensors", "other.safetensors", "pickled.pt",
        "sub/diffusers-layout.safetensors", "wide.safetensors",
    ]  # fmt: skip


def test_a_vae_file_changes_the_picture_and_none_gives_the_own_pixels_back(engine):
    own, own_text = generate(engine, "None")
    automatic, _ = generate(engine)  # nothing beside the checkpoint: its own VAE
    with_file, text = generate(engine, "other.safetensors")
    again, _ = generate(engine, "None")
    assert np.array_equal(own, automatic)
    assert not np.array_equal(own, with_file)
    assert np.array_equal(own, again)  # the checkpoint's own VAE restored exactly
    parsed = parse_infotext(text)
    expected_hash = sha256_of_path(engine.paths.models_dir / "VAE" / "other.safetensors")[:10]
    assert parsed["VAE hash"] == expected_hash and parsed["VAE"] == "other"
    assert "VAE" not in parse_infotext(own_text) and "VAE hash" not in parse_infotext(own_text)


def test_every_layout_and_the_pickled_file_give_the_same_pixels(engine):
    ldm, _ = generate(engine, "other.safetensors")
    diffusers, text = generate(engine, "sub/diffusers-layout.safetensors")
    pickled, _ = generate(engine, "pickled.pt")
    assert np.array_equal(ldm, diffusers) and np.array_equal(ldm, pickled)
    assert parse_infotext(text)["VAE"] == "diffusers-layout"


def test_pasting_the_infotext_back_selects_the_listed_file_and_the_same_pixels(engine):
    picture, text = generate(engine, "sub/diffusers-layout.safetensors")
    fields = engine.fields_from_infotext(text)
    assert fields["override_settings"]["sd_vae"] == "sub/diffusers-layout.safetensors"
    again, _ = generate(engine, fields["override_settings"]["sd_vae"])
    assert np.array_equal(picture, again)


def test_img2img_and_hires_use_the_chosen_vae(engine):
    from PIL import Image

    init = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    pictures = {}
    for vae in ("None", "other.safetensors"):
        fields = {"init_images": [init], "denoising_strength": 0.5, "override_settings": {"sd_vae": vae}}
        request = Img2ImgRequest(prompt="a cat", steps=2, width=64, height=64, seed=3, save_images=False, **fields)
        result = engine.submit_img2img(request).outcome()
        pictures[vae] = np.asarray(result.images[0].image)
    assert not np.array_equal(pictures["None"], pictures["other.safetensors"])
    hires, text = generate(engine, "other.safetensors", enable_hr=True, hr_scale=1.5, hr_upscaler="Latent",
                           hr_second_pass_steps=1, denoising_strength=0.5)  # fmt: skip
    assert hires.shape == (96, 96, 3) and parse_infotext(text)["VAE"] == "other"


def test_a_refiner_loaded_mid_job_decodes_with_the_jobs_vae(engine):
    refiner = {"refiner_checkpoint": "refiner.safetensors", "refiner_switch_at": 0.5}
    own, _ = generate(engine, "None", **refiner)
    with_file, text = generate(engine, "other.safetensors", **refiner)
    assert not np.array_equal(own, with_file) and parse_infotext(text)["VAE"] == "other"
    assert np.array_equal(own, generate(engine, "None", **refiner)[0])


@pytest.mark.parametrize(
    ("name", "reason"),
    [("latent8.safetensors", "8 latent channels"), ("wide.safetensors", "channels wide")],
)
def test_a_vae_that_does_not_fit_is_refused_naming_it_and_changes_nothing(engine, name, reason):
    own, _ = generate(engine, "None")
    with pytest.raises(VaeLoadError, match=rf"{name} does not fit the SD 1.x checkpoint") as refused:
        generate(engine, name)
    assert reason in str(refused.value)
    assert np.array_equal(own, generate(engine)[0])


def test_a_pickled_vae_that_would_run_code_is_refused_and_runs_nothing(engine):
    with pytest.raises(VaeLoadError, match="evil.pt: refused: its pickle asks to run code"):
        generate(engine, "evil.pt")
    assert not engine.marker.exists()


def test_an_unknown_or_path_like_name_is_refused_naming_what_exists(engine):
    for name in (
        "nope.safetensors",
        "../VAE/other.safetensors",
        str(engine.paths.models_dir / "VAE" / "other.safetensors"),
    ):
        with pytest.raises(LookupError, match="not found among the listed VAE files.*other.safetensors"):
            generate(engine, name)


def test_automatic_picks_the_vae_beside_the_checkpoint(tmp_path, tiny_single_file):
    models = tmp_path / "models"
    (models / "Stable-diffusion").mkdir(parents=True)
    (models / "Stable-diffusion" / "tiny.safetensors").symlink_to(tiny_single_file)
    engine = make_engine(tmp_path, "--models-dir", str(models))
    try:
        own, _ = generate(engine)
        write_vae(models / "Stable-diffusion" / "tiny.vae.safetensors", build_vae(seed=7))
        write_vae(models / "VAE" / "same.safetensors", build_vae(seed=7))
        automatic, text = generate(engine)
        chosen, _ = generate(engine, "same.safetensors")
        none, _ = generate(engine, "None")
    finally:
        engine.queue.shutdown()
    assert not np.array_equal(own, automatic) and np.array_equal(automatic, chosen)
    assert np.array_equal(own, none)
    assert parse_infotext(text)["VAE"] == "tiny.vae"


def test_the_api_lists_vaes_and_refresh_sees_a_new_file(engine):
    app = FastAPI()
    register_api(app, engine)
    client = TestClient(app)
    listed = client.get("/sdapi/v1/sd-vae").json()
    assert {"model_name": "other.safetensors", "filename": "VAE/other.safetensors"} in listed
    assert all(set(item) == {"model_name", "filename"} for item in listed)
    count = client.post("/sdapi/v1/refresh-vae").json()["count"]
    torch.save({"state_dict": {}}, engine.paths.models_dir / "VAE" / "new.ckpt")
    try:
        assert client.post("/sdapi/v1/refresh-vae").json()["count"] == count + 1
        assert "new.ckpt" in [item["model_name"] for item in client.get("/sdapi/v1/sd-vae").json()]
    finally:
        (engine.paths.models_dir / "VAE" / "new.ckpt").unlink()


def test_sd_vae_is_a_quicksetting_dropdown_of_the_listed_files_and_a_paste_override(tmp_path, engine):
    from webui.app import build_blocks
    from webui.components.paste import override_entries_for, overrides_from_entries

    ui_engine = make_engine(tmp_path, "--models-dir", str(engine.paths.models_dir))
    try:
        ui_engine.settings.update({"quicksettings_list": "sd_model_checkpoint, sd_vae"})
        blocks = build_blocks(ui_engine)
        found = {block.elem_id: block for block in blocks.blocks.values() if getattr(block, "elem_id", None)}
        for elem_id in ("quicksettings_sd_vae", "setting_sd_vae"):
            choices = [choice[0] if isinstance(choice, tuple) else choice for choice in found[elem_id].choices]
            assert choices == ui_engine.vaes.choices() and found[elem_id].value == "Automatic", elem_id
        assert "refresh_quicksettings_sd_vae" in found and "setting_sd_vae_refresh" in found
        entries = override_entries_for(ui_engine, {"sd_vae": "other.safetensors"})
        assert entries == ["VAE: other.safetensors"]
        assert overrides_from_entries(ui_engine, entries) == {"sd_vae": "other.safetensors"}
        assert overrides_from_entries(ui_engine, ["VAE: other"]) == {"sd_vae": "other.safetensors"}
        assert overrides_from_entries(ui_engine, ["VAE: missing"]) == {}  # not listed: left out
    finally:
        ui_engine.queue.shutdown()


def test_vae_dir_adds_a_folder_of_vae_files(tmp_path, engine):
    extra = tmp_path / "more-vaes"
    write_vae(extra / "extra.safetensors", build_vae(seed=7))
    with_flag = make_engine(tmp_path / "data", "--models-dir", str(engine.paths.models_dir), "--vae-dir", str(extra))
    try:
        assert "extra.safetensors" in with_flag.vaes.names() and "other.safetensors" in with_flag.vaes.names()
        assert with_flag.vaes.resolve("extra").path == (extra / "extra.safetensors").resolve()
    finally:
        with_flag.queue.shutdown()
