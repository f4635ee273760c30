"""What the loaded extensions contributed: scripts, extra networks, Extras steps, settings.
Built once after loading; the engine, the UI and the API read it from here."""

from dataclasses import dataclass, field

from modules.config.settings import Settings, SettingSpec
from modules.plugins.manager import ExtensionManager
from modules.plugins.script_hooks import register_script_hooks
from modules.plugins.scripts import MODES, Script, ScriptArgsError, parse_script_args, runs_in
from modules.plugins.types import ExtraNetwork, PostprocessingStep

BUILTIN_OWNER = "built-in"  # the owner named for the scripts/ folder's scripts


@dataclass
class PluginRegistry:
    manager: ExtensionManager
    scripts: dict[str, Script] = field(default_factory=dict)  # title -> instance
    script_owner: dict[str, str] = field(default_factory=dict)  # title -> extension name
    networks: dict[str, ExtraNetwork] = field(default_factory=dict)  # tag name -> network
    network_owner: dict[str, str] = field(default_factory=dict)
    steps: list[PostprocessingStep] = field(default_factory=list)
    step_owner: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, manager: ExtensionManager, settings: Settings, models_dir) -> "PluginRegistry":
        registry = cls(manager=manager)
        for owner, spec in manager.collect("ui_settings"):
            if not isinstance(spec, SettingSpec):
                manager.report_error(owner, f"ui_settings returned {type(spec).__name__}, not a SettingSpec")
                continue
            for message in settings.register([spec], owner=owner):
                manager.report_error(owner, message)
        from scripts import builtin_scripts, builtin_steps  # the top-level scripts/ folder: built-ins first

        for script_class in builtin_scripts():
            registry._add_script(BUILTIN_OWNER, script_class)
        for step in builtin_steps():
            registry._add_step(BUILTIN_OWNER, step)
        for owner, script_class in manager.collect("scripts"):
            registry._add_script(owner, script_class)
        for owner, network in manager.collect("extra_networks", models_dir=models_dir):
            registry._add_network(owner, network)
        for owner, step in manager.collect("postprocessing_steps"):
            registry._add_step(owner, step)
        registry.steps.sort(key=lambda step: step.order)
        return registry

    def _add_step(self, owner: str, step) -> None:
        if not isinstance(step, PostprocessingStep):
            self.manager.report_error(owner, f"postprocessing_steps returned {type(step).__name__}")
            return
        if step.name in self.step_owner:
            self.manager.report_error(owner, f"postprocessing_steps: name {step.name!r} is already taken")
            return
        self.steps.append(step)
        self.step_owner[step.name] = owner

    def _add_script(self, owner: str, script_class) -> None:
        if not (isinstance(script_class, type) and issubclass(script_class, Script)) or not script_class.title:
            self.manager.report_error(owner, f"scripts: {script_class!r} is not a Script subclass with a title")
            return
        modes = script_class.modes
        if not (isinstance(modes, tuple | list) and modes and set(modes) <= set(MODES)):
            self.manager.report_error(
                owner, f"scripts: {script_class.title}: modes must be some of {MODES}, not {modes!r}"
            )
            return
        if script_class.title in self.scripts:
            self.manager.report_error(owner, f"scripts: title {script_class.title!r} is already taken")
            return
        try:
            script = script_class()
        except Exception as error:  # noqa: BLE001 - the extension's constructor failed
            self.manager.report_error(owner, f"scripts: {script_class.title}: {type(error).__name__}: {error}")
            return
        if script.alwayson:
            try:  # its stage methods become hooks: one dispatch path with the extensions' own
                register_script_hooks(self.manager, script, owner)
            except Exception as error:  # noqa: BLE001 - e.g. a stage method pluggy refuses
                self.manager.report_error(owner, f"scripts: {script.title}: {type(error).__name__}: {error}")
                return
        self.scripts[script_class.title] = script
        self.script_owner[script_class.title] = owner

    def _add_network(self, owner: str, network) -> None:
        if not isinstance(network, ExtraNetwork):
            self.manager.report_error(owner, f"extra_networks: {network!r} lacks names/activate/deactivate/list_items")
            return
        for name in network.names:
            if name in self.networks:
                self.manager.report_error(owner, f"extra network name {name!r} is already taken")
                continue
            self.networks[name] = network
            self.network_owner[name] = owner

    # --- scripts ---------------------------------------------------------------------------
    @property
    def selectable_scripts(self) -> list[Script]:
        return [s for s in self.scripts.values() if not s.alwayson]

    @property
    def alwayson_scripts(self) -> list[Script]:
        return [s for s in self.scripts.values() if s.alwayson]

    def scripts_for(self, mode: str) -> list[Script]:
        """The scripts that run in `mode` ("txt2img" or "img2img"), in registration order."""
        return [s for s in self.scripts.values() if runs_in(s, mode)]

    def find_script(self, title: str, mode: str | None = "txt2img") -> Script:
        """The script of that title (any case) that runs in `mode` ("txt2img", "img2img"; None: any
        mode). Raises ScriptArgsError (a ValueError) for an unknown title or another mode's script."""
        for script in self.scripts.values():
            if script.title.lower() == title.lower():
                if mode is not None and not runs_in(script, mode):
                    raise ScriptArgsError(
                        f"script {script.title!r} does not run in {mode} (it runs in {', '.join(script.modes)})"
                    )
                return script
        known = ", ".join(repr(s.title) for s in self.scripts.values()) or "none"
        raise ScriptArgsError(f"script {title!r} not found; known scripts: {known}")

    def validate_script_args(self, script_name: str | None, script_args, alwayson: dict, mode: str = "txt2img") -> None:
        """Raise ScriptArgsError (a ValueError) for unknown scripts, scripts that do not run in
        `mode`, or bad arguments, before queueing."""
        if script_name:
            script = self.find_script(script_name, mode)
            if script.alwayson:
                raise ScriptArgsError(f"script {script.title!r} is always-on: pass it in alwayson_scripts")
            parse_script_args(script, script_args)
        for title, raw in (alwayson or {}).items():
            script = self.find_script(title, mode)
            if not script.alwayson:
                raise ScriptArgsError(f"script {script.title!r} is not always-on: pass it as script_name")
            parse_script_args(script, raw)

    def networks_unique(self) -> list[tuple[str, ExtraNetwork]]:
        """(first name, network) once per network object."""
        seen, unique = set(), []
        for name, network in self.networks.items():
            if id(network) not in seen:
                seen.add(id(network))
                unique.append((name, network))
        return unique
