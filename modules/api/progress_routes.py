"""Progress, interrupt and skip: answered on the event loop, never behind waiting requests."""

from fastapi import APIRouter

from modules.api.models import ProgressResponse
from modules.engine import Engine
from modules.images.saving import png_bytes


def build_progress_router(engine: Engine) -> APIRouter:
    router = APIRouter(tags=["sdapi"])

    @router.post("/interrupt")
    async def interrupt() -> dict:
        if engine.queue.current is not None:
            engine.queue.current.interrupt()
        return {}

    @router.post("/skip")
    async def skip() -> dict:
        if engine.queue.current is not None:
            engine.queue.current.skip()
        return {}

    @router.get("/progress", response_model=ProgressResponse)
    async def progress(skip_current_image: bool = False) -> ProgressResponse:
        job = engine.queue.current
        if job is None:
            return ProgressResponse(progress=0.0, eta_relative=0.0, state=_state(None, engine))
        preview = job.preview
        current = _b64_png(preview) if preview is not None and not skip_current_image else None
        return ProgressResponse(
            progress=job.fraction,
            eta_relative=job.eta_seconds or 0.0,
            state=_state(job, engine),
            current_image=current,
            textinfo=None,
        )

    return router


def _b64_png(image) -> str:
    import base64

    return base64.b64encode(png_bytes(image, None)).decode("ascii")


def _state(job, engine) -> dict:
    return {
        "skipped": bool(job and job.skip_pending),
        "interrupted": bool(job and job.interrupted),
        "job": job.description if job else "",
        "job_count": job.batch_count if job else 0,
        "job_no": job.batch_index if job else 0,
        "sampling_step": job.step if job else 0,
        "sampling_steps": job.steps if job else 0,
        "queued": engine.queue.waiting,
    }
