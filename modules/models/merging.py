"""A1111's Checkpoint Merger: A alone, A*(1-M)+B*M, or A+(B-C)*M, streamed tensor by tensor.

The output's header (names, shapes, dtypes: A's) is written first, then each output tensor is
computed from the inputs' tensors of that name and appended (safetensors_stream), so memory holds a
few tensors at a time, never three models. Everything that can be refused (a name, the families, a
shape, the regex, the VAE) is checked before the first byte is written. The file appears in the
first checkpoint folder under its name only once complete, replacing one of that name as A1111 does.
"""

import json
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import torch

from modules.atomic import write_bytes_atomic
from modules.models.discovery import CheckpointInfo
from modules.models.hashing import is_regular_file
from modules.models.loading import EMBEDDED_CONFIG_KEY
from modules.models.merge_recipe import CONFIG_SOURCES, INTERP_METHODS, MergeRecipe, discard_pattern, sanitized_name
from modules.models.merge_sources import (
    MergeError,
    TensorFile,
    check_families,
    check_vae_space,
    family_of,
    legacy_hash,
)
from modules.models.safetensors_stream import StreamingSafetensorsWriter, TensorSpec

# A1111's checkpoint_dict_skip_on_merge: an index table, not a weight.
SKIP_ON_MERGE = frozenset({"cond_stage_model.transformer.text_model.embeddings.position_ids"})
VAE_PREFIX = "first_stage_model."

__all__ = [
    "CONFIG_SOURCES",
    "INTERP_METHODS",
    "MergeError",
    "MergeRecipe",
    "merge_checkpoints",
    "submit_merge",
    "discard_pattern",
    "sanitized_name",
]


class MergeInterrupted(RuntimeError):
    """The job was interrupted; nothing was written."""


@dataclass(frozen=True)
class MergeInput:
    info: CheckpointInfo
    sha256: str


@dataclass(frozen=True)
class MergeResult:
    path: Path
    name: str  # the file's name in the checkpoint folder, as the checkpoint list shows it
    tensors: int


@dataclass(frozen=True)
class _Step:
    """One output tensor: how it is made ("copy" from A, "merge", "merge_first_channels" of a
    9/8-channel A with a 4-channel B, "vae" from the baked-in VAE) and from which key."""

    spec: TensorSpec
    how: str
    source_key: str


def output_name(recipe: MergeRecipe, inputs: list[MergeInput], extra_channels: int) -> str:
    """A1111's names: "0.7(a) + 0.3(b)", "a + 0.3(b - c)", "a", or the custom one; ".inpainting" /
    ".instruct-pix2pix" when B's weights went into a 9 / 8-channel A's first channels."""
    models = [item.info.model_name for item in inputs]
    m = recipe.multiplier
    if recipe.custom_name.strip():
        name = sanitized_name(recipe.custom_name)
    elif recipe.interp == "Weighted sum":
        name = f"{round(1 - m, 2)}({models[0]}) + {round(m, 2)}({models[1]})"
    elif recipe.interp == "Add difference":
        name = f"{models[0]} + {round(m, 2)}({models[1]} - {models[2]})"
    else:
        name = models[0]
    name += {9: ".inpainting", 8: ".instruct-pix2pix"}.get(extra_channels, "")
    return sanitized_name(name) + ".safetensors"


def merge_checkpoints(recipe: MergeRecipe, inputs: list[MergeInput], output_dir: Path, vae=None,
                      job=None) -> MergeResult:  # fmt: skip
    """Merge `inputs` (A, B, C as `recipe.names()` asks) into output_dir/<name>.safetensors. `vae`:
    a VaeInfo to bake in (its LDM-layout weights replace A's first_stage_model.*). `job`: progress
    and interrupt. Raises MergeError (before writing anything) for what cannot be merged."""
    if len(inputs) != len(recipe.names()):
        raise ValueError(f"{recipe.interp} reads {len(recipe.names())} checkpoint(s), {len(inputs)} given")
    with ExitStack() as stack:
        sources = [TensorFile(item.info.path, f"{'ABC'[i]} ({item.info.name})", stack) for i, item in enumerate(inputs)]
        for other in sources[1:]:
            check_families(sources[0], other)
        vae_file = TensorFile(vae.path, f"VAE {vae.name}", stack) if vae is not None else None
        steps = plan_steps(recipe, sources, vae_file)
        extra = next((sources[0].shapes[s.source_key][1] for s in steps if s.how == "merge_first_channels"), 0)
        target = Path(output_dir) / output_name(recipe, inputs, extra)
        metadata = merge_metadata(recipe, inputs, sources, vae, extra)
        if job is not None:
            job.set_total(1, len(steps))
        with StreamingSafetensorsWriter(target, [step.spec for step in steps], metadata) as writer:
            for index, step in enumerate(steps):
                if job is not None and job.interrupted:
                    raise MergeInterrupted("merge interrupted: nothing was written")
                writer.write(step.spec.name, _output_tensor(step, recipe, sources, vae_file))
                if job is not None:
                    job.report_step(0, index + 1, len(steps))
        _copy_yaml(recipe, inputs, target)
    return MergeResult(path=target, name=target.name, tensors=len(steps))


def plan_steps(recipe: MergeRecipe, sources: list[TensorFile], vae: TensorFile | None) -> list[_Step]:
    """Every output tensor, in A's (sorted) order; raises MergeError for mismatched shapes."""
    a = sources[0]
    discard = discard_pattern(recipe.discard_weights)
    from_vae = {}
    if vae is not None:
        check_vae_space(a, vae)
        from_vae = _vae_replacements(a, vae)
    steps, problems = [], []
    for key in sorted(a.shapes):
        if discard is not None and discard.search(key):
            continue
        dtype = a.dtypes[key]
        if dtype is None:
            raise MergeError(f"{a.label}: {key} has a dtype this merger cannot write")
        out_dtype = torch.float16 if recipe.save_as_half and dtype.is_floating_point else dtype
        spec = TensorSpec(key, out_dtype, a.shapes[key])
        if key in from_vae:
            steps.append(_Step(spec, "vae", from_vae[key]))
            continue
        how, problem = _how_to_merge(key, sources)
        if problem:
            problems.append(problem)
        steps.append(_Step(spec, how, key))
    if problems:
        more = f" (and {len(problems) - 1} more tensors)" if len(problems) > 1 else ""
        raise MergeError(f"cannot merge: {problems[0]}{more}")
    return steps


def _how_to_merge(key: str, sources: list[TensorFile]) -> tuple[str, str | None]:
    a, others = sources[0], sources[1:]
    # Keys only in A are A's (A1111), as are non-float tensors (index tables, step counters).
    if not others or key in SKIP_ON_MERGE or not all(src.is_float(key) for src in sources):
        return "copy", None
    shape_a, shape_b = a.shapes[key], others[0].shapes[key]
    if len(others) == 2 and others[1].shapes[key] != shape_b:
        shape_c = list(others[1].shapes[key])
        return "copy", f"{key}: {others[0].label} has shape {list(shape_b)}, {others[1].label} {shape_c}"
    if shape_a == shape_b:
        return "merge", None
    same_but_channels = len(shape_a) == len(shape_b) >= 2 and (shape_a[0], *shape_a[2:]) == (shape_b[0], *shape_b[2:])
    if same_but_channels and shape_a[1] in (8, 9) and shape_b[1] == 4:
        return "merge_first_channels", None  # an inpainting / ip2p A: B goes into its latent channels
    return "copy", f"{key}: {a.label} has shape {list(shape_a)}, {others[0].label} {list(shape_b)}"


def _vae_replacements(a: TensorFile, vae: TensorFile) -> dict[str, str]:
    """A's first_stage_model.* key -> the VAE file's key for it (the file in LDM layout, with or
    without the whole-checkpoint prefix); refuses a VAE that does not fit A."""
    found, mismatched = {}, []
    for key in vae.shapes:
        if not vae.is_float(key):
            continue
        target = VAE_PREFIX + key.removeprefix(VAE_PREFIX)
        if target not in a.shapes:
            continue
        if a.shapes[target] != vae.shapes[key]:
            mismatched.append(f"{key} {list(vae.shapes[key])} vs {list(a.shapes[target])}")
        found[target] = key
    if mismatched:
        raise MergeError(f"{vae.label} does not fit {a.label}: {mismatched[0]} ({len(mismatched)} tensors differ)")
    if not found:
        raise MergeError(
            f"{vae.label} has no weights for {a.label}'s VAE (first_stage_model.*): only VAE files in the "
            "original (LDM) layout can be baked in"
        )
    return found


def _output_tensor(step: _Step, recipe: MergeRecipe, sources: list[TensorFile], vae: TensorFile | None):
    if step.how == "copy":
        tensor = sources[0].tensor(step.source_key)
    elif step.how == "vae":
        tensor = vae.tensor(step.source_key)
    else:
        tensor = _merged(step, recipe, sources)
    return tensor if tensor.dtype == step.spec.dtype else tensor.to(step.spec.dtype)


def _merged(step: _Step, recipe: MergeRecipe, sources: list[TensorFile]) -> torch.Tensor:
    a = sources[0].tensor(step.source_key)
    # Half-precision inputs are merged in float32 (exact for M=0 and M=1, and no fp16 rounding on the way).
    work = torch.float64 if a.dtype == torch.float64 else torch.float32
    a = a.to(work)
    b = sources[1].tensor(step.source_key).to(work)
    if recipe.interp == "Add difference":
        b = b - sources[2].tensor(step.source_key).to(work)
    m = float(recipe.multiplier)
    part = a[:, :4] if step.how == "merge_first_channels" else a

    merged = part * (1 - m) + b * m if recipe.interp == "Weighted sum" else part + b * m
    if step.how == "merge_first_channels":
        a = a.clone()
        a[:, :4] = merged
        return a
    return merged


def merge_metadata(recipe: MergeRecipe, inputs: list[MergeInput], sources: list[TensorFile], vae,
                   extra_channels: int) -> dict[str, str]:  # fmt: skip
    """A1111's: "format", and with Save metadata "sd_merge_recipe" (this merge) and "sd_merge_models"
    (sha256 -> name, legacy hash, recipe of every input and of the inputs' own inputs)."""
    metadata = {"format": "pt"}
    config = _embedded_config(recipe, sources)
    if config is not None:
        metadata[EMBEDDED_CONFIG_KEY] = config
    if not recipe.save_metadata:
        return metadata
    hashes = [item.sha256 for item in inputs] + [None] * (3 - len(inputs))
    merge_recipe = {
        "type": "webui",
        "primary_model_hash": hashes[0],
        "secondary_model_hash": hashes[1],
        "tertiary_model_hash": hashes[2],
        "interp_method": recipe.interp,
        "multiplier": recipe.multiplier,
        "save_as_half": recipe.save_as_half,
        "custom_name": recipe.custom_name,
        "config_source": CONFIG_SOURCES.index(recipe.copy_config_from),
        "bake_in_vae": vae.name if vae is not None else "None",
        "discard_weights": recipe.discard_weights,
        "is_inpainting": extra_channels == 9,
        "is_instruct_pix2pix": extra_channels == 8,
    }
    models = {}
    for item, source in zip(inputs, sources, strict=True):
        models[item.sha256] = {
            "name": item.info.name,
            "legacy_hash": legacy_hash(item.info.path),
            "sd_merge_recipe": source.json_entry("sd_merge_recipe"),
        }
        earlier = source.json_entry("sd_merge_models")
        if isinstance(earlier, dict):  # the merge of merges: the inputs' own inputs too
            models.update(earlier)
    metadata["sd_merge_recipe"] = json.dumps(merge_recipe)
    metadata["sd_merge_models"] = json.dumps(models)
    return metadata


def _chosen(recipe: MergeRecipe, candidates: list) -> list:
    """The inputs "Copy config from" picks, in order of preference."""
    letters = {"A, B or C": "ABC", "B": "B", "C": "C", "Don't": ""}[recipe.copy_config_from]
    return [candidates[i] for i in range(len(candidates)) if "ABC"[i] in letters]


def _embedded_config(recipe: MergeRecipe, sources: list[TensorFile]) -> str | None:
    """The diffusers configs carried in the output's metadata. They describe the architecture, which
    is A's, and the file cannot be loaded without them when its sizes are not a family's standard
    ones: so the chosen input's, when it has them and is A's family, else A's (also for "Don't")."""
    family = family_of(sources[0]).name
    for source in _chosen(recipe, sources):
        if source.embedded_config() is not None and family_of(source).name == family:
            return source.embedded_config()
    return sources[0].embedded_config()


def _copy_yaml(recipe: MergeRecipe, inputs: list[MergeInput], target: Path) -> None:
    """A1111's "Copy config from": the chosen input's .yaml beside it, copied beside the output."""
    for item in _chosen(recipe, inputs):
        config = item.info.path.with_suffix(".yaml")
        if is_regular_file(config):
            write_bytes_atomic(target.with_suffix(".yaml"), config.read_bytes())
            return


def submit_merge(engine, recipe: MergeRecipe):
    """Queue the merge as a job (never beside a generation). Names are resolved among the listed
    checkpoints and VAEs now: an unknown one raises LookupError / ValueError and nothing is queued."""
    infos = [engine.models.resolve(name) for name in recipe.names()]
    vae = engine.vaes.resolve(recipe.bake_in_vae) if recipe.bake_in_vae not in (None, "", "None") else None
    output_dir = engine.paths.checkpoint_dirs[0]

    def work(job):
        inputs = [MergeInput(info, engine.models.sha256_of(info.path)) for info in infos]
        result = merge_checkpoints(recipe, inputs, output_dir, vae, job)
        # Hashed now, as A1111 does: the checkpoint lists show the new file with its hash at once.
        engine.models.sha256_of(result.path.resolve())
        return result

    return engine.queue.submit(work, description=f"merge {infos[0].name} ({recipe.interp})", kind="merge")
