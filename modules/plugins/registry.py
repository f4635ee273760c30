"""What the loaded extensions contributed: scripts, extra networks, Extras steps, settings.
Built once after loading; the engine, the UI and the API read it from here."""

from dataclasses import dataclass, field

from modules.config.settings import Settings, SettingSpec
from modules.plugins.manager import ExtensionManager
from modules.plugins.scripts import Script, ScriptArgsError, parse_script_args
from modules.plugins.types import ExtraNetwork, PostprocessingStep


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
        for owner, script_class in manager.collect("scripts"):
            registry._add_script(owner, script_class)
        for owner, network in manager.collect("extra_networks", models_dir=models_dir):
            registry._add_network(owner, network)
        for owner, step in manager.collect("postprocessing_steps"):
            if not isinstance(step, PostprocessingStep):
                manager.report_error(owner, f"postprocessing_steps returned {type(step).__name__}")
                continue
            registry.steps.append(step)
            registry.step_owner[step.name] = owner
        registry.steps.sort(key=lambda step: step.order)
        return registry

    def _add_script(self, owner: str, script_class) -> None:
        if not (isinstance(script_class, type) and issubclass(script_class, Script)) or not script_class.title:
            self.manager.report_error(owner, f"scripts: {script_class!r} is not a Script subclass with a title")
            return
        if script_class.title in self.scripts:
            self.manager.report_error(owner, f"scripts: title {script_class.title!r} is already taken")
            return
        try:
            self.scripts[script_class.title] = script_class()
        except Exception as error:  # noqa: BLE001 - the extension's constructor failed
            self.manager.report_error(owner, f"scripts: {script_class.title}: {type(error).__name__}: {error}")
            return
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

    def find_script(self, title: str) -> Script:
        for script in self.scripts.values():
            if script.title.lower() == title.lower():
                return script
        known = ", ".join(repr(s.title) for s in self.scripts.values()) or "none"
        raise ScriptArgsError(f"script {title!r} not found; known scripts: {known}")

    def validate_script_args(self, script_name: str | None, script_args, alwayson: dict) -> None:
        """Raise ScriptArgsError (a ValueError) for unknown scripts or bad arguments, before queueing."""
        if script_name:
            script = self.find_script(script_name)
            if script.alwayson:
                raise ScriptArgsError(f"script {script.title!r} is always-on: pass it in alwayson_scripts")
            parse_script_args(script, script_args)
        for title, raw in (alwayson or {}).items():
            script = self.find_script(title)
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
