"""`/png-info`'s `parameters`: the infotext as A1111's parse_generation_parameters returns it.

Clients read these by A1111's infotext names ("Prompt", "Steps", "Size-1", ...), with values as
the text shows them (strings), plus the values A1111 assumes for keys an infotext leaves out
(an image without "Clip skip" was made with clip skip 1, and so on).
"""

from modules.images.infotext import parse_infotext
from modules.prompts.parser import parse_prompt_attention

# Keys whose "WxH" value A1111 splits into "<key>-1" and "<key>-2" only.
_SPLIT_SIZES = ("Size", "Hires resize", "Seed resize from", "First pass size")

# What A1111 assumes for keys absent from an infotext (the values it pastes), in its order.
_ASSUMED = (
    ("Clip skip", "1"),
    ("Hires resize-1", 0),
    ("Hires resize-2", 0),
    ("Hires sampler", "Use same sampler"),
    ("Hires schedule type", "Use same scheduler"),
    ("Hires checkpoint", "Use same checkpoint"),
    ("Hires prompt", ""),
    ("Hires negative prompt", ""),
    ("Mask mode", "Inpaint masked"),
    ("Masked content", "original"),
    ("Inpaint area", "Whole picture"),
    ("Masked area padding", 32),
    ("RNG", "GPU"),
    ("Schedule type", "Automatic"),
    ("Schedule max sigma", 0),
    ("Schedule min sigma", 0),
    ("Schedule rho", 0),
    ("VAE Encoder", "Full"),
    ("VAE Decoder", "Full"),
    ("FP8 weight", "Disable"),
)


def a1111_parameters(text: str, engine) -> dict:
    """Parsed infotext keyed and valued as A1111's API answers it; extensions amend it through
    `infotext_pasted`, as A1111's callback lets them. Raises ValueError for text the parser
    refuses (e.g. over its length cap)."""
    parsed = parse_infotext(text)
    # Values as the text shows them (the parser made numbers of them); "WxH" sizes only split.
    params = {
        key: value if isinstance(value, str) else str(value)
        for key, value in parsed.items()
        if not (key in _SPLIT_SIZES and f"{key}-1" in parsed)
    }
    prompt, negative = params.get("Prompt", ""), params.get("Negative prompt", "")
    if engine.styles.styles:
        # Styles are stored applied; A1111 ("Apply if any") takes them back out and lists them.
        names, stripped, stripped_negative = engine.styles.extract_styles(prompt, negative)
        if names:
            params.update({"Prompt": stripped, "Negative prompt": stripped_negative, "Styles array": names})
    for key, value in _ASSUMED:
        params.setdefault(key, value)
    if params["FP8 weight"] != "Disable":
        params.setdefault("Cache FP16 weight for LoRA", False)
    if _uses_emphasis(prompt) or _uses_emphasis(negative):
        params.setdefault("Emphasis", "Original")
    params.setdefault("Refiner switch by sampling steps", False)
    engine.extensions.call("infotext_pasted", infotext=text, params=params)
    alwayson = engine.alwayson_args_from_infotext(params)
    if alwayson:
        params["alwayson_scripts"] = alwayson  # ours, not A1111's: ready for txt2img's alwayson_scripts
    return params


def _uses_emphasis(prompt: str) -> bool:
    return any(weight != 1.0 and text != "BREAK" for text, weight in parse_prompt_attention(prompt or ""))
