"""Soft inpainting (A1111's built-in extension): one always-on img2img script, "Soft Inpainting".

Only the extension contract is used: the `scripts` hook, and the script's `process`,
`mask_blend` and `mask_overlay` stage methods. Torch, numpy and Gradio load on first use.
"""

from modules.plugins import hookimpl

from .script import SoftInpainting


@hookimpl
def scripts():
    return [SoftInpainting]
