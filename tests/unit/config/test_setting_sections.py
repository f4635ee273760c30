"""The Settings tab's pages: A1111's sections in its order, extensions' after, search, quicksettings keys."""

from modules.config.setting_sections import SECTION_ORDER, group_by_page, matches, quicksettings_keys
from modules.config.settings import CORE_SETTINGS, SettingSpec


def test_core_settings_fall_on_a1111_pages_in_a1111_order():
    pages = list(group_by_page(CORE_SETTINGS))
    assert all(page in SECTION_ORDER for page in pages)
    assert pages == sorted(pages, key=SECTION_ORDER.index)
    by_key = {spec.key: page for page, members in group_by_page(CORE_SETTINGS).items() for spec in members}
    assert by_key["CLIP_stop_at_last_layers"] == "Stable Diffusion"
    assert by_key["eta_noise_seed_delta"] == "Sampler parameters"
    assert by_key["ESRGAN_tile"] == "Postprocessing"
    assert by_key["image_max_pixels"] == "System"
    assert by_key["quicksettings_list"] == "UI"


def test_empty_pages_are_left_out_and_extension_pages_come_last_in_declared_order():
    specs = [
        SettingSpec("z", 1, "Z", "Zebra extension", "number"),
        SettingSpec("a", 1, "A", "Prompts", "number"),  # an old section name maps to A1111's page
        SettingSpec("b", True, "B", "Saving images", "checkbox"),
        SettingSpec("c", "", "C", "Another extension"),
    ]
    pages = group_by_page(specs)
    assert list(pages) == ["Saving images", "Stable Diffusion", "Zebra extension", "Another extension"]
    assert [spec.key for spec in pages["Stable Diffusion"]] == ["a"]


def test_search_matches_every_word_in_label_key_or_page_ignoring_case():
    spec = SettingSpec("show_progress_every_n_steps", 10, "Live preview every N sampling steps", "Live previews")
    assert matches(spec, "LIVE steps")
    assert matches(spec, "progress_every")
    assert not matches(spec, "live grid")


def test_quicksettings_keys_keep_order_drop_repeats_and_report_unknown_keys():
    shown, unknown = quicksettings_keys(" CLIP_stop_at_last_layers,,sd_model_checkpoint, nope, emphasis, emphasis",
                                        ["CLIP_stop_at_last_layers", "emphasis"])  # fmt: skip
    assert shown == ["CLIP_stop_at_last_layers", "sd_model_checkpoint", "emphasis"]
    assert unknown == ["nope"]
