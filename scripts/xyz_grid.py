"""A1111's "X/Y/Z plot": one picture per combination of up to three axes' values, in a grid with
legends (Z as sub-grids side by side, with titles).

Each cell is `p.process(**overrides)`: the untouched request with the axes' fields changed, so a
cell is pixel for pixel the picture that request makes alone. Values are checked (syntax and the
cell limit at submit, through Args; names against their lists when the job starts) before any
cell is made. Cells run with the costliest axis outermost, so each checkpoint loads once; a cell
whose request is refused (ValueError) is drawn as a grey picture with the reason and the rest go
on; an interrupt stops between cells.

API: `script_name: "x/y/z plot"`, `script_args` positional in A1111's order (the Args fields'
order) or named. Axis types by label or by index into A1111's list (scripts/_xyz_axes.py).
"""

from __future__ import annotations

import itertools
from typing import Any

from PIL import Image, ImageDraw
from pydantic import BaseModel, Field, model_validator

from modules.images.grids import GridLabel, annotate_grid, grid_font, image_grid, save_grid
from modules.images.infotext import format_value
from modules.plugins.scripts import Script
from modules.processing.result import GeneratedImage, GenerationResult
from scripts._xyz_axes import Axis, AxisContext, axes_for, engine_context, find_axis
from scripts._xyz_values import join_values

MAX_CELLS = 400  # x * y * z pictures in one plot
MAX_MARGIN = 500
AXIS_NAMES = ("X", "Y", "Z")
ERROR_CELL_COLOR = (128, 128, 128)


class XyzArgs(BaseModel):
    """A1111 v1.10's arguments, in its positional order."""

    x_type: int | str = 1  # A1111's default: Seed
    x_values: str = ""
    x_values_dropdown: list[str] | None = None
    y_type: int | str = 0
    y_values: str = ""
    y_values_dropdown: list[str] | None = None
    z_type: int | str = 0
    z_values: str = ""
    z_values_dropdown: list[str] | None = None
    draw_legend: bool = True
    include_lone_images: bool = False
    include_sub_grids: bool = False
    no_fixed_seeds: bool = False  # "Keep -1 for seeds"
    vary_seeds_x: bool = False
    vary_seeds_y: bool = False
    vary_seeds_z: bool = False
    margin_size: int = Field(0, ge=0, le=MAX_MARGIN)
    csv_mode: bool = False  # "Use text inputs instead of dropdowns"

    def axis_input(self, index: int) -> tuple[Any, str]:
        """(type, values text) of axis X, Y or Z."""
        name = AXIS_NAMES[index].lower()
        return getattr(self, f"{name}_type"), self.values_text(index)

    def values_text(self, index: int) -> str:
        """The dropdown's picks when given (and not csv_mode), else the text, as one CSV line.
        (A1111 reads only the dropdown for choice axes; clients that send the text are served too.)"""
        name = AXIS_NAMES[index].lower()
        picks = getattr(self, f"{name}_values_dropdown")
        if picks and not self.csv_mode:
            return join_values(picks)
        return getattr(self, f"{name}_values")

    @model_validator(mode="after")
    def _syntax_and_size(self) -> XyzArgs:
        """Check what can be checked without the request: value syntax and the cell count."""
        total = 1
        for index, name in enumerate(AXIS_NAMES):
            wanted, text = self.axis_input(index)
            axis = _axis_for_any_mode(wanted, name)
            if axis is None:
                continue
            total *= len(axis.parse(text, AxisContext(None, "txt2img"), name))
            if total > MAX_CELLS:
                raise ValueError(f"X/Y/Z plot: too many cells (at most {MAX_CELLS})")
        return self


def _axis_for_any_mode(wanted: Any, name: str) -> Axis | None:
    """The axis `wanted` names in either tab (None when an index means different axes there)."""
    found, errors = [], []
    for mode in ("txt2img", "img2img"):
        try:
            found.append(find_axis(mode, wanted, name))
        except ValueError as error:
            errors.append(error)
    if not found:
        raise errors[0]
    return found[0] if len({axis.label for axis in found}) == 1 else None


class XyzPlot(Script):
    title = "X/Y/Z plot"
    Args = XyzArgs

    def ui(self) -> dict[str, Any]:
        from scripts._xyz_ui import build_ui

        return build_ui(getattr(self, "engine", None))

    def run(self, p, args: XyzArgs) -> GenerationResult:
        request = p.request
        mode = "img2img" if request.init_images else "txt2img"
        ctx = _context(p, mode)
        plan = []  # (name, axis, values, raw text)
        total = 1
        for index, name in enumerate(AXIS_NAMES):
            wanted, text = args.axis_input(index)
            axis = find_axis(mode, wanted, name)
            values = axis.parse(text, ctx, name)
            total *= len(values)
            if total > MAX_CELLS:
                raise ValueError(f"X/Y/Z plot: too many cells (at most {MAX_CELLS})")
            plan.append((name, axis, values, text))
        return _Plot(p, args, plan, mode).run()


def _context(p, mode: str) -> AxisContext:
    return engine_context(getattr(p, "engine", None), mode, p.request, p.settings, getattr(p, "upscalers", None))


class _Plot:
    """One plot's run: seeds, the cells in load-friendly order, the grids and the result."""

    def __init__(self, p, args: XyzArgs, plan: list, mode: str):
        from modules.sampling.noise import pick_seed

        self.p, self.args, self.mode = p, args, mode
        self.pick_seed = pick_seed
        fixed = not args.no_fixed_seeds
        self.axes = []
        for name, axis, values, text in plan:
            if fixed and axis.label in ("Seed", "Var. seed"):
                values = [pick_seed(-1) if value in (-1, None) else value for value in values]
            self.axes.append((name, axis, values, text))
        request = p.request
        # p.seed is the base seed already picked for the job: the fixed seed of every cell.
        self.base_seed = p.seed if fixed or request.seed != -1 else -1
        self.subseed = pick_seed(-1) if fixed and request.subseed == -1 else None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(len(values) for _, _, values, _ in self.axes)

    def cell_order(self) -> list[tuple[int, int, int]]:
        """Every (ix, iy, iz), the costliest axis outermost (ties: Z, then Y, then X outermost, as A1111)."""
        nx, ny, nz = self.shape
        outer_first = sorted((2, 1, 0), key=lambda i: -self.axes[i][1].cost)
        ranges = {i: self._load_order(i) for i in range(3)}
        order = []
        for combo in itertools.product(*(ranges[i] for i in outer_first)):
            place = dict(zip(outer_first, combo, strict=True))
            order.append((place[0], place[1], place[2]))
        return order

    def _load_order(self, index: int) -> list[int]:
        """An axis' value indices; for a checkpoint axis the loaded checkpoint's values first, so
        it is not loaded again after the others."""
        _, axis, values, _ = self.axes[index]
        order = list(range(len(values)))
        if axis.fields != ("checkpoint",):
            return order
        info = self.p.model.info
        loaded = {info.name.lower(), info.model_name.lower()}
        return sorted(order, key=lambda i: str(values[i]).strip().lower() not in loaded)

    def overrides(self, ix: int, iy: int, iz: int) -> dict:
        request = self.p.request
        overrides: dict = {}
        for (_, axis, values, _), index in zip(self.axes, (ix, iy, iz), strict=True):
            axis.apply(overrides, values[index], values, request)
        nx, ny, _ = self.shape
        xdim = nx if self.args.vary_seeds_x else 1
        ydim = ny if self.args.vary_seeds_y else 1
        offset = (ix if self.args.vary_seeds_x else 0) + (iy * xdim if self.args.vary_seeds_y else 0)
        offset += iz * xdim * ydim if self.args.vary_seeds_z else 0
        seed = overrides.get("seed", self.base_seed)
        overrides["seed"] = self.pick_seed(-1) if seed == -1 else seed + offset  # "Keep -1": a fresh seed per cell
        if self.subseed is not None and "subseed" not in overrides:
            overrides["subseed"] = self.subseed
        return overrides

    def run(self) -> GenerationResult:
        p = self.p
        nx, ny, nz = self.shape
        job = p.job
        if job is not None and hasattr(job, "plan_parts"):
            job.plan_parts(nx * ny * nz)
        cells: dict[tuple[int, int, int], GenerationResult | str] = {}
        interrupted = False
        for ix, iy, iz in self.cell_order():
            if job is not None and job.interrupted:
                interrupted = True
                break
            try:
                cells[(ix, iy, iz)] = p.process(**self.overrides(ix, iy, iz))
            except (ValueError, LookupError) as error:  # this cell's request was refused: show why
                cells[(ix, iy, iz)] = f"{type(error).__name__}: {error}"
            done = cells[(ix, iy, iz)]
            if isinstance(done, GenerationResult) and done.interrupted:
                interrupted = True
                break
        return self.result(cells, interrupted)

    def result(self, cells: dict, interrupted: bool) -> GenerationResult:
        p, args = self.p, self.args
        nx, ny, nz = self.shape
        made = [cell for cell in cells.values() if isinstance(cell, GenerationResult) and cell.images]
        first = made[0] if made else None
        width, height = _cell_size(made, p.request)
        pictures = {place: _cell_picture(cell, width, height) for place, cell in cells.items()}
        blank = Image.new("RGB", (width, height), "black")  # cells an interrupt left unmade

        (_, x_axis, xs, _), (_, y_axis, ys, _), (_, z_axis, zs, _) = self.axes
        hor = [[GridLabel(x_axis.format(x))] for x in xs]
        ver = [[GridLabel(y_axis.format(y))] for y in ys]
        sub_grids = []
        for iz in range(nz):
            images = [pictures.get((ix, iy, iz), blank) for iy in range(ny) for ix in range(nx)]
            grid = image_grid(images, rows=ny)
            if args.draw_legend:
                grid = annotate_grid(grid, width, height, hor, ver, args.margin_size, _colors(p.settings))
            sub_grids.append(grid)
        if nz > 1:
            sub_width, sub_height = (max(sizes) for sizes in zip(*(grid.size for grid in sub_grids), strict=True))
            z_grid = image_grid([_padded(grid, sub_width, sub_height) for grid in sub_grids], rows=1)
            if args.draw_legend:
                titles = [[GridLabel(z_axis.format(z))] for z in zs]
                z_grid = annotate_grid(z_grid, sub_width, sub_height, titles, [[GridLabel()]], 0, _colors(p.settings))
        else:
            z_grid = sub_grids[0]

        infotext = self.grid_infotext(first)
        seed = first.images[0].seed if first else p.seed
        path = None
        warnings = [warning for cell in made for warning in cell.warnings]
        save_error = next((cell.save_error for cell in made if cell.save_error), None)
        if p.request.save_images and getattr(p, "engine", None) is not None:
            try:
                path = save_grid(p.engine, z_grid, self.mode, infotext, settings=p.settings)
            except OSError as error:
                save_error = save_error or str(error)
                warnings.append(f"The grid was not saved: {error}")
        like = first.images[0] if first else GeneratedImage(z_grid, seed, infotext, prompt=p.prompt)
        # The grids carry the first cell's prompts and seeds, as A1111's grid does.
        common = {"subseed": like.subseed, "prompt": like.prompt, "negative_prompt": like.negative_prompt}
        images = [GeneratedImage(z_grid, seed, infotext, path, **common)]
        if args.include_sub_grids:
            images += [GeneratedImage(grid, seed, infotext, **common) for grid in sub_grids]
        if args.include_lone_images:
            for place in self.cell_order_for_output():
                cell = cells.get(place)
                if isinstance(cell, GenerationResult):
                    images += cell.images
        base = first or _empty_result(p)
        return GenerationResult(
            images=images,
            prompt=base.prompt,
            negative_prompt=base.negative_prompt,
            seed=base.seed,
            width=base.width,
            height=base.height,
            sampler_name=base.sampler_name,
            scheduler=base.scheduler,
            steps=base.steps,
            cfg_scale=base.cfg_scale,
            batch_size=base.batch_size,
            model_name=base.model_name,
            model_hash=base.model_hash,
            subseed_strength=base.subseed_strength,
            interrupted=interrupted,
            warnings=list(dict.fromkeys(warnings)),
            save_error=save_error,
        )

    def cell_order_for_output(self) -> list[tuple[int, int, int]]:
        """Lone images in reading order: Z, then rows (Y), then columns (X), as the grid shows them."""
        nx, ny, nz = self.shape
        return [(ix, iy, iz) for iz in range(nz) for iy in range(ny) for ix in range(nx)]

    def grid_infotext(self, first: GenerationResult | None) -> str:
        """The first cell's infotext plus A1111's keys: Script, X Type, X Values, Fixed X Values
        (seed axes whose -1 were fixed), the same for Y and Z."""
        text = first.images[0].infotext if first else self.p.request.prompt
        pairs = [f"Script: {format_value(XyzPlot.title)}"]
        for name, axis, values, raw in self.axes:
            if axis.label == "Nothing":
                continue
            pairs.append(f"{name} Type: {format_value(axis.label)}")
            pairs.append(f"{name} Values: {format_value(raw)}")
            if axis.label in ("Seed", "Var. seed") and not self.args.no_fixed_seeds:
                pairs.append(f"Fixed {name} Values: {format_value(', '.join(str(v) for v in values))}")
        return f"{text}, {', '.join(pairs)}" if text else ", ".join(pairs)


def _colors(settings) -> tuple[str, str, str]:
    keys = ("grid_text_active_color", "grid_text_inactive_color", "grid_background_color")
    defaults = ("#000000", "#999999", "#ffffff")
    colors = []
    for key, default in zip(keys, defaults, strict=True):
        try:
            colors.append(str(settings.get(key)))
        except KeyError:
            colors.append(default)
    return tuple(colors)


def _cell_size(made: list[GenerationResult], request) -> tuple[int, int]:
    """The largest picture among the cells (Size axis: cells differ), else the request's size."""
    sizes = [cell.images[0].image.size for cell in made]
    if not sizes:
        return request.width, request.height
    return max(w for w, _ in sizes), max(h for _, h in sizes)


def _padded(image: Image.Image, width: int, height: int) -> Image.Image:
    if image.size == (width, height):
        return image
    canvas = Image.new("RGB", (width, height), "white")
    canvas.paste(image.convert("RGB"), (0, 0))
    return canvas


def _cell_picture(cell, width: int, height: int) -> Image.Image:
    if isinstance(cell, str):
        return error_picture(cell, width, height)
    if not cell.images:
        return Image.new("RGB", (width, height), "black")
    return _padded(cell.images[0].image, width, height)


def error_picture(message: str, width: int, height: int) -> Image.Image:
    """A grey cell with the reason written on it (wrapped to the cell)."""
    image = Image.new("RGB", (width, height), ERROR_CELL_COLOR)
    draw = ImageDraw.Draw(image)
    font = grid_font(max(8, min(width, height) // 12))
    lines, line = [], ""
    for word in message.split():
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) <= width - 4 or not line:
            line = candidate
        else:
            lines.append(line)
            line = word
    lines.append(line)
    draw.multiline_text((2, 2), "\n".join(lines), font=font, fill=(255, 255, 255))
    return image


def _empty_result(p) -> GenerationResult:
    request = p.request
    return GenerationResult(
        images=[], prompt=p.prompt, negative_prompt=p.negative_prompt, seed=p.seed, width=request.width,
        height=request.height, sampler_name=request.sampler_name, scheduler=request.scheduler,
        steps=request.steps, cfg_scale=request.cfg_scale, batch_size=request.batch_size,
        model_name=p.models.info.model_name, model_hash=p.models.short_hash or "",
    )  # fmt: skip


__all__ = ["XyzPlot", "XyzArgs", "MAX_CELLS", "axes_for", "error_picture"]
