"""The Script contract: scripts for the Script menu and always-on scripts.

A script receives its arguments by NAME, as an instance of its pydantic `Args` model, whether
they came from the UI, the API (`script_args` / `alwayson_scripts`, named or positional) or
pasted infotext. Positional lists (what A1111 clients send) are matched to `Args` fields in
declaration order.
"""

from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from modules.plugins.types import NoArgs


class ScriptArgsError(ValueError):
    """Arguments that do not fit a script's Args model; the message names the script and field."""


class Script:
    """Subclass, set `title` and `Args`, and override what you need.

    - `alwayson = False`: listed in the Script menu; when chosen, `run(p, args)` makes the
      pictures (usually by calling `p.process()` one or more times) and returns a GenerationResult.
    - `alwayson = True`: its stage methods run on every generation with its args; `enabled(args)`
      decides whether it takes part (default: an `enabled` field if Args has one, else always).
      The stage methods it overrides are registered as implementations of the hooks of the same
      names (after the extensions' own), so they are called exactly like hooks: a failure is
      reported on the script's extension and the job goes on.
    - `modes`: the tabs/endpoints it runs in, ("txt2img", "img2img") by default (A1111's
      `show(is_img2img)`); GET /sdapi/v1/scripts and script-info list it per mode.
    - `infotext_fields`: {arg name: infotext key}. Those args are written into the infotext when
      the script takes part, and read back from pasted infotext.
    - `ui()` (web UI only) builds the controls and returns {arg name: Gradio component}.
    """

    title: ClassVar[str] = ""
    alwayson: ClassVar[bool] = False
    modes: ClassVar[tuple[str, ...]] = ("txt2img", "img2img")
    Args: ClassVar[type[BaseModel]] = NoArgs
    infotext_fields: ClassVar[dict[str, str]] = {}

    def ui(self) -> dict[str, Any]:
        return {}

    def enabled(self, args: BaseModel) -> bool:
        return bool(getattr(args, "enabled", True))

    # Selectable scripts.
    def run(self, p, args: BaseModel):
        raise NotImplementedError(f"script {self.title!r} has no run()")

    # Always-on scripts: the stages of the hooks of the same names, with the script's args after
    # `p`; the hook's other arguments come by name (see modules/plugins/hookspecs.py for types).
    def before_process(self, p, args: BaseModel) -> None: ...

    def process(self, p, args: BaseModel) -> None: ...

    def before_process_batch(
        self, p, args: BaseModel, batch_index: int, prompts: list[str], seeds: list[int]
    ) -> None: ...

    def process_batch(self, p, args: BaseModel, batch_index: int, prompts: list[str], seeds: list[int]) -> None: ...

    def cfg_denoiser(self, p, args: BaseModel, params) -> None: ...

    def cfg_denoised(self, p, args: BaseModel, params) -> None: ...

    def post_sample(self, p, args: BaseModel, latents):  # a tensor replaces the latents (first result wins)
        return None

    def mask_blend(self, p, args: BaseModel, params):  # a tensor replaces the default blend (first result wins)
        return None

    def mask_overlay(self, p, args: BaseModel, params):  # a picture replaces the default overlay
        return None

    def postprocess_image(self, p, args: BaseModel, params) -> None: ...

    def postprocess(self, p, args: BaseModel, result) -> None: ...


# The Script methods that are stage hooks: an always-on script's overrides are registered as hooks.
STAGE_METHODS = (
    "before_process",
    "process",
    "before_process_batch",
    "process_batch",
    "cfg_denoiser",
    "cfg_denoised",
    "post_sample",
    "mask_blend",
    "mask_overlay",
    "postprocess_image",
    "postprocess",
)
MODES = ("txt2img", "img2img")


def runs_in(script: type[Script] | Script, mode: str) -> bool:
    return mode in script.modes


def parse_script_args(script: type[Script] | Script, raw: Any) -> BaseModel:
    """Turn named (dict), positional (list) or missing (None) arguments into the script's Args."""
    model = script.Args
    if raw is None:
        raw = {}
    if isinstance(raw, dict) and set(raw) == {"args"}:  # alwayson_scripts: {"title": {"args": ...}}
        raw = raw["args"]
    if isinstance(raw, list | tuple):
        names = list(model.model_fields)
        if len(raw) > len(names):
            raise ScriptArgsError(
                f"script {script.title!r} takes {len(names)} argument(s) ({', '.join(names)}), got {len(raw)}"
            )
        raw = dict(zip(names, raw, strict=False))
    if not isinstance(raw, dict):
        raise ScriptArgsError(f"script {script.title!r}: arguments must be an object or a list, got {raw!r}")
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ScriptArgsError(f"script {script.title!r}: {reasons}") from error


def args_to_infotext(script: type[Script] | Script, args: BaseModel) -> dict[str, Any]:
    return {key: getattr(args, name) for name, key in script.infotext_fields.items()}


def args_from_infotext(script: type[Script] | Script, params: dict) -> BaseModel | None:
    """The script's args recovered from parsed infotext, or None if none of its keys are there."""
    found = {name: params[key] for name, key in script.infotext_fields.items() if key in params}
    if not found:
        return None
    if "enabled" in script.Args.model_fields and "enabled" not in found:
        found["enabled"] = True
    return parse_script_args(script, found)
