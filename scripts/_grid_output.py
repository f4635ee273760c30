"""A script's grid as the first picture of its result (A1111: the grid is images[0]), saved to
outputs/<mode>-grids/ by modules/images/grids.py when the settings say so."""

from PIL import Image

from modules.images.grids import save_grid
from modules.processing.result import GeneratedImage, GenerationResult
from scripts._results import mode_of


def grid_item(p, grid: Image.Image, like: GeneratedImage, result: GenerationResult) -> GeneratedImage:
    """The grid as a result picture that carries `like`'s infotext (A1111 gives a grid the first
    picture's), saved when the request saves images and "Always save all generated image grids"
    is on. A failed save is recorded on `result` (as pictures' saves are), not raised."""
    path = None
    engine = getattr(p, "engine", None)  # exposed on p by the engine; without it grids are only shown
    if engine is not None and p.request.save_images and result.save_error is None:
        try:
            path = save_grid(engine, grid, mode_of(p), like.infotext, settings=p.settings)
        except OSError as error:
            result.save_error = str(error)
            result.warnings.append(f"The grid was not saved: {error}")
    return GeneratedImage(
        image=grid,
        seed=like.seed,
        infotext=like.infotext,
        path=path,
        subseed=like.subseed,
        prompt=like.prompt,
        negative_prompt=like.negative_prompt,
    )
