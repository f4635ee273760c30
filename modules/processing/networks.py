"""Extra networks for one generation: strip `<name:...>` tags from the prompts, hand them to
the extensions that registered the names, and make sure every one is deactivated after."""

from dataclasses import dataclass, field

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
        # Every network is activated, with an empty list when the prompt has none of its tags, so
        # it can undo what an earlier job left merged.
        for name, network in registry.networks_unique():
            owner = registry.network_owner[name]
            mine = [call for n in network.names for call in p.extra_network_calls.get(n, [])]
            try:
                network.activate(p, mine)
            except Exception as error:  # noqa: BLE001 - the job goes on without this network
                engine.extensions.report_error(owner, f"extra network {name}: {type(error).__name__}: {error}")
                p.warnings.append(f"extra network {name!r} failed: {error}")
            active.activated.append((owner, network))
        return active

    def deactivate(self) -> None:
        for owner, network in self.activated:
            try:
                network.deactivate(self.p)
            except Exception as error:  # noqa: BLE001
                self.engine.extensions.report_error(owner, f"deactivate: {type(error).__name__}: {error}")

    def switch_model(self, p) -> None:
        """Move every network to the model that takes over mid-job (the refiner): undone on the model
        being left, applied to `p.model` with the same tags; the job's deactivate() undoes it there."""
        old = self.p
        if p is old:
            return
        for owner, network in self.activated:
            mine = [call for n in network.names for call in old.extra_network_calls.get(n, [])]
            try:
                network.deactivate(old)
                network.activate(p, mine)
            except Exception as error:  # noqa: BLE001 - the job goes on without this network
                self.engine.extensions.report_error(owner, f"model switch: {type(error).__name__}: {error}")
                p.warnings.append(f"extra network {owner!r} failed on {p.model.info.name}: {error}")
        self.p = p


def network_state(p) -> tuple:
    """What extra networks did to the weights this job: part of the encoding cache key."""
    return tuple((name, tuple((c.positional, tuple(sorted(c.named.items()))) for c in calls))
                 for name, calls in sorted(p.extra_network_calls.items()))  # fmt: skip
