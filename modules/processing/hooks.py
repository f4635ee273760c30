"""One place per stage calls the extensions. Their hooks and the always-on scripts' stage methods
are all implementations registered with the plugin manager (see modules/plugins/script_hooks.py),
so one `pm.hook.<stage>(...)` call reaches both; a failure is recorded against its extension and
the job goes on."""

from dataclasses import dataclass

from modules.plugins.scripts import Script, args_to_infotext, parse_script_args, runs_in
from modules.plugins.types import DenoisedParams, DenoiserParams


@dataclass
class StageHooks:
    engine: object
    p: object
    scripts: list[tuple[Script, object]]  # enabled always-on scripts with their args

    @classmethod
    def for_job(cls, engine, p, alwayson_args: dict, mode: str = "txt2img") -> "StageHooks":
        """Every always-on script of `mode` takes part with its defaults unless the request gave
        arguments (`alwayson_args`: {script title: its parsed Args}, as prepare() resolved them).
        Those taking part get their args in `p.script_args` (which is how their stage hooks know
        they take part) and their infotext fields in `p.extra_generation_params`."""
        scripts = []
        for script in engine.plugins.alwayson_scripts:
            if not runs_in(script, mode):
                continue
            args = alwayson_args.get(script.title)
            if args is None:
                args = parse_script_args(script, None)  # its defaults
            if script.enabled(args):
                scripts.append((script, args))
                p.script_args[script.title] = args
                p.extra_generation_params.update(args_to_infotext(script, args))
        return cls(engine, p, scripts)

    def run(self, stage: str, **kwargs) -> list:
        """Call the stage hook with this job's `p`. Returns the implementations' non-None results:
        for a firstresult hook (`post_sample`) at most one, the winner's."""
        results = self.engine.extensions.call(stage, p=self.p, **kwargs)
        if isinstance(results, list):
            return results
        return [] if results is None else [results]

    def post_sample(self, latents):
        """The latents after `post_sample`: the first implementation returning a tensor replaces them."""
        replaced = self.engine.extensions.call("post_sample", p=self.p, latents=latents)
        return latents if replaced is None else replaced

    def image_saved(self, params) -> None:
        """After each file is written; the same dispatch as every stage."""
        self.engine.extensions.call("image_saved", params=params)

    def step_hooks(self) -> "StepHooks | None":
        """Per-step callbacks, or None when no extension listens (then the loop pays nothing)."""
        manager = self.engine.extensions
        if not (manager.has_impls("cfg_denoiser") or manager.has_impls("cfg_denoised")):
            return None
        return StepHooks(
            before=lambda params: manager.call("cfg_denoiser", p=self.p, params=params),
            after=lambda params: manager.call("cfg_denoised", p=self.p, params=params),
        )


@dataclass
class StepHooks:
    before: object  # called with DenoiserParams
    after: object  # called with DenoisedParams

    @staticmethod
    def make_before(x, timestep, step, total, cond, uncond) -> DenoiserParams:
        return DenoiserParams(x=x, timestep=timestep, step=step, total_steps=total, cond=cond, uncond=uncond)

    @staticmethod
    def make_after(prediction, x, timestep, step, total) -> DenoisedParams:
        return DenoisedParams(prediction=prediction, x=x, timestep=timestep, step=step, total_steps=total)
