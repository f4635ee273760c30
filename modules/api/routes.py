"""/sdapi/v1 routes: each builds the engine's request type, queues it and waits."""

import base64
import binascii
import io
import json

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from modules.api.models import (
    EmbeddingItem,
    EmbeddingsResponse,
    ExtensionItem,
    ExtrasSingleImageBody,
    ExtrasSingleImageResponse,
    ImagesResponse,
    OptionsBody,
    PngInfoBody,
    PngInfoResponse,
    PromptStyleItem,
    SamplerItem,
    SchedulerItem,
    ScriptArg,
    ScriptInfo,
    ScriptsList,
    SDModelItem,
    Txt2ImgBody,
)
from modules.engine import Engine
from modules.images.postprocessing import PostprocessingError, parse_step_args, run_steps
from modules.images.saving import png_bytes
from modules.models.loading import CheckpointLoadError
from modules.models.manager import NoCheckpointError, UnknownCheckpointError
from modules.processing.request import explain_error
from modules.sampling import catalog


def register_api(app: FastAPI, engine: Engine) -> None:
    from modules.api.progress_routes import build_progress_router

    app.include_router(build_router(engine), prefix="/sdapi/v1")
    app.include_router(build_progress_router(engine), prefix="/sdapi/v1")


def build_router(engine: Engine) -> APIRouter:
    router = APIRouter(tags=["sdapi"])

    @router.post("/txt2img", response_model=ImagesResponse)
    async def txt2img(body: Txt2ImgBody) -> ImagesResponse:
        try:
            job = engine.submit_txt2img(body.to_request())
        except (ValidationError, ValueError) as error:
            raise HTTPException(status_code=422, detail=explain_error(error)) from error
        result = await run_in_threadpool(_outcome, job)
        images = [_b64_png(item.image, item.infotext) for item in result.images] if body.send_images else []
        return ImagesResponse(images=images, parameters=body.model_dump(), info=json.dumps(_info(result)))

    @router.get("/samplers", response_model=list[SamplerItem])
    def samplers() -> list[SamplerItem]:
        return [SamplerItem(name=s.name, aliases=list(s.aliases), options=s.api_options()) for s in catalog.SAMPLERS]

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
        return {
            **engine.settings.values(),
            "sd_model_checkpoint": engine.models.title(loaded.info) if loaded else None,
        }

    @router.post("/options")
    async def set_options(body: OptionsBody) -> dict:
        changes = body.model_dump(exclude={"sd_model_checkpoint"}, exclude_unset=True)
        unknown = sorted(set(changes) - {spec.key for spec in engine.settings.specs})
        if unknown:
            raise HTTPException(status_code=422, detail=f"unknown setting(s): {', '.join(unknown)}")
        try:
            engine.settings.update(changes)  # all or nothing: one bad value changes nothing
        except ValueError as error:
            raise HTTPException(status_code=422, detail=str(error)) from error
        if body.sd_model_checkpoint:
            job = engine.submit_model_switch(body.sd_model_checkpoint)
            await run_in_threadpool(_outcome, job)
        return {}

    @router.post("/png-info", response_model=PngInfoResponse)
    def png_info(body: PngInfoBody) -> PngInfoResponse:
        image = decode_image(body.image)
        text = image.info.get("parameters") or ""
        items = {k: v for k, v in image.info.items() if isinstance(v, str) and k != "parameters"}
        return PngInfoResponse(info=text, items=items, parameters=engine.fields_from_infotext(text) if text else {})

    @router.get("/prompt-styles", response_model=list[PromptStyleItem])
    def prompt_styles() -> list[PromptStyleItem]:
        engine.styles.reload()
        return [
            PromptStyleItem(name=s.name, prompt=s.prompt, negative_prompt=s.negative_prompt)
            for s in engine.styles.styles.values()
        ]

    @router.get("/embeddings", response_model=EmbeddingsResponse)
    def embeddings() -> EmbeddingsResponse:
        return _embeddings_response(engine)

    @router.post("/refresh-embeddings")
    def refresh_embeddings() -> dict:
        _embeddings_response(engine)
        return {}

    @router.get("/extensions", response_model=list[ExtensionItem])
    def extensions() -> list[ExtensionItem]:
        items = []
        for ext in engine.extensions.extensions:
            git = ext.git()
            date = git["commit_date"]
            items.append(
                ExtensionItem(
                    name=ext.name,
                    remote=git["remote"],
                    branch=git["branch"],
                    commit_hash=git["commit_hash"],
                    commit_date=int(date) if date and date.isdigit() else None,
                    version=ext.version,
                    enabled=ext.status == "loaded",
                )
            )
        return items

    @router.get("/scripts", response_model=ScriptsList)
    def scripts() -> ScriptsList:
        # img2img does not exist yet: its list stays empty until it does.
        return ScriptsList(txt2img=[s.title.lower() for s in engine.plugins.selectable_scripts], img2img=[])

    @router.get("/script-info", response_model=list[ScriptInfo])
    def script_info() -> list[ScriptInfo]:
        return [
            ScriptInfo(
                name=script.title.lower(),
                is_alwayson=script.alwayson,
                is_img2img=False,
                args=[_script_arg(name, field) for name, field in script.Args.model_fields.items()],
            )
            for script in engine.plugins.scripts.values()
        ]

    @router.post("/extra-single-image", response_model=ExtrasSingleImageResponse)
    async def extra_single_image(body: ExtrasSingleImageBody) -> ExtrasSingleImageResponse:
        try:
            image = decode_image(body.image)
            chosen = parse_step_args(engine.plugins, body.steps)
            output = await run_in_threadpool(run_steps, engine, image, chosen)
        except PostprocessingError as error:
            raise HTTPException(status_code=422, detail=str(error)) from error
        return ExtrasSingleImageResponse(image=_b64_png(output, None), html_info="")

    return router


def _outcome(job):
    """Wait for a job; engine errors become HTTP errors with the engine's own message."""
    try:
        return job.outcome()
    except (NoCheckpointError, CheckpointLoadError) as error:
        raise HTTPException(status_code=503, detail=str(error)) from error
    except (UnknownCheckpointError, ValueError) as error:
        raise HTTPException(status_code=422, detail=str(error)) from error
    except RuntimeError as error:  # e.g. a Script-menu script that failed: say which and why
        raise HTTPException(status_code=500, detail=str(error)) from error


def decode_image(data: str):
    """A base64 image (with or without a data: URL prefix) -> PIL image, or a 422 saying why not."""
    from PIL import Image, UnidentifiedImageError

    if data.startswith("data:"):
        data = data.partition(",")[2]
    try:
        raw = base64.b64decode(data, validate=True)
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (ValueError, binascii.Error, UnidentifiedImageError, OSError) as error:
        raise HTTPException(status_code=422, detail=f"image: not a base64-encoded image ({error})") from error
    return image


def _embeddings_response(engine) -> EmbeddingsResponse:
    """Embeddings as the loaded model sees them (its text encoder's width decides what fits);
    with no model loaded yet, the default one is loaded first, as A1111 does at start-up."""
    try:
        model = engine.models.get(None)
    except LookupError as error:
        raise HTTPException(status_code=503, detail=str(error)) from error
    database = engine.embeddings_for(model)
    loaded = {
        name: EmbeddingItem(
            step=emb.step,
            sd_checkpoint=None,
            sd_checkpoint_name=emb.sd_checkpoint_name,
            shape=int(emb.vectors.shape[-1]),
            vectors=int(emb.vectors.shape[0]),
        )
        for name, emb in database.embeddings.items()
    }
    return EmbeddingsResponse(loaded=loaded, skipped=dict(database.skipped))


def _script_arg(name: str, field) -> ScriptArg:
    limits = {type(m).__name__: m for m in field.metadata}
    choices = list(getattr(field.annotation, "__args__", ())) if "Literal" in str(field.annotation) else None
    return ScriptArg(
        label=name,
        value=None if field.is_required() else field.default,
        minimum=_bound(limits, "Ge", "ge") if "Ge" in limits else _bound(limits, "Gt", "gt"),
        maximum=_bound(limits, "Le", "le") if "Le" in limits else _bound(limits, "Lt", "lt"),
        choices=[str(c) for c in choices] if choices else None,
    )


def _bound(limits: dict, kind: str, attribute: str):
    return getattr(limits.get(kind), attribute, None)


def _b64_png(image, infotext: str | None) -> str:
    return base64.b64encode(png_bytes(image, infotext)).decode("ascii")


def _info(result) -> dict:
    return {
        "prompt": result.prompt,
        "all_prompts": [result.prompt] * len(result.images),
        "negative_prompt": result.negative_prompt,
        "all_negative_prompts": [result.negative_prompt] * len(result.images),
        "seed": result.seed,
        "all_seeds": result.seeds,
        "subseed": result.subseeds[0] if result.subseeds else -1,
        "all_subseeds": result.subseeds,
        "subseed_strength": result.subseed_strength,
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
