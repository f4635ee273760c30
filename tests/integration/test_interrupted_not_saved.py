"""A1111 saves no half-denoised noise: a batch stopped by Interrupt or Skip before its last step is
shown (in the result) but not written to the outputs folder; finished batches are saved."""

import time

from modules.processing.request import Txt2ImgRequest


def wait_for_step(job, batch_index: int, step: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if job.batch_index >= batch_index and job.step >= step:
            return
        time.sleep(0.01)
    raise TimeoutError(f"job never reached batch {batch_index} step {step}")


def saved_seeds(engine) -> set[int]:
    folder = engine.paths.outputs_dir / "txt2img-images"
    return {int(path.stem.split("-")[1]) for path in folder.rglob("*.png")}


def request(seed: int, n_iter: int, steps: int) -> Txt2ImgRequest:
    return Txt2ImgRequest(prompt="noise check", steps=steps, width=64, height=64, seed=seed, n_iter=n_iter,
                          save_images=True)  # fmt: skip


def test_interrupted_batch_is_shown_but_not_saved(engine):
    job = engine.submit_txt2img(request(9100, n_iter=3, steps=80))
    wait_for_step(job, 0, 3)
    job.interrupt()
    result = job.outcome()
    assert result.interrupted and [item.seed for item in result.images] == [9100]
    assert result.images[0].path is None
    assert 9100 not in saved_seeds(engine)


def test_skipped_batch_is_not_saved_and_the_next_one_is(engine):
    job = engine.submit_txt2img(request(9200, n_iter=2, steps=40))
    wait_for_step(job, 0, 3)
    job.skip()
    result = job.outcome()
    assert not result.interrupted and [item.seed for item in result.images] == [9200, 9201]
    assert result.images[0].path is None and result.images[1].path is not None
    assert {9200, 9201} & saved_seeds(engine) == {9201}
