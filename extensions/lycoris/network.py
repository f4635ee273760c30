"""The ExtraNetwork behind `<lora:...>` and `<lyco:...>`: the named networks become weight patches
that the core merges into the model (modules/models/patcher.py) once every network has activated,
and keeps merged until a job asks for another set (an unchanged set is not merged again)."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from modules.plugins.types import ExtraNetworkCall, ExtraNetworkItem

from .library import HashCache, NetworkFile, NetworkLibrary
from .tags import NetworkRequest, parse_call

if TYPE_CHECKING:  # torch-backed: imported when a network is first used, not at start-up
    from .merge import MergeReport

log = logging.getLogger("sdstudio.extensions.lycoris")
COMPONENTS = {"unet": "unet", "te": "text_encoder", "te2": "text_encoder_2"}
# How the notes name a component a model lacks (the SDXL refiner has only the second encoder).
COMPONENT_LABELS = {
    "unet": "UNet",
    "te": "first text encoder (lora_te1_ / text_encoder.)",
    "te2": "second text encoder",
}


class LoraNetworks:
    """One per engine (the extra_networks hook is called per engine); it keeps no weights: the
    originals are the core's, per model. Jobs find files through their own `p.models_dir`;
    `models_dir` serves `list_items`."""

    names = ("lora", "lyco")

    def __init__(self, models_dir: Path | None = None):
        self.models_dir = Path(models_dir) if models_dir else None
        self.hashes = HashCache()

    # --- ExtraNetwork ------------------------------------------------------------------------
    def list_items(self) -> list[ExtraNetworkItem]:
        if self.models_dir is None:
            return []
        return [_item(network) for network in NetworkLibrary(self.models_dir).files()]

    def activate(self, p, calls: list[ExtraNetworkCall]) -> None:
        patches = self._patches(p, calls) if calls else []
        collector = getattr(p, "patches", None)
        if collector is not None:
            collector.add(patches)  # the core merges the job's whole set after every network
            return
        # Called outside a job (no collector on p, e.g. by a script on its own model): this
        # network's set is merged at once through the model's patcher, as the core would.
        from modules.models.patcher import PatchSet

        p.model.patcher.apply(PatchSet(patches))

    def deactivate(self, p) -> None:
        # In a job nothing is undone: the next job's set decides. Outside one, the model is restored.
        if getattr(p, "patches", None) is None and getattr(p, "model", None) is not None:
            p.model.patcher.restore()

    # --- the work ------------------------------------------------------------------------------
    def _patches(self, p, calls: list[ExtraNetworkCall]) -> list:
        from .layout import LayerIndex
        from .merge import network_patches
        from .safe_load import NetworkFileError, load_tensors

        library = NetworkLibrary(p.models_dir)
        components = {key: getattr(p.model, attr, None) for key, attr in COMPONENTS.items()}
        index = LayerIndex({key: module for key, module in components.items() if module is not None})
        loaded: dict[Path, dict] = {}  # the same file named twice is read once
        hashes, patches = [], []
        for call in calls:
            try:
                request = parse_call(call)
            except ValueError as error:
                p.warnings.append(f"LoRA: {error}; skipped")
                continue
            network = library.find(request.name)
            if network is None:
                p.warnings.append(f"LoRA: {library.describe_missing(request.name)}")
                continue
            try:
                if network.path not in loaded:
                    loaded[network.path] = load_tensors(network.path)
                file_hash = self.hashes.short_hash(network.path)
            except (NetworkFileError, OSError) as error:
                p.warnings.append(f"LoRA {request.name!r}: {error}; skipped")
                continue
            strengths = {"unet": request.unet, "te": request.te, "te2": request.te}
            source = f"{call.name}:{file_hash}:unet={request.unet:g},te={request.te:g}"
            found, report = network_patches(loaded[network.path], index, strengths, source)
            patches.extend(found)
            self._report(p, request, network, report)
            hashes.append(f"{_clean(request.name)}: {file_hash}")
        if hashes:
            p.extra_generation_params["Lora hashes"] = ", ".join(hashes)
        return patches

    @staticmethod
    def _report(p, request: NetworkRequest, network: NetworkFile, report: "MergeReport") -> None:
        problems = []
        for component, keys in report.absent.items():
            # Expected, not an error: an SDXL LoRA carries CLIP-L layers the refiner does not have.
            label = getattr(getattr(p.model, "family", None), "label", None)
            model = f"this model ({label})" if label else "this model"
            problems.append(f"{len(keys)} layer(s) for the {COMPONENT_LABELS[component]} skipped: {model} has none")
        if report.unmatched:
            problems.append(
                f"{len(report.unmatched)} layer(s) match nothing in this model (e.g. {report.unmatched[0]}); "
                "it may be made for another model family"
            )
        if report.unsupported:
            problems.append(f"{len(report.unsupported)} layer(s) use a format this extension cannot apply")
        if report.unrecognized:
            problems.append(f"{len(report.unrecognized)} key(s) in no known layout (e.g. {report.unrecognized[0]})")
        if report.ignored:
            problems.append(f"parameters ignored: {', '.join(sorted(report.ignored))}")
        if report.mismatched:
            example = report.mismatched[0]
            problems.append(f"{len(report.mismatched)} layer(s) have shapes that do not fit (e.g. {example})")
        if problems:
            p.warnings.append(f"LoRA {request.name!r} ({network.path.name}): " + "; ".join(problems))
        log.info("LoRA %s: %d layers changed (te %s, unet %s)", request.name, report.layers, request.te, request.unet)


def _item(network: NetworkFile) -> ExtraNetworkItem:
    card = network.user_metadata()
    try:
        weight = float(card.get("preferred weight") or 1)
    except (TypeError, ValueError):
        weight = 1.0
    activation = str(card.get("activation text") or "").strip()
    prompt = f"<lora:{network.name}:{weight:g}>" + (f" {activation}" if activation else "")
    return ExtraNetworkItem(
        name=network.name, prompt=prompt, filename=network.shown_path, description=str(card.get("description") or "")
    )


def _clean(name: str) -> str:
    # The hashes line is "name: hash, name: hash": keep the separators out of names.
    return name.replace(":", "").replace(",", "")
