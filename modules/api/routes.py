"""/sdapi/v1 routes: each builds the engine's request type, queues it and waits."""

import base64
import errno
import json
import time

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from modules.api.models import (
    EmbeddingItem,
    EmbeddingsResponse,
    ExtensionItem,
    ExtrasBatchImagesBody,
    ExtrasBatchImagesResponse,
    ExtrasSingleImageBody,
    ExtrasSingleImageResponse,
    ImagesResponse,
    Img2ImgBody,
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
from modules.api.pnginfo import a1111_parameters
from modules.api.safety import FiniteJsonRoute, describe, install_request_safety
from modules.engine import Engine
from modules.errors import UnsupportedHere
from modules.images.decoding import BadImageError, ImageTooLargeError, decode_base64_image
from modules.images.infotext import parse_infotext
from modules.images.masks import mask_from_upload
from modules.images.postprocessing import PostprocessingError, parse_step_args
from modules.images.saving import png_bytes, read_generation_text
from modules.models.loading import CheckpointLoadError
from modules.models.manager import NoCheckpointError, UnknownCheckpointError
from modules.processing.request import explain_error
from modules.sampling import catalog

# errno values that mean "the disk cannot take it": 507 Insufficient Storage, with the reason.
STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM}


def register_api(app: FastAPI, engine: Engine) -> None:
    from modules.api.info_routes import build_info_router
    from modules.api.progress_routes import build_internal_router, build_progress_router

    install_request_safety(app)
    app.include_router(build_router(engine), prefix="/sdapi/v1")
    app.include_router(build_info_router(engine), prefix="/sdapi/v1")
    app.include_router(build_progress_router(engine), prefix="/sdapi/v1")
    app.include_router(build_internal_router(engine))


def build_router(engine: Engine) -> APIRouter:
    router = APIRouter(tags=["sdapi"], route_class=FiniteJsonRoute)

    @router.post("/txt2img", response_model=ImagesResponse)
    async def txt2img(body: Txt2ImgBody):
        return await _generate(engine, engine.submit_txt2img, body.to_request, body, body.model_dump())

    @router.post("/img2img", response_model=ImagesResponse)
    async def img2img(body: Img2ImgBody):
        # Decoding is CPU work (up to 8 pictures): off the event loop. Each is refused before it is
        # decoded when it declares more pixels than the image_max_pixels setting allows.
        init_images, mask = await run_in_threadpool(_decode_img2img_images, body, engine)
        return await _generate(
            engine, engine.submit_img2img, lambda: body.to_request(init_images, mask), body, body.echoed_parameters()
        )

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
                    filename=info.name,  # relative to its folder: no absolute paths over HTTP
                    family=_family_label(engine.models.family_of(info)),
                )
            )
        return items

    @router.post("/refresh-checkpoints")
    def refresh_checkpoints() -> dict:
        return {"count": len(engine.models.checkpoints())}

    @router.post("/refresh-vae")
    def refresh_vae() -> dict:
        return {"count": len(engine.vaes.refresh())}

    @router.post("/unload-checkpoint")
    async def unload_checkpoint() -> dict:
        await _run_job(engine.submit_unload_checkpoint)
        return {}

    @router.post("/reload-checkpoint")
    async def reload_checkpoint() -> dict:
        await _run_job(engine.submit_reload_checkpoint)
        return {}

    @router.get("/options")
    def get_options() -> dict:
        loaded = engine.models.loaded
        return {
            **engine.settings.values(),
            "sd_model_checkpoint": engine.models.title(loaded.info) if loaded else None,
        }

    @router.post("/options")
    @router.post("/options/")  # A1111's clients post here too
    async def set_options(body: OptionsBody) -> dict:
        changes = body.model_dump(exclude={"sd_model_checkpoint"}, exclude_unset=True)
        unknown = sorted(set(changes) - {spec.key for spec in engine.settings.specs})
        if unknown:
            raise HTTPException(status_code=422, detail=f"unknown setting(s): {', '.join(unknown)}")
        try:
            for key, value in changes.items():  # every value checked before anything changes
                engine.settings.spec(key).coerce(value)
            job = engine.submit_model_switch(body.sd_model_checkpoint) if body.sd_model_checkpoint else None
        except Exception as error:
            raise _refusal(error) from error
        try:
            engine.settings.update(changes)  # all or nothing: one bad value changes nothing
        except ValueError as error:
            raise HTTPException(status_code=422, detail=str(error)) from error
        except OSError as error:  # config.json could not be written
            raise _storage_or_500(error) from error
        if job is not None:
            await job.wait_async()
            _outcome(job)
        return {}

    @router.post("/png-info", response_model=PngInfoResponse)
    def png_info(body: PngInfoBody) -> PngInfoResponse:
        image = decode_image(body.image, engine)
        text = read_generation_text(image)
        items = {k: v for k, v in image.info.items() if isinstance(v, str) and k != "parameters"}
        try:
            parameters = a1111_parameters(text, engine)
        except ValueError as error:  # e.g. a text over the parser's length cap
            raise HTTPException(status_code=422, detail=f"image: its parameters text: {error}") from error
        return PngInfoResponse(info=text, items=items, parameters=parameters)

    @router.get("/prompt-styles", response_model=list[PromptStyleItem])
    def prompt_styles() -> list[PromptStyleItem]:
        engine.styles.reload()
        return [
            PromptStyleItem(name=s.name, prompt=s.prompt, negative_prompt=s.negative_prompt)
            for s in engine.styles.styles.values()
        ]

    @router.get("/embeddings", response_model=EmbeddingsResponse)
    async def embeddings() -> EmbeddingsResponse:
        if engine.models.loaded is not None:  # listing files only: no need to wait for the queue
            return await run_in_threadpool(_embeddings_response, engine)
        return await _embeddings_job(engine)  # the default model is loaded first: device work

    @router.post("/refresh-embeddings")
    async def refresh_embeddings() -> dict:
        await _embeddings_job(engine)
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
        # Script-menu scripts by the modes they declare (Script.modes), as A1111 lists them.
        def titles(mode: str) -> list[str]:
            return [s.title.lower() for s in engine.plugins.scripts_for(mode) if not s.alwayson]

        return ScriptsList(txt2img=titles("txt2img"), img2img=titles("img2img"))

    @router.get("/script-info", response_model=list[ScriptInfo])
    def script_info() -> list[ScriptInfo]:
        # One entry per script and mode it runs in, as A1111 lists a script once per tab.
        return [
            ScriptInfo(
                name=script.title.lower(),
                is_alwayson=script.alwayson,
                is_img2img=mode == "img2img",
                args=[_script_arg(name, field) for name, field in script.Args.model_fields.items()],
            )
            for mode in ("txt2img", "img2img")
            for script in engine.plugins.scripts_for(mode)
        ]

    @router.post("/extra-single-image", response_model=ExtrasSingleImageResponse)
    async def extra_single_image(body: ExtrasSingleImageBody) -> ExtrasSingleImageResponse:
        image = await run_in_threadpool(decode_image, body.image, engine)  # decoding is CPU work: off the loop
        outputs = await _extras(engine, body, [("", image)])
        output = outputs[0]
        return ExtrasSingleImageResponse(image=_b64_png(output.image, output.infotext or None) if
                                         body.show_extras_results else "", html_info=output.infotext)  # fmt: skip

    @router.post("/extra-batch-images", response_model=ExtrasBatchImagesResponse)
    async def extra_batch_images(body: ExtrasBatchImagesBody) -> ExtrasBatchImagesResponse:
        def decode_all():
            return [(item.name, decode_image(item.data, engine, f"imageList[{index}]"))
                    for index, item in enumerate(body.imageList)]  # fmt: skip

        outputs = await _extras(engine, body, await run_in_threadpool(decode_all))
        images = [_b64_png(o.image, o.infotext or None) for o in outputs] if body.show_extras_results else []
        return ExtrasBatchImagesResponse(images=images, html_info=outputs[0].infotext if outputs else "")

    return router


async def _run_job(submit) -> object:
    """Queue a model job and wait for it without holding a thread; its failure answers 4xx/5xx."""
    try:
        job = await run_in_threadpool(submit)
    except Exception as error:
        raise _refusal(error) from error
    await job.wait_async()
    return _outcome(job)


async def _extras(engine: Engine, body, images: list) -> list:
    """Queue the Extras job (upscale, then the steps) and wait for it without holding a thread."""
    from modules.images.postprocessing import UpscaleOptions, submit_extras

    try:
        upscale = UpscaleOptions.model_validate(body.upscale_options())
        chosen = parse_step_args(engine.plugins, body.steps)
        job = await run_in_threadpool(submit_extras, engine, images, upscale, chosen)
    except PostprocessingError as error:
        raise HTTPException(status_code=422, detail=str(error)) from error
    except Exception as error:
        raise _refusal(error) from error
    await job.wait_async()
    outputs = _outcome(job)
    return outputs or []


async def _generate(engine: Engine, submit, build_request, body, parameters: dict):
    """Build the request, queue it with `submit` and answer {images, parameters, info}: the shared
    path of txt2img and img2img (their request types differ, their answers do not)."""
    try:
        # Off the event loop: preparing may import diffusers (seconds, once) to check a schedule.
        job = await run_in_threadpool(submit, build_request(), job_id=body.force_task_id)
    except Exception as error:
        raise _refusal(error) from error
    await job.wait_async()  # on the event loop: waiting holds no thread
    result = _outcome(job)
    if result is None:  # cancelled before it started: nothing was made
        return ImagesResponse(images=[], parameters=parameters, info=json.dumps({"interrupted": True}))
    images = [_b64_png(item.image, item.infotext) for item in result.images] if body.send_images else []
    info = json.dumps(_info(result, body, job, engine))
    save_error = getattr(result, "save_error", None)
    if save_error and body.save_images:
        # The pictures exist in memory: hand them over with the reason they are not on disk.
        content = {"detail": save_error, "images": images, "parameters": parameters, "info": info}
        return JSONResponse(status_code=507, content=content)
    return ImagesResponse(images=images, parameters=parameters, info=info)


def _decode_img2img_images(body: Img2ImgBody, engine: Engine) -> tuple[list, "Image.Image | None"]:  # noqa: F821
    """The body's init images and mask as PIL pictures, each error naming its field. Transparent
    init images are passed on as they are (the engine flattens them on img2img_background_color);
    the mask is read as A1111's create_binary_mask reads it: alpha above 128 where it has a
    non-opaque pixel, else its grey levels (white = inpaint)."""
    images = [decode_image(data, engine, f"init_images[{index}]") for index, data in enumerate(body.init_images)]
    mask = mask_from_upload(decode_image(body.mask, engine, "mask"), transparent_is_masked=False) if body.mask else None
    return images, mask


def _refusal(error: Exception) -> HTTPException:
    """A request refused before anything was queued -> the HTTP error saying why."""
    if isinstance(error, HTTPException):
        return error
    if isinstance(error, NoCheckpointError | CheckpointLoadError):
        return HTTPException(status_code=503, detail=str(error))
    if isinstance(error, ValidationError | ValueError | LookupError):  # incl. UnknownCheckpointError
        return HTTPException(status_code=422, detail=explain_error(error))
    return HTTPException(status_code=500, detail=describe(error))


def _outcome(job):
    """A finished job's result; its error becomes an HTTP error with the engine's own message,
    and one nobody expected a 500 that still says what it was."""
    try:
        return job.outcome()
    except (NoCheckpointError, CheckpointLoadError) as error:
        raise HTTPException(status_code=503, detail=str(error)) from error
    except (UnknownCheckpointError, ValueError) as error:
        raise HTTPException(status_code=422, detail=str(error)) from error
    except OSError as error:
        raise _storage_or_500(error) from error
    except UnsupportedHere as error:  # a valid request this machine cannot serve: the server's limit
        raise HTTPException(status_code=501, detail=str(error)) from error
    except RuntimeError as error:  # e.g. a Script-menu script that failed: say which and why
        raise HTTPException(status_code=500, detail=str(error) or describe(error)) from error
    except Exception as error:
        raise HTTPException(status_code=500, detail=describe(error)) from error


def _storage_or_500(error: OSError) -> HTTPException:
    if error.errno in STORAGE_ERRNOS:
        return HTTPException(status_code=507, detail=f"could not write to disk: {describe(error)}")
    return HTTPException(status_code=500, detail=describe(error))


def decode_image(data: str, engine, field: str = "image") -> "Image.Image":  # noqa: F821 - PIL is imported on use
    """A base64 image -> PIL image; 413 when it declares more pixels than the image_max_pixels
    setting allows (checked before decoding), 422 when it is not an image. `field` names the body
    field in the message."""
    try:
        return decode_base64_image(data, int(engine.settings.get("image_max_pixels")), field)
    except ImageTooLargeError as error:
        raise HTTPException(status_code=413, detail=str(error)) from error
    except BadImageError as error:
        raise HTTPException(status_code=422, detail=str(error)) from error


async def _embeddings_job(engine) -> EmbeddingsResponse:
    """The embeddings read as a job of kind "embeddings": it may load the default model, which
    must not happen beside a running generation."""
    try:
        job = await run_in_threadpool(
            engine.queue.submit, lambda job: _embeddings_response(engine), "refresh embeddings", None, "embeddings"
        )
    except Exception as error:
        raise _refusal(error) from error
    await job.wait_async()
    if isinstance(job.error, HTTPException):  # no model to read them for: its own status
        raise job.error
    return _outcome(job)


def _embeddings_response(engine) -> EmbeddingsResponse:
    """Embeddings as the loaded model sees them (its text encoder's width decides what fits);
    with no model loaded yet, the default one is loaded first, as A1111 does at start-up."""
    try:
        model = engine.models.get(None)
    except (LookupError, CheckpointLoadError) as error:  # none, or a broken default checkpoint
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


# Infotext keys A1111 writes itself; the others are its extra_generation_params.
_CORE_INFOTEXT_KEYS = {
    "Prompt", "Negative prompt", "Steps", "Sampler", "CFG scale", "Image CFG scale", "Seed", "Face restoration",
    "Size", "Model hash", "Model", "FP8 weight", "Cache FP16 weight for LoRA", "VAE hash", "VAE", "Variation seed",
    "Variation seed strength", "Seed resize from", "Denoising strength", "Conditional mask weight", "Clip skip",
    "ENSD", "Init image hash", "RNG", "Tiling", "Version", "User",
}  # fmt: skip


def _info(result, body: Txt2ImgBody | Img2ImgBody, job, engine) -> dict:
    """A1111's Processed.js() keys (what its clients read), plus ours: scheduler, interrupted,
    warnings. Values A1111 keeps outside the result are read back from the first infotext."""
    parsed = _parsed(result.infotexts[0]) if result.infotexts else {}
    extra = {
        key: value
        for key, value in parsed.items()
        if key not in _CORE_INFOTEXT_KEYS and not (key[-2:] in ("-1", "-2") and key[:-2] in parsed)
    }
    started = job.started or time.time()
    # Each image records its own prompts and seeds (an extension may change one image's prompt);
    # the single values are the first image's, as A1111's are, or the job's when none was made.
    first = result.images[0] if result.images else None
    return {
        "prompt": first.prompt if first else result.prompt,
        "all_prompts": result.prompts,
        "negative_prompt": first.negative_prompt if first else result.negative_prompt,
        "all_negative_prompts": result.negative_prompts,
        "seed": first.seed if first else result.seed,
        "all_seeds": result.seeds,
        "subseed": first.subseed if first and first.subseed is not None else -1,
        "all_subseeds": result.subseeds,
        "subseed_strength": result.subseed_strength,
        "width": result.width,
        "height": result.height,
        "sampler_name": result.sampler_name,
        "scheduler": result.scheduler,
        "cfg_scale": result.cfg_scale,
        "steps": result.steps,
        "batch_size": result.batch_size,
        "restore_faces": False,
        "face_restoration_model": None,
        "sd_model_name": result.model_name,
        "sd_model_hash": result.model_hash,
        "sd_vae_name": None,
        "sd_vae_hash": None,
        "seed_resize_from_w": body.seed_resize_from_w,
        "seed_resize_from_h": body.seed_resize_from_h,
        "denoising_strength": body.denoising_strength,
        "extra_generation_params": extra,
        "index_of_first_image": 0,
        "infotexts": result.infotexts,
        "styles": list(body.styles),
        "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(started)),
        "clip_skip": _clip_skip(parsed),
        "is_using_inpainting_conditioning": False,
        "version": parsed.get("Version"),
        "interrupted": result.interrupted,
        "warnings": result.warnings,
    }


def _parsed(infotext: str) -> dict:
    try:
        return parse_infotext(infotext)
    except ValueError:  # over the parser's cap: the info keeps what the result itself says
        return {}


def _clip_skip(parsed: dict) -> int:
    """The infotext says "Clip skip" only above 1, as A1111 writes it."""
    try:
        return int(parsed.get("Clip skip", 1))
    except (TypeError, ValueError):
        return 1


def _family_label(family) -> str | None:
    return family.label if family is not None else None
