"""The extension platform. Extension authors import from here (and from `modules.plugins.types`,
`modules.plugins.scripts`, `modules.config.settings`): these names are the stable contract."""

from modules.config.settings import SettingSpec
from modules.plugins.hookspecs import hookimpl
from modules.plugins.scripts import Script
from modules.plugins.types import (
    DenoisedParams,
    DenoiserParams,
    ExtraNetwork,
    ExtraNetworkCall,
    ExtraNetworkItem,
    ImageSavedParams,
    NoArgs,
    PostprocessImageParams,
    PostprocessingStep,
    StepContext,
    TabSpec,
)

__all__ = [
    "DenoisedParams",
    "DenoiserParams",
    "ExtraNetwork",
    "ExtraNetworkCall",
    "ExtraNetworkItem",
    "ImageSavedParams",
    "NoArgs",
    "PostprocessImageParams",
    "PostprocessingStep",
    "Script",
    "SettingSpec",
    "StepContext",
    "TabSpec",
    "hookimpl",
]
