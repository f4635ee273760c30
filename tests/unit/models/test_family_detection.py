"""The published checkpoints' tensor names and shapes (recorded from the architectures, see
tests/fixtures/real_layouts.py) are recognised as their family, from names and shapes alone."""

import pytest
import torch
from safetensors.torch import save_file

from modules.models import families
from modules.models.loading import CheckpointLoadError, read_family_layout
from tests.fixtures.real_layouts import REAL_LAYOUTS, real_keys_and_shapes


@pytest.mark.parametrize("name", sorted(REAL_LAYOUTS))
def test_each_published_layout_is_its_family(name):
    keys, shapes = real_keys_and_shapes(name)
    wanted = {key: shapes[key] for key in families.SHAPE_KEYS if key in shapes}
    family = families.detect(families.Layout(frozenset(keys), wanted))
    assert family.name == REAL_LAYOUTS[name][0]


def test_detection_reads_a_header_without_the_weights(tmp_path):
    """A file holding only the tensors detection looks at (tiny stand-ins, real names and shapes)."""
    keys, shapes = real_keys_and_shapes("sdxl_refiner")
    path = tmp_path / "refiner-header.safetensors"
    state = {key: torch.zeros(shapes[key] if key in families.SHAPE_KEYS else [1]) for key in keys}
    save_file(state, path)
    layout, embedded = read_family_layout(path)
    assert embedded is None and families.detect(layout).name == "sdxl_refiner"


def test_an_embedded_family_wins_and_an_unknown_one_is_refused(tmp_path):
    keys, _ = real_keys_and_shapes("sd15")
    layout = families.Layout(frozenset(keys), {}, {"family": "ip2p"})
    assert families.detect(layout).name == "ip2p"
    with pytest.raises(families.UnknownFamilyError, match="sd9"):
        families.get("sd9")
    path = tmp_path / "bad-config.safetensors"
    save_file({"x": torch.zeros(1)}, path, metadata={"sdstudio.diffusers_config": "{not json"})
    with pytest.raises(CheckpointLoadError, match="bad-config.safetensors: its embedded model configs are not valid"):
        read_family_layout(path)
