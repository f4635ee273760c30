"""The objects hooks receive and return. They are part of the extension contract: fields are
only ever added, never renamed or removed (see docs/EXTENSIONS.md, "Stability")."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from PIL import Image
from pydantic import BaseModel


class NoArgs(BaseModel):
    """Arguments of a step or script that takes none."""


@dataclass(frozen=True)
class TabSpec:
    """A tab added by `ui_tabs`. `render()` is called inside the tab's Gradio context and
    builds its components there (only the web UI calls it, so the engine never imports Gradio)."""

    title: str
    elem_id: str
    render: Callable[[], None]


@dataclass
class DenoiserParams:
    """Passed to `cfg_denoiser` before the UNet call of each step. Replace `x`, `cond` or
    `uncond` to change what the model sees this step."""

    x: Any  # latents (torch.Tensor, batch first)
    timestep: Any
    step: int  # 0-based
    total_steps: int
    cond: Any  # text-encoder hidden states for the prompt
    uncond: Any  # ... for the negative prompt; None at CFG scale 1


@dataclass
class DenoisedParams:
    """Passed to `cfg_denoised` after guidance is combined; replace `prediction` to change it."""

    prediction: Any
    x: Any
    timestep: Any
    step: int
    total_steps: int


@dataclass
class MaskBlendParams:
    """Passed to `mask_blend` (inpainting) at each step and once after the last one. The default
    blend keeps the init image where the mask says keep: `init_latent * mask + denoised * nmask`.
    Tensors are batch first, in latent space; `mask` is 1 where the picture is kept, `nmask`
    (= 1 - mask) where it is inpainted."""

    denoised: Any  # this step's prediction of the clean latent; after the last step: the result
    init_latent: Any  # the encoded init image (with latent noise / nothing in the mask, per mode)
    mask: Any
    nmask: Any
    sigma: Any  # per-image noise level of this step (tensor, batch), 0 for the final blend
    step: int  # 0-based; the step count for the final blend
    total_steps: int
    is_final: bool


@dataclass
class MaskOverlayParams:
    """Passed to `mask_overlay` for each inpainted image: the generated picture at the init image's
    size (`image`), the original (`original`, RGB) and the blurred mask (`mask`, "L", white =
    inpainted). The default puts the original back outside the mask:
    `Image.composite(image, original, mask)`."""

    image: Image.Image
    original: Image.Image
    mask: Image.Image
    index: int  # position in the whole job


@dataclass
class PostprocessImageParams:
    """Passed to `postprocess_image` for each decoded image; replace `image` to change what is
    saved and returned."""

    image: Image.Image
    seed: int
    index: int  # position in the whole job


@dataclass(frozen=True)
class ImageSavedParams:
    image: Image.Image
    path: Any  # pathlib.Path of the written file
    infotext: str
    seed: int


@dataclass
class PostprocessingStep:
    """An Extras post-processing step. Steps run in ascending `order` on each image.

    `Args` is a pydantic model: the UI, the API and pasted infotext all hand the step its
    arguments as an instance of it. `run(image, args, context)` returns the new image, or a
    list of images when one picture becomes several (flipped copies, split parts): the later
    steps then run on each. `context` carries `settings`, `models_dir` and `target_size`.
    `ui()` (optional, web UI only) builds the step's controls and returns {arg name: Gradio
    component}."""

    name: str
    order: int
    run: Callable[[Image.Image, BaseModel, "StepContext"], "Image.Image | list[Image.Image]"]
    Args: type[BaseModel] = NoArgs
    ui: Callable[[], dict[str, Any]] | None = None


@dataclass(frozen=True)
class StepContext:
    settings: Any
    models_dir: Any
    # The size the Extras upscale aims at for this picture (A1111's shared target width and
    # height): "Scale to" width x height, or the picture's size times "Scale by"; None outside Extras.
    target_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class ExtraNetworkCall:
    """One `<name:arg1:arg2:key=value>` tag from a prompt."""

    name: str  # the tag name, e.g. "lora"
    positional: tuple[str, ...]  # ("my-style", "0.8")
    named: dict[str, str] = field(default_factory=dict)  # {"te": "0.5"}

    @classmethod
    def from_tag(cls, name: str, body: str) -> "ExtraNetworkCall":
        positional, named = [], {}
        for part in body.split(":"):
            key, sep, value = part.partition("=")
            if sep and key.strip().isidentifier():
                named[key.strip()] = value.strip()
            else:
                positional.append(part.strip())
        return cls(name=name, positional=tuple(positional), named=named)


@dataclass(frozen=True)
class ExtraNetworkItem:
    """A card in the extra-networks list: `prompt` is the tag inserted into the prompt."""

    name: str
    prompt: str
    filename: str = ""
    description: str = ""


@runtime_checkable
class ExtraNetwork(Protocol):
    """Registered through `extra_networks`. Tags whose name is in `names` are stripped from the
    prompt and given to `activate` before the prompt is encoded (with `[]` when the job has none).

    A network that changes weights does not edit modules: in `activate` it adds
    `modules.models.patcher.Patch`es with `p.patches.add(patches)` (component, module path, a delta
    function of the layer's original float32 weight, strength, a source id saying what the delta
    is). Once every network has activated, the core merges the job's whole set into `p.model`; a set
    equal to the one already merged is not merged again, and a job without patches gets the exact
    original weights back. So `deactivate` has nothing to undo for patches. A model that takes
    over mid-job (refiner, hires checkpoint) gets `activate` again with a fresh `p` for it.

    Older networks that edit weights in place in `activate` still work: they add no patches and
    `deactivate`, always called at the end of the job (also after an error), must undo their edits."""

    names: tuple[str, ...]

    def activate(self, p, calls: list[ExtraNetworkCall]) -> None: ...

    def deactivate(self, p) -> None: ...

    def list_items(self) -> list[ExtraNetworkItem]: ...
