"""Two small PNG charts drawn with Pillow's ImageDraw (no matplotlib): horizontal bars (one per
configuration) and lines (one per configuration) with labelled axes."""

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

PALETTE = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]  # fmt: skip
WHITE, BLACK, GREY = (255, 255, 255), (0, 0, 0), (200, 200, 200)


def _font(size: int = 14):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _text_width(draw: ImageDraw.ImageDraw, text: str, font) -> int:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    return right - left


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(math.ceil(top / step)) + 1)]


def _label(value: float) -> str:
    return f"{value:g}" if value >= 1 or value == 0 else f"{value:.2g}"


def bar_chart(bars, path: Path, title: str, x_label: str, y_label: str, marker=None) -> None:
    """`bars`: [(label, value)], drawn as horizontal bars; `marker` (value, text): a dashed line."""
    font, small = _font(14), _font(12)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = 40 + max([_text_width(probe, label, small) for label, _ in bars] + [60])
    bar_h, top, right = 22, 50, 60
    width, height = max(800, left + 520), top + max(1, len(bars)) * bar_h + 80
    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    draw.text((10, 10), title, fill=BLACK, font=font)
    plot_w = width - left - right
    ticks = nice_ticks(max([value for _, value in bars] + [marker[0] if marker else 0, 1]))
    scale = plot_w / ticks[-1]
    bottom = top + len(bars) * bar_h
    for tick in ticks:
        x = left + tick * scale
        draw.line([(x, top), (x, bottom)], fill=GREY)
        draw.text((x - _text_width(draw, _label(tick), small) / 2, bottom + 6), _label(tick), fill=BLACK, font=small)
    for i, (label, value) in enumerate(bars):
        y = top + i * bar_h
        draw.text((left - 8 - _text_width(draw, label, small), y + 4), label, fill=BLACK, font=small)
        if value:
            draw.rectangle([left, y + 3, left + value * scale, y + bar_h - 3], fill=PALETTE[i % len(PALETTE)])
            draw.text((left + value * scale + 4, y + 4), str(value), fill=BLACK, font=small)
        else:
            draw.text((left + 4, y + 4), "none fits", fill=BLACK, font=small)
    if marker:
        x = left + marker[0] * scale
        for y in range(top - 8, bottom, 8):
            draw.line([(x, y), (x, y + 4)], fill=(214, 39, 40), width=2)
        draw.text((x - 4 - _text_width(draw, marker[1], small), top - 20), marker[1], fill=(214, 39, 40), font=small)
    draw.line([(left, top), (left, bottom), (left + plot_w, bottom)], fill=BLACK)
    draw.text((left + plot_w / 2 - _text_width(draw, x_label, font) / 2, bottom + 26), x_label, fill=BLACK, font=font)
    _vertical_text(image, y_label, font, (8, top + (bottom - top) / 2))
    image.save(path)


def line_chart(series: dict, path: Path, title: str, x_label: str, y_label: str) -> None:
    """`series`: {name: [(x, y), ...]}, one coloured line with dots each, and a legend."""
    font, small = _font(14), _font(12)
    width, height, left, top, right, bottom_margin = 900, 560, 80, 50, 260, 70
    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    draw.text((10, 10), title, fill=BLACK, font=font)
    points = [point for values in series.values() for point in values]
    x_ticks = nice_ticks(max([x for x, _ in points] + [1]))
    y_ticks = nice_ticks(max([y for _, y in points] + [1e-3]))
    plot_w, plot_h = width - left - right, height - top - bottom_margin
    bottom = top + plot_h

    def at(x, y):
        return left + x / x_ticks[-1] * plot_w, bottom - y / y_ticks[-1] * plot_h

    for tick in x_ticks:
        x, _ = at(tick, 0)
        draw.line([(x, top), (x, bottom)], fill=GREY)
        draw.text((x - _text_width(draw, _label(tick), small) / 2, bottom + 6), _label(tick), fill=BLACK, font=small)
    for tick in y_ticks:
        _, y = at(0, tick)
        draw.line([(left, y), (left + plot_w, y)], fill=GREY)
        draw.text((left - 8 - _text_width(draw, _label(tick), small), y - 7), _label(tick), fill=BLACK, font=small)
    draw.line([(left, top), (left, bottom), (left + plot_w, bottom)], fill=BLACK)
    for i, (name, values) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        xy = [at(x, y) for x, y in values]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        for x, y in xy:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        legend_y = top + i * 18
        draw.line([(left + plot_w + 15, legend_y + 7), (left + plot_w + 35, legend_y + 7)], fill=colour, width=3)
        draw.text((left + plot_w + 40, legend_y), name, fill=BLACK, font=small)
    if not series:
        draw.text((left + 10, top + 10), "no probe completed", fill=BLACK, font=font)
    draw.text((left + plot_w / 2 - _text_width(draw, x_label, font) / 2, bottom + 30), x_label, fill=BLACK, font=font)
    _vertical_text(image, y_label, font, (8, top + plot_h / 2))
    image.save(path)


def _vertical_text(image: Image.Image, text: str, font, centre_left: tuple[float, float]) -> None:
    """Paste `text` rotated 90 degrees, its middle at the given height, against the left edge."""
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    box = scratch.textbbox((0, 0), text, font=font)
    label = Image.new("RGB", (box[2] + 4, box[3] + 4), WHITE)
    ImageDraw.Draw(label).text((2, 2), text, fill=BLACK, font=font)
    label = label.rotate(90, expand=True)
    x, middle = centre_left
    image.paste(label, (int(x), int(middle - label.height / 2)))
