"""/sdapi/v1 routes: each builds the engine's request type, queues it and waits."""

import base64
import json

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from modules.api.models import (
    ImagesResponse,
    OptionsBody,
    ProgressResponse,
    SamplerItem,
    SchedulerItem,
    SDModelItem,
    Txt2ImgBody,
)
from modules.engine import Engine
from modules.images.saving import png_bytes
from modules.models.loading import CheckpointLoadError
from modules.models.manager import NoCheckpointError, UnknownCheckpointError
from modules.processing.request import explain_error
from modules.sampling import catalog


def register_api(app: FastAPI, engine: Engine) -> None:
    app.include_router(build_router(engine), prefix="/sdapi/v1")


def build_router(engine: Engine) -> APIRouter:
    router = APIRouter(tags=["sdapi"])

    @router.post("/txt2img", response_model=ImagesResponse)
    async def txt2img(body: Txt2ImgBody) -> ImagesResponse:
        try:
            request = body.to_request()
        except (ValidationError, ValueError) as error:
            raise HTTPException(status_code=422, detail=explain_error(error)) from error
        job = engine.submit_txt2img(request)
        result = await run_in_threadpool(_outcome, job)
        images = [_b64_png(item.image, item.infotext) for item in result.images] if body.send_images else []
        return ImagesResponse(images=images, parameters=body.model_dump(), info=json.dumps(_info(result)))

    @router.get("/samplers", response_model=list[SamplerItem])
    def samplers() -> list[SamplerItem]:
        return [SamplerItem(name=s.name, aliases=list(s.aliases), options={}) for s in catalog.SAMPLERS]

    @router.get("/schedulers", response_model=list[SchedulerItem])
    def schedulers() -> list[SchedulerItem]:
        return [SchedulerItem(name=label.lower(), label=label) for label in catalog.SCHEDULE_TYPES]

    @router.get("/sd-models", response_model=list[SDModelItem])
    def sd_models() -> list[SDModelItem]:
        items = []
        for info in engine.models.checkpoints():
            sha256 = engine.models.cached_sha256(info)
            items.append(
                SDModelItem(
                    title=engine.models.title(info),
                    model_name=info.model_name,
                    hash=sha256[:10] if sha256 else None,
                    sha256=sha256,
                    filename=str(info.path),
                )
            )
        return items

    @router.post("/refresh-checkpoints")
    def refresh_checkpoints() -> dict:
        return {"count": len(engine.models.checkpoints())}

    @router.get("/options")
    def get_options() -> dict:
        loaded = engine.models.loaded
        return {"sd_model_checkpoint": engine.models.title(loaded.info) if loaded else None}

    @router.post("/options")
    async def set_options(body: OptionsBody) -> dict:
        if body.sd_model_checkpoint:
            job = engine.submit_model_switch(body.sd_model_checkpoint)
            await run_in_threadpool(_outcome, job)
        return {}

    @router.post("/interrupt")
    def interrupt() -> dict:
        if engine.queue.current is not None:
            engine.queue.current.interrupt()
        return {}

    @router.get("/progress", response_model=ProgressResponse)
    def progress() -> ProgressResponse:
        job = engine.queue.current
        if job is None:
            return ProgressResponse(progress=0.0, eta_relative=0.0, state=_state(None, engine))
        return ProgressResponse(
            progress=job.fraction, eta_relative=job.eta_seconds or 0.0, state=_state(job, engine), textinfo=None
        )

    return router


def _outcome(job):
    """Wait for a job; engine errors become HTTP errors with the engine's own message."""
    try:
        return job.outcome()
    except (NoCheckpointError, CheckpointLoadError) as error:
        raise HTTPException(status_code=503, detail=str(error)) from error
    except (UnknownCheckpointError, ValueError) as error:
        raise HTTPException(status_code=422, detail=str(error)) from error


def _b64_png(image, infotext: str) -> str:
    return base64.b64encode(png_bytes(image, infotext)).decode("ascii")


def _state(job, engine) -> dict:
    return {
        "skipped": False,
        "interrupted": bool(job and job.interrupted),
        "job": job.description if job else "",
        "job_count": job.batch_count if job else 0,
        "job_no": job.batch_index if job else 0,
        "sampling_step": job.step if job else 0,
        "sampling_steps": job.steps if job else 0,
        "queued": engine.queue.waiting,
    }


def _info(result) -> dict:
    return {
        "prompt": result.prompt,
        "all_prompts": [result.prompt] * len(result.images),
        "negative_prompt": result.negative_prompt,
        "all_negative_prompts": [result.negative_prompt] * len(result.images),
        "seed": result.seed,
        "all_seeds": result.seeds,
        "subseed": -1,
        "all_subseeds": [-1] * len(result.images),
        "subseed_strength": 0,
        "width": result.width,
        "height": result.height,
        "sampler_name": result.sampler_name,
        "scheduler": result.scheduler,
        "cfg_scale": result.cfg_scale,
        "steps": result.steps,
        "batch_size": result.batch_size,
        "sd_model_name": result.model_name,
        "sd_model_hash": result.model_hash,
        "index_of_first_image": 0,
        "infotexts": result.infotexts,
        "interrupted": result.interrupted,
        "warnings": result.warnings,
    }
