"""`POST /rembg`, shaped like the widely used A1111 rembg extension's route, so its clients work."""

import base64
import binascii
import io
from collections.abc import Callable
from pathlib import Path

from fastapi import HTTPException
from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import BaseModel, Field

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


def add_routes(app, remover: BackgroundRemover, models_dir: Callable[[], Path]) -> None:
    """`models_dir` is asked on each request, so a models folder changed at run time is seen."""

    def rembg(request: RembgRequest) -> RembgResponse:
        image = decode_image(request.input_image)
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


def decode_image(data: str) -> Image.Image:
    """base64 (a data: URL prefix allowed) -> upright PIL image, or HTTP 422 saying why not."""
    if data.startswith("data:"):
        data = data.partition(",")[2]
    try:
        image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
        image.load()
    except (ValueError, binascii.Error, UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise HTTPException(status_code=422, detail=f"input_image: not a base64-encoded image ({error})") from error
    # Phone photos carry their rotation in EXIF; the cutout should come out the way it is seen.
    return ImageOps.exif_transpose(image)


def encode_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
