"""The engine object: paths, settings, extensions, models, the job queue and the saver,
passed to UI and API.

Nothing here is a module-level global: a test can build two engines side by side.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.config.flags import build_parser, extension_mode, parse_flags, parse_known_flags
from modules.config.paths import Paths
from modules.config.settings import Settings
from modules.images.infotext import infotext_to_fields, parse_infotext
from modules.images.saving import ImageSaver
from modules.jobs import Job, JobQueue
from modules.memory.manager import MemoryManager
from modules.models.manager import ModelManager
from modules.plugins.manager import ExtensionManager
from modules.plugins.registry import PluginRegistry
from modules.plugins.scripts import args_from_infotext
from modules.processing.prepare import prepare
from modules.processing.request import GenerationRequest
from modules.processing.token_counter import TokenCounter
from modules.prompts.cache import EncodingCache
from modules.prompts.parser import strip_comments
from modules.prompts.styles import StyleDatabase

log = logging.getLogger(__name__)


@dataclass
class Engine:
    paths: Paths
    settings: Settings
    extensions: ExtensionManager
    plugins: PluginRegistry
    models: ModelManager
    queue: JobQueue
    saver: ImageSaver
    flags: Any
    encodings: EncodingCache
    styles: StyleDatabase
    tokens: TokenCounter = None
    embeddings: Any = None  # EmbeddingDatabase, made on first use (it imports torch)
    taesd_decoders: dict = None  # latent space -> TaesdDecoder, made on first use
    upscaler_registry: Any = None  # modules.upscaling.UpscalerRegistry, made on first use
    vae_registry: Any = None  # modules.models.vae_registry.VaeRegistry, made on first use
    memory: MemoryManager = None  # device policy, offload modes, the ledger of what is loaded

    @classmethod
    def from_argv(cls, argv: Sequence[str] | None) -> "Engine":
        """Start-up order: core flags -> extensions loaded -> their flags added -> full parse."""
        known = parse_known_flags(argv)
        paths = Paths.from_flags(known)
        settings = Settings(paths.settings_file)
        extensions = load_extensions(paths, settings, known)
        parser = build_parser()
        extensions.call("add_cli_flags", parser=parser)
        return cls.from_flags(parse_flags(argv, parser), extensions=extensions, settings=settings)

    @classmethod
    def from_flags(cls, flags, extensions: ExtensionManager | None = None, settings: Settings | None = None):
        paths = Paths.from_flags(flags)
        settings = settings or Settings(paths.settings_file)
        extensions = extensions or load_extensions(paths, settings, flags)
        plugins = PluginRegistry.build(extensions, settings, paths.models_dir)
        memory = MemoryManager(flags)
        models = ModelManager(
            paths.checkpoint_dirs,
            paths.cache_dir,
            memory.policy,
            preferred=flags.ckpt,
            bundled=paths.bundled_checkpoints,
            on_loaded=_model_loaded_hook(flags, extensions, memory),
            settings=settings,
            memory=memory,
        )
        return cls(
            paths=paths,
            settings=settings,
            extensions=extensions,
            plugins=plugins,
            models=models,
            queue=JobQueue(),
            saver=ImageSaver(),
            flags=flags,
            encodings=EncodingCache(),
            styles=StyleDatabase(paths.styles_file),
            memory=memory,
        )

    def __post_init__(self):
        if self.tokens is None:
            self.tokens = TokenCounter(self)
        if self.memory is None:
            self.memory = MemoryManager(self.flags)
        # A model handed out during a job (a refiner loaded mid-job) gets the job's VAE too.
        self.models.on_handout = lambda model: self.vaes.apply_job_choice(model)

    def submit_txt2img(self, request: GenerationRequest, job_id: str | None = None) -> Job:
        """Queue a generation (`job_id`: the client's task id). The request is prepared first
        (processing/prepare.py): every name resolved once (sampler, schedules, upscaler, checkpoint,
        refiner, styles, scripts and their args) and the settings snapshotted with the request's
        overrides; a request with problems raises one RequestProblems (a ValueError) naming all of
        them (a single problem is raised as the error it is), and nothing is queued. The job runs
        with what was resolved here: the Settings tab changing meanwhile does not change it."""
        return self._submit_generation(request, job_id)

    def submit_img2img(self, request: GenerationRequest, job_id: str | None = None) -> Job:
        """Queue an img2img / inpainting job: as submit_txt2img, for a request with init images
        (ValueError without them)."""
        if not request.init_images:
            raise ValueError("init_images: img2img needs at least one init image")
        return self._submit_generation(request, job_id)

    def submit_img2img_batch(self, template: GenerationRequest, spec, job_id: str | None = None) -> Job:
        """Queue the Batch tab's job: every picture of `spec.input_dir` (a BatchSpec) through img2img
        with `template`'s fields. The folders are server paths, so this is refused while the server
        listens beyond this machine unless --enable-insecure-extension-access was given. Names are
        checked now (with a stand-in picture), the folders listed now; ValueError says what is wrong."""
        from PIL import Image

        from modules.config.flags import listens_beyond_localhost
        from modules.processing.img2img_batch import check_batch, run_batch

        if listens_beyond_localhost(self.flags) and not getattr(self.flags, "enable_insecure_extension_access", False):
            raise ValueError("Batch reads and writes server folders: off while the server listens beyond this "
                             "machine (--enable-insecure-extension-access allows it)")  # fmt: skip
        inputs = check_batch(spec)
        probe = GenerationRequest.model_validate({**dict(template), "init_images": [Image.new("RGB", (64, 64))],
                                                  "mask": None})  # fmt: skip
        prepare(probe, self)
        return self.queue.submit(lambda job: run_batch(self, job, template, inputs), kind="generate",
                                 description=f"img2img batch: {len(inputs.files)} pictures", job_id=job_id)  # fmt: skip

    def _submit_generation(self, request: GenerationRequest, job_id: str | None) -> Job:
        prepared = prepare(request, self)

        def work(job: Job):
            from modules.processing import generation

            if request.override_settings_restore_afterwards:
                return generation.run(request, prepared, self, job)
            try:
                result = generation.run(request, prepared, self, job)
            except BaseException:
                self.keep_overrides(request.override_settings)  # A1111 keeps them even when the job fails
                raise
            problem = self.keep_overrides(request.override_settings)
            if problem:
                result.warnings.append(problem)
            return result

        kind = "img2img" if request.init_images else "txt2img"
        return self.queue.submit(work, description=f"{kind}: {request.prompt[:60]}", job_id=job_id, kind="generate",
                                 subject=f"{request.width}x{request.height}")  # fmt: skip

    def keep_overrides(self, overrides: dict) -> str:
        """Save a request's override_settings as the settings (A1111's restore_afterwards=False,
        applied once the job has run). The reason when they could not be saved, "" when they were."""
        if not overrides:
            return ""
        try:
            self.settings.update(overrides)
        except (OSError, ValueError) as error:  # e.g. a full disk: the job's pictures still count
            return f"override_settings were not kept: {error}"
        return ""

    def prepare_prompts(self, prompt: str, negative_prompt: str, styles: list[str],
                        settings=None) -> tuple[str, str]:  # fmt: skip
        """Comments removed (setting: from `settings`, a job's snapshot, or the live ones), then
        styles applied: the prompts a job starts from."""
        if (settings or self.settings).get("enable_prompt_comments"):
            prompt, negative_prompt = strip_comments(prompt), strip_comments(negative_prompt)
        if styles:
            prompt, negative_prompt = self.styles.apply(prompt, negative_prompt, styles)
        return prompt, negative_prompt

    def taesd_for(self, latent_space: str = "sd"):
        """The TAESD preview decoder of a latent space (a family's `latent_space`: "sd" reads
        models/VAE-approx/taesd_decoder.*, "sdxl" taesdxl_decoder.*), made on first use."""
        from modules.images.previews import TAESD_FILES_BY_SPACE, TaesdDecoder

        if self.taesd_decoders is None:
            self.taesd_decoders = {}
        if latent_space not in self.taesd_decoders:
            files = TAESD_FILES_BY_SPACE.get(latent_space, ())
            decoder = TaesdDecoder(self.paths.models_dir / "VAE-approx", files)
            self.taesd_decoders[latent_space] = decoder
            owner = f"taesd:{latent_space}"
            self.memory.register_source(owner, owner, "taesd", lambda: _held(decoder, "decoder"))
        return self.taesd_decoders[latent_space]

    @property
    def upscalers(self):
        """The upscalers (None, Lanczos, Nearest, model files under models/ESRGAN, SwinIR, ...),
        made on first use: `names()`, `upscale(image, name, scale)`."""
        if self.upscaler_registry is None:
            from modules.upscaling import UpscalerRegistry

            registry = UpscalerRegistry(self.paths.models_dir, self.settings, self.memory.policy)
            self.upscaler_registry = registry
            self.memory.register_source("upscaler", "upscaler", "upscaler", lambda: _held(registry, "model"))
        return self.upscaler_registry

    @property
    def vaes(self):
        """The VAE files "SD VAE" offers (models/VAE, --vae-dir, NAME.vae.* beside checkpoints) and
        putting the chosen one on a loaded model, made on first use."""
        if self.vae_registry is None:
            from modules.models.vae_registry import VaeRegistry

            vae_dirs = (self.paths.models_dir / "VAE",)
            if getattr(self.flags, "vae_dir", None):
                vae_dirs += (Path(self.flags.vae_dir).expanduser().resolve(),)
            keep_fp32 = getattr(self.flags, "no_half_vae", False)
            self.vae_registry = VaeRegistry(vae_dirs, self.paths.checkpoint_dirs, self.settings,
                                            self.models.sha256_of, keep_fp32)  # fmt: skip
        return self.vae_registry

    def embeddings_for(self, model):
        """The EmbeddingDatabase for this model's text encoder, reloaded if the folder changed."""
        if self.embeddings is None:
            from modules.prompts.embeddings import EmbeddingDatabase

            self.embeddings = EmbeddingDatabase(self.paths.models_dir / "embeddings")
        encoders = model.text_encoders()
        widths = tuple(encoder.get_input_embeddings().weight.shape[1] for _, encoder, _ in encoders)
        # One encoder: its width; several (SDXL): an embedding needs vectors for each.
        self.embeddings.load(encoders[0][2], widths[0] if len(widths) == 1 else widths)
        return self.embeddings

    def fields_from_infotext(self, text: str) -> dict:
        """Request fields recovered from pasted infotext: extensions may amend the parsed values
        (infotext_pasted), and always-on scripts get their arguments back by name."""
        parsed = parse_infotext(text)
        self.extensions.call("infotext_pasted", infotext=text, params=parsed)
        fields = infotext_to_fields(parsed)
        if "override_settings" in fields:
            fields["override_settings"] = self.readable_overrides(fields["override_settings"])
        if "prompt" in fields and self.styles.styles:
            # Styles are stored applied; take back out those that were, as A1111 does on paste.
            names, prompt, negative = self.styles.extract_styles(fields["prompt"], fields.get("negative_prompt", ""))
            if names:
                fields.update(prompt=prompt, negative_prompt=negative, styles=names)
        alwayson = self.alwayson_args_from_infotext(parsed)
        if alwayson:
            fields["alwayson_scripts"] = alwayson
        return fields

    def readable_overrides(self, overrides: dict) -> dict:
        """The pasted settings this engine can apply; one it cannot (e.g. A1111's "RNG: NV") is
        left out, and logged, so the rest of the text still applies."""
        kept = {}
        for key, value in overrides.items():
            try:
                if key == "sd_vae":  # infotext's "VAE: x" names the listed file "x.safetensors"
                    value = self.vaes.setting_value(str(value))
                kept.update(self.settings.checked_overrides({key: value}))
            except ValueError as error:
                log.warning("infotext: %s; left out", error)
        return kept

    def alwayson_args_from_infotext(self, params: dict) -> dict:
        """{script title: its args} for each always-on script whose keys the parsed infotext has."""
        found = {}
        for script in self.plugins.alwayson_scripts:
            try:
                args = args_from_infotext(script, params)
            except ValueError as error:  # a hand-edited value: keep the rest, say what was dropped
                self.extensions.report_error(self.plugins.script_owner[script.title], f"infotext: {error}")
                continue
            if args is not None:
                found[script.title] = args.model_dump()
        return found

    def submit_model_switch(self, wanted: str) -> Job:
        """Switching goes through the queue too, so it never swaps weights under a running job.
        The name is matched among the listed checkpoints first: an unknown one raises
        UnknownCheckpointError here and nothing is queued."""
        info = self.models.resolve(wanted)
        return self.queue.submit(lambda job: self.models.get(wanted), description=f"load {info.name}", kind="load")

    def submit_unload_checkpoint(self) -> Job:
        """Through the queue: never under a running job."""
        return self.queue.submit(lambda job: self.models.unload(), description="unload checkpoint", kind="load")

    def submit_reload_checkpoint(self) -> Job:
        return self.queue.submit(lambda job: self.models.reload(), description="reload checkpoint", kind="load")

    def model_loading(self) -> str | None:
        """The checkpoint being loaded now, for "Loading model ..." while a job waits for it."""
        info = self.models.loading
        return info.name if info is not None else None

    def model_notice(self) -> str | None:
        """Why the last model load failed (file and reason), None while nothing has failed since the
        last successful load: shown at the top of the page."""
        return self.models.load_failure

    def preload(self) -> Job:
        """Load the default checkpoint in the background so the first Generate is fast.
        Raises LookupError (saying where to put one) when there is no checkpoint."""
        self.models.default_checkpoint()
        return self.queue.submit(lambda job: self.models.get(None), description="load default checkpoint", kind="load")


def load_extensions(paths: Paths, settings: Settings, flags) -> ExtensionManager:
    manager = ExtensionManager(
        paths.extension_dirs,
        bundled=paths.bundled_extensions,
        disabled=settings.disabled_extensions(),
        mode=extension_mode(flags),
    )
    manager.load()
    return manager


def _model_loaded_hook(flags, extensions: ExtensionManager, memory: MemoryManager):
    """What runs on every loaded checkpoint: the memory policy (parts placed, offload mode installed),
    the attention backend of the flags (chosen and its fallback reason logged once, here), then the
    extensions' model_loaded callbacks."""
    from modules import attention

    backend = attention.backend_logged_once(flags)

    def on_loaded(model) -> None:
        memory.prepare(model)
        backend.apply(model)
        extensions.call("model_loaded", model=model)

    return on_loaded


def _held(holder, component: str) -> dict:
    """{component: the torch module} a lazily loading holder (TaesdDecoder, UpscalerRegistry) has in
    memory now, for the ledger. Both keep it as `_loaded` (TaesdDecoder: (path, mtime, module);
    UpscalerRegistry: (key, spandrel descriptor)); they have no public accessor yet."""
    loaded = getattr(holder, "_loaded", None)
    if not loaded:
        return {}
    thing = loaded[-1]
    module = getattr(thing, "model", thing)  # a spandrel descriptor holds its torch module as .model
    return {component: module} if hasattr(module, "parameters") else {}
