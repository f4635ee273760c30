from datetime import date

from PIL import Image

from modules.images.saving import ImageSaver


def test_numbered_names_with_seed_and_infotext_chunk(tmp_path):
    saver = ImageSaver()
    image = Image.new("RGB", (16, 8), (10, 200, 30))
    day = date(2026, 11, 21)
    first = saver.save(image, tmp_path, 42, "a prompt\nSteps: 1", today=day)
    second = saver.save(image, tmp_path, 43, "other", today=day)
    assert first == tmp_path / "2026-11-21" / "00000-42.png"
    assert second.name == "00001-43.png"
    (tmp_path / "2026-11-21" / "00041-7.png").write_bytes(b"")
    assert saver.save(image, tmp_path, 8, "x", today=day).name == "00042-8.png"
    with Image.open(first) as loaded:
        assert loaded.info["parameters"] == "a prompt\nSteps: 1"
        assert loaded.size == (16, 8) and loaded.getpixel((3, 3)) == (10, 200, 30)
    assert not [p for p in (tmp_path / "2026-11-21").iterdir() if p.name.endswith(".tmp")]
