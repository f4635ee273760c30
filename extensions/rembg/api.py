"""`POST /rembg`, shaped like the widely used A1111 rembg extension's route, so its clients work."""

import base64
import io
from collections.abc import Callable
from pathlib import Path

from fastapi import HTTPException
from PIL import Image, ImageOps
from pydantic import BaseModel, Field

from modules.images.decoding import BadImageError, ImageTooLargeError, decode_base64_image

from .removal import BackgroundRemover, MissingModelFile, UnknownMethod, UnreadableModelFile


class RembgRequest(BaseModel):
    input_image: str = Field(description="base64 image, with or without a data: URL prefix")
    model: str = Field("", description='"" or "None": the offline opencv method; else a rembg model name')
    return_mask: bool = False
    alpha_matting: bool = False
    alpha_matting_foreground_threshold: int = Field(240, ge=0, le=255)
    alpha_matting_background_threshold: int = Field(10, ge=0, le=255)
    alpha_matting_erode_size: int = Field(10, ge=0, le=100)


class RembgResponse(BaseModel):
    image: str = Field(description="base64 PNG (no data: prefix): RGBA cutout, or the L mask")


def add_routes(app, remover: BackgroundRemover, models_dir: Callable[[], Path], max_pixels: Callable[[], int]) -> None:
    """`models_dir` and `max_pixels` are asked on each request, so changes at run time are seen."""

    def rembg(request: RembgRequest) -> RembgResponse:
        image = decode_image(request.input_image, max_pixels())
        try:
            output = remover.remove(
                image,
                request.model,
                models_dir(),
                alpha_matting=request.alpha_matting,
                fg_threshold=request.alpha_matting_foreground_threshold,
                bg_threshold=request.alpha_matting_background_threshold,
                erode_size=request.alpha_matting_erode_size,
                mask_only=request.return_mask,
            )
        except (UnknownMethod, MissingModelFile, UnreadableModelFile) as error:
            raise HTTPException(status_code=422, detail=str(error)) from error
        return RembgResponse(image=encode_png(output))

    # A plain (sync) function: FastAPI runs it in its thread pool, so removal never blocks the loop.
    app.add_api_route("/rembg", rembg, methods=["POST"], response_model=RembgResponse, tags=["rembg"])


def decode_image(data: str, max_pixels: int) -> Image.Image:
    """base64 (a data: URL prefix allowed) -> upright PIL image; 413 when it declares more pixels
    than the app's limit (checked before decoding), 422 when it is not an image."""
    try:
        image = decode_base64_image(data, max_pixels, field="input_image")
    except ImageTooLargeError as error:
        raise HTTPException(status_code=413, detail=str(error)) from error
    except BadImageError as error:
        raise HTTPException(status_code=422, detail=str(error)) from error
    # Phone photos carry their rotation in EXIF; the cutout should come out the way it is seen.
    return ImageOps.exif_transpose(image)


def encode_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
