"""LoRA and LyCORIS networks from `<lora:name:weight>` / `<lyco:name:weight>` prompt tags."""

from modules.plugins import hookimpl

from . import api
from .library import NetworkLibrary
from .network import LoraNetworks


@hookimpl
def extra_networks(models_dir):
    # One network object per engine: it keeps the original weights of that engine's model.
    return [LoraNetworks(models_dir)]


@hookimpl
def app_started(app, engine):
    api.add_routes(app, NetworkLibrary(engine.paths.models_dir))
