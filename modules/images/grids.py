"""Image grids as A1111 makes them: pictures pasted in rows, legends drawn on the top and left
(X/Y/Z plot, prompt matrix), and grids saved to outputs/txt2img-grids/ or img2img-grids/.

The font is Pillow's own (`ImageFont.load_default(size=...)`, bundled with Pillow since 10.1), so
labels look the same on every machine and no system font is assumed.
"""

import io
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from PIL import Image, ImageColor, ImageDraw, ImageFont

from modules.atomic import write_bytes_atomic
from modules.images.saving import ImageSaveError, png_bytes

GRID_FOLDERS = {"txt2img": "txt2img-grids", "img2img": "img2img-grids"}
GRID_FORMATS = ("png", "jpg", "jpeg", "webp")
# A1111's grid colours (settings grid_text_active_color, grid_text_inactive_color, grid_background_color).
ACTIVE_COLOR = "#000000"
INACTIVE_COLOR = "#999999"
BACKGROUND_COLOR = "#ffffff"
# Grids are numbered grid-0000, grid-0001 ... per folder, as A1111 names them.
GRID_BASENAME = "grid"


@dataclass
class GridLabel:
    """One legend line; an inactive one (prompt matrix: a part left out) is drawn grey and struck through."""

    text: str = ""
    is_active: bool = True


@dataclass
class _Line:
    """A wrapped legend line with its measured size."""

    text: str
    is_active: bool
    size: tuple[int, int] = (0, 0)
    allowed_width: int = 0


def grid_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at `size` pixels (at least 1)."""
    return ImageFont.load_default(size=max(1, int(size)))


def grid_rows(count: int, rows: int | None = None, batch_size: int = 1, rows_setting: int = -1) -> int:
    """A1111's row rule: explicit rows win; else the "n_rows" setting: > 0 that many, 0 as many as
    the batch size, -1 the rounded square root of the count. Never more rows than pictures."""
    if rows is None:
        if rows_setting > 0:
            rows = rows_setting
        elif rows_setting == 0:
            rows = batch_size
        else:
            rows = round(math.sqrt(count))
    return max(1, min(int(rows), max(1, count)))


def image_grid(
    images: list[Image.Image], rows: int | None = None, batch_size: int = 1, rows_setting: int = -1
) -> Image.Image:
    """Paste the pictures left to right, top to bottom, in cells the size of the first one."""
    if not images:
        raise ValueError("a grid needs at least one image")
    rows = grid_rows(len(images), rows, batch_size, rows_setting)
    cols = math.ceil(len(images) / rows)
    width, height = images[0].size
    grid = Image.new("RGB", (cols * width, rows * height), color="black")
    for index, image in enumerate(images):
        grid.paste(image.convert("RGB"), box=(index % cols * width, index // cols * height))
    return grid


@dataclass(frozen=True)
class GridLayout:
    """Where the legends go: the padding added on the left and top, the font size and line gap."""

    pad_left: int
    pad_top: int
    font_size: int
    line_spacing: int


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """Words into lines no wider than `width` (a single long word keeps its own line)."""
    lines = [""]
    for word in text.split():
        candidate = f"{lines[-1]} {word}".strip()
        if draw.textlength(candidate, font=font) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines


def _measure(draw, labels: list[GridLabel], font, allowed_width: int) -> list[_Line]:
    lines = []
    for label in labels:
        for text in _wrap(draw, label.text, font, allowed_width):
            left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=font)
            lines.append(_Line(text, label.is_active, (right - left, bottom - top), allowed_width))
    return lines


def _layout(width: int, height: int, hor_texts, ver_texts):
    """Measure and wrap every legend; returns the layout, the wrapped lines and the font."""
    font_size = (width + height) // 25
    line_spacing = font_size // 2
    font = grid_font(font_size)
    any_vertical = any(label.text for labels in ver_texts for label in labels)
    pad_left = width * 3 // 4 if any_vertical else 0
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    hor_lines = [_measure(draw, labels, font, width) for labels in hor_texts]
    ver_lines = [_measure(draw, labels, font, pad_left) for labels in ver_texts]
    hor_heights = [sum(line.size[1] + line_spacing for line in lines) - line_spacing for lines in hor_lines]
    pad_top = 0 if sum(hor_heights) <= 0 else max(hor_heights) + line_spacing * 2
    layout = GridLayout(pad_left, pad_top, font_size, line_spacing)
    return layout, hor_lines, ver_lines, hor_heights, font


def grid_layout(
    width: int, height: int, hor_texts: list[list[GridLabel]], ver_texts: list[list[GridLabel]]
) -> GridLayout:
    """The paddings annotate_grid will add for these legends (tests and callers that crop cells)."""
    return _layout(width, height, hor_texts, ver_texts)[0]


def annotate_grid(
    grid: Image.Image,
    width: int,
    height: int,
    hor_texts: list[list[GridLabel]],
    ver_texts: list[list[GridLabel]],
    margin: int = 0,
    colors: tuple[str, str, str] = (ACTIVE_COLOR, INACTIVE_COLOR, BACKGROUND_COLOR),
) -> Image.Image:
    """A1111's draw_grid_annotations: one legend per column on top, one per row on the left (the
    left column is 3/4 of a cell wide when any row has text), cells `margin` pixels apart. A label
    too wide for its space is wrapped at words, then its font shrunk until it fits."""
    cols, rows = grid.width // width, grid.height // height
    if cols != len(hor_texts):
        raise ValueError(f"bad number of horizontal texts: {len(hor_texts)}; must be {cols}")
    if rows != len(ver_texts):
        raise ValueError(f"bad number of vertical texts: {len(ver_texts)}; must be {rows}")
    active, inactive, background = (ImageColor.getcolor(color, "RGB") for color in colors)
    layout, hor_lines, ver_lines, hor_heights, font = _layout(width, height, hor_texts, ver_texts)
    ver_heights = [sum(line.size[1] for line in lines) for lines in ver_lines]
    result = Image.new(
        "RGB",
        (grid.width + layout.pad_left + margin * (cols - 1), grid.height + layout.pad_top + margin * (rows - 1)),
        background,
    )
    for row in range(rows):
        for col in range(cols):
            cell = grid.crop((width * col, height * row, width * (col + 1), height * (row + 1)))
            result.paste(cell, (layout.pad_left + (width + margin) * col, layout.pad_top + (height + margin) * row))
    draw = ImageDraw.Draw(result)

    def draw_lines(x: float, y: float, lines: list[_Line]) -> None:
        for line in lines:
            size, line_font = layout.font_size, font
            while draw.textlength(line.text, font=line_font) > line.allowed_width and size > 1:
                size -= 1
                line_font = grid_font(size)
            fill = active if line.is_active else inactive
            middle = y + line.size[1] / 2
            draw.multiline_text((x, middle), line.text, font=line_font, fill=fill, anchor="mm", align="center")
            if not line.is_active:  # struck through, as A1111 marks a left-out prompt part
                half = line.size[0] // 2
                draw.line((x - half, middle, x + half, middle), fill=inactive, width=4)
            y += line.size[1] + layout.line_spacing

    for col in range(cols):
        x = layout.pad_left + (width + margin) * col + width / 2
        draw_lines(x, layout.pad_top / 2 - hor_heights[col] / 2, hor_lines[col])
    for row in range(rows):
        y = layout.pad_top + (height + margin) * row + height / 2 - ver_heights[row] / 2
        draw_lines(layout.pad_left / 2, y, ver_lines[row])
    return result


def _encoded(image: Image.Image, fmt: str, infotext: str | None) -> bytes:
    """The grid's file bytes; the infotext in the PNG "parameters" chunk, or the EXIF
    UserComment for JPEG and WebP (where A1111 puts it)."""
    if fmt == "png":
        return png_bytes(image, infotext)
    exif = Image.Exif()
    if infotext:
        exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + infotext.encode("utf-16-be")
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG" if fmt in ("jpg", "jpeg") else "WEBP", exif=exif, quality=90)
    return buffer.getvalue()


def _next_grid_number(folder: Path) -> int:
    numbers = []
    for path in folder.iterdir():
        stem = path.name.split(".", 1)[0]
        if stem.startswith(f"{GRID_BASENAME}-") and stem[len(GRID_BASENAME) + 1 :].isdigit():
            numbers.append(int(stem[len(GRID_BASENAME) + 1 :]))
    return max(numbers, default=-1) + 1


def save_grid(
    engine, result_or_image, mode: str, infotext: str, settings=None, today: date | None = None
) -> Path | None:
    """Save a grid to outputs/<mode>-grids/YYYY-MM-DD/grid-NNNN.<grid_format> when the "grid_save"
    setting is on (None when off). `result_or_image` is a picture, or a GenerationResult whose
    first image is the grid. `settings` is the job's snapshot (p.settings); the engine's settings
    otherwise. Written atomically; an ImageSaveError (an OSError) says where and why it failed."""
    settings = settings if settings is not None else engine.settings
    if not settings.get("grid_save"):
        return None
    if mode not in GRID_FOLDERS:
        raise ValueError(f"unknown mode {mode!r}; expected one of {list(GRID_FOLDERS)}")
    image = result_or_image
    if not isinstance(image, Image.Image):
        image = result_or_image.images[0].image
    fmt = str(settings.get("grid_format") or "png").lower().lstrip(".")
    if fmt not in GRID_FORMATS:
        raise ValueError(f"grid_format {fmt!r} is not one of {list(GRID_FORMATS)}")
    data = _encoded(image, fmt, infotext)
    folder = engine.paths.outputs_dir / GRID_FOLDERS[mode] / (today or date.today()).isoformat()
    # The image saver's lock: its numbering and ours never race within one engine.
    with engine.saver._lock:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{GRID_BASENAME}-{_next_grid_number(folder):04d}.{fmt}"
            write_bytes_atomic(path, data)
        except OSError as error:
            raise ImageSaveError(
                f"could not save the grid to {folder}: {error.strerror or error}", error.errno
            ) from error
    return path
