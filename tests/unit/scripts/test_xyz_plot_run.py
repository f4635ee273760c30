"""The X/Y/Z plot's loop without a model: cells in load-friendly order, an interrupt stops between
cells (the grid still comes back, unmade cells black), and progress plans one part per cell."""

from types import SimpleNamespace

from PIL import Image

from modules.config.settings import Settings
from modules.jobs import Job
from modules.processing.request import Txt2ImgRequest
from modules.processing.result import GeneratedImage, GenerationResult
from scripts.xyz_grid import XyzArgs, XyzPlot


def fake_p(tmp_path, stop_after: int | None = None):
    """A `p` whose process() makes a flat picture per call (its colour from the steps) and
    interrupts the job after `stop_after` calls, as the Interrupt button would between cells."""
    job = Job("job-1", "test", work=lambda job: None)
    calls = []

    def process(**overrides):
        calls.append(overrides)
        if stop_after is not None and len(calls) >= stop_after:
            job.interrupt()
        picture = Image.new("RGB", (64, 64), (overrides.get("steps", 1) * 20, 50, 50))
        return GenerationResult(
            [GeneratedImage(picture, overrides["seed"], "a\nSteps: 1, Seed: 1, Sampler: x")],
            "a",
            "",
            overrides["seed"],
            64,
            64,
            "Euler a",
            "Automatic",
            1,
            7.0,
            1,
            "tiny",
            "",
        )

    p = SimpleNamespace(
        request=Txt2ImgRequest(prompt="a", seed=3, width=64, height=64, save_images=False),
        settings=Settings(tmp_path / "config.json").snapshot(),
        seed=3,
        job=job,
        process=process,
        upscalers=None,
        prompt="a",
        negative_prompt="",
    )
    return p, calls


def test_interrupt_stops_between_cells(tmp_path):
    p, calls = fake_p(tmp_path, stop_after=2)
    args = XyzArgs(x_type="Steps", x_values="1-3", y_type="CFG Scale", y_values="5,6", draw_legend=False)
    result = XyzPlot().run(p, args)
    assert len(calls) == 2 and result.interrupted
    assert p.job.parts == 6  # progress planned for every cell
    grid = result.images[0].image
    assert grid.size == (3 * 64, 2 * 64)
    assert grid.getpixel((10, 10)) == (20, 50, 50) and grid.getpixel((74, 10)) == (40, 50, 50)
    assert grid.getpixel((138, 10)) == (0, 0, 0)  # not made


def test_costliest_axis_outermost_and_seed_offsets(tmp_path):
    p, calls = fake_p(tmp_path)
    args = XyzArgs(
        x_type="Steps", x_values="1,2", y_type="CFG Scale", y_values="5,6", vary_seeds_y=True, draw_legend=False
    )
    XyzPlot().run(p, args)
    # Equal costs: Y outside X, as A1111 loops; Y varies the seed by one per row.
    assert [(c["steps"], c["cfg_scale"], c["seed"]) for c in calls] == [
        (1, 5.0, 3),
        (2, 5.0, 3),
        (1, 6.0, 4),
        (2, 6.0, 4),
    ]
