"""One place per stage calls the extensions: their hooks and their always-on scripts.
A failure is recorded against the extension and the job goes on."""

from dataclasses import dataclass

from modules.plugins.scripts import Script, args_to_infotext, parse_script_args
from modules.plugins.types import DenoisedParams, DenoiserParams


@dataclass
class StageHooks:
    engine: object
    p: object
    scripts: list[tuple[Script, object]]  # enabled always-on scripts with their args

    @classmethod
    def for_job(cls, engine, p, alwayson_args: dict) -> "StageHooks":
        """Every always-on script takes part with its defaults unless the request gave arguments."""
        given = {title.lower(): raw for title, raw in (alwayson_args or {}).items()}
        scripts = []
        for script in engine.plugins.alwayson_scripts:
            args = parse_script_args(script, given.get(script.title.lower()))
            if script.enabled(args):
                scripts.append((script, args))
                p.script_args[script.title] = args
                p.extra_generation_params.update(args_to_infotext(script, args))
        return cls(engine, p, scripts)

    def run(self, stage: str, **kwargs) -> list:
        results = self.engine.extensions.call(stage, p=self.p, **kwargs)
        for script, args in self.scripts:
            method = getattr(script, stage, None)
            if method is None:
                continue
            try:
                method(self.p, args, **kwargs)
            except Exception as error:  # noqa: BLE001 - isolation: report and go on
                owner = self.engine.plugins.script_owner.get(script.title, script.title)
                self.engine.extensions.report_error(owner, f"{script.title}.{stage}: {type(error).__name__}: {error}")
        return results

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
