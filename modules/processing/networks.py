"""Extra networks for one generation: strip `<name:...>` tags from the prompts, hand them to the
extensions that registered the names, and merge the patches they hand back into the model.

Networks add patches to `p.patches` in activate(); once every network has activated, the core
applies the whole set through the model's patcher (modules/models/patcher.py), which does nothing
when the set equals the one already merged. Patches stay merged after the job: the next job's set
decides (a job without tags restores the original weights). Networks of the older kind, which
change weights in place in activate() and undo it in deactivate(), keep working: they add no
patches, and deactivate() is still called for them."""

from dataclasses import dataclass, field

from modules.models.patcher import PatchCollector, PatchSet
from modules.prompts.extra_networks import group_by_name, strip_tags


@dataclass
class ActiveNetworks:
    engine: object
    p: object
    activated: list = field(default_factory=list)  # (owner, network) pairs to deactivate

    @classmethod
    def activate(cls, engine, p) -> "ActiveNetworks":
        p.prompt, calls = strip_tags(p.prompt)
        p.negative_prompt, negative_calls = strip_tags(p.negative_prompt)
        p.extra_network_calls = group_by_name(calls + negative_calls)
        registry = engine.plugins
        for name in p.extra_network_calls:
            if name not in registry.networks:
                p.warnings.append(f"unknown extra network <{name}:...>: no extension handles {name!r}; tag ignored")
        active = cls(engine, p)
        p.patches = PatchCollector()
        # Every network is activated, with an empty list when the prompt has none of its tags, so
        # an old-style network can undo what an earlier job left merged.
        for name, network in registry.networks_unique():
            owner = registry.network_owner[name]
            mine = [call for n in network.names for call in p.extra_network_calls.get(n, [])]
            try:
                network.activate(p, mine)
            except Exception as error:  # noqa: BLE001 - the job goes on without this network
                engine.extensions.report_error(owner, f"extra network {name}: {type(error).__name__}: {error}")
                p.warnings.append(f"extra network {name!r} failed: {error}")
            active.activated.append((owner, network))
        apply_patches(p)
        return active

    def deactivate(self) -> None:
        """Old-style networks undo their in-place changes; patches stay merged for the next job."""
        for owner, network in self.activated:
            try:
                network.deactivate(self.p)
            except Exception as error:  # noqa: BLE001
                self.engine.extensions.report_error(owner, f"deactivate: {type(error).__name__}: {error}")

    def switch_model(self, p) -> None:
        """Move every network to the model that takes over mid-job (refiner, hires checkpoint): the
        set is computed again for `p.model` with the same tags and merged by that model's own
        patcher. The model left keeps its set (the next job on it decides); switching back finds
        its set unchanged and merges nothing."""
        old = self.p
        if p is old:
            return
        p.patches = PatchCollector()
        for owner, network in self.activated:
            mine = [call for n in network.names for call in old.extra_network_calls.get(n, [])]
            try:
                network.deactivate(old)
                network.activate(p, mine)
            except Exception as error:  # noqa: BLE001 - the job goes on without this network
                self.engine.extensions.report_error(owner, f"model switch: {type(error).__name__}: {error}")
                p.warnings.append(f"extra network {owner!r} failed on {p.model.info.name}: {error}")
        apply_patches(p)
        self.p = p


def apply_patches(p) -> None:
    """Merge the patches the networks added to `p.patches` into `p.model` (an unchanged set: nothing
    is done). A set that cannot be merged leaves the model untouched and the job runs without it."""
    patcher = getattr(p.model, "patcher", None)
    if patcher is None:
        return
    patch_set = p.patches.patch_set()
    try:
        patcher.apply(patch_set)
    except Exception as error:  # noqa: BLE001 - a network's delta failed: the job goes on without the set
        p.warnings.append(f"extra networks: their weight changes could not be applied ({error}); left out of this job")
        patcher.apply(PatchSet())


def network_state(p) -> tuple:
    """What extra networks did to the weights this job: part of the encoding cache key."""
    return tuple((name, tuple((c.positional, tuple(sorted(c.named.items()))) for c in calls))
                 for name, calls in sorted(p.extra_network_calls.items()))  # fmt: skip
