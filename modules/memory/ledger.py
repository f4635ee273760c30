"""The ledger: everything loaded (checkpoint parts, refiner, TAESD, upscalers, ONNX sessions,
training state), who owns it, its size and where its weights are now.

Entries hold their modules weakly: a model its owner dropped without telling the ledger leaves it
with its last reference rather than being kept alive by it."""

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

RESIDENT, RAM_CACHE = "resident", "ram-cache"
KINDS = ("checkpoint", "refiner", "taesd", "upscaler", "onnx", "training")


@dataclass
class LedgerEntry:
    key: str  # unique per owner: a checkpoint's path, "taesd:sd", an upscaler's file
    owner: str  # what the user knows it by: the checkpoint name, "taesd:sd", the upscaler's name
    kind: str
    parts: dict  # component name -> weakref to its torch module (or a plain byte count)
    state: str = RESIDENT
    free: Callable[[], None] | None = None  # drops it (make_room calls this); None: not freeable
    execution_device: str = ""
    sizes: dict = field(default_factory=dict)  # component -> bytes, measured at registration

    def rows(self) -> list[dict]:
        rows = []
        for component, ref in self.parts.items():
            module = ref() if isinstance(ref, weakref.ref) else None
            if isinstance(ref, weakref.ref) and module is None:
                continue  # gone with its last reference
            rows.append({"owner": self.owner, "kind": self.kind, "component": component,
                         "bytes": module_bytes(module) if module is not None else self.sizes.get(component, 0),
                         "device": module_device(module) if module is not None else "cpu",
                         "execution_device": self.execution_device, "state": self.state})  # fmt: skip
        return rows


class Ledger:
    """Thread-safe: the job thread registers, an API request reads."""

    def __init__(self):
        self._entries: dict[str, LedgerEntry] = {}
        self._sources: dict[str, tuple[str, str, Callable[[], dict]]] = {}
        self._lock = threading.Lock()

    def register(self, key: str, owner: str, kind: str, parts: dict, *, state: str = RESIDENT,
                 free: Callable[[], None] | None = None, execution_device: str = "") -> None:  # fmt: skip
        """Record (or replace) what `key` holds: `parts` maps a component name to its torch module
        (or to a byte count for something that is not one, e.g. an ONNX session)."""
        if kind not in KINDS:
            raise ValueError(f"ledger kind {kind!r}: expected one of {', '.join(KINDS)}")
        held, sizes = {}, {}
        for component, thing in parts.items():
            if thing is None:
                continue
            if isinstance(thing, int):
                held[component], sizes[component] = thing, thing
            else:
                held[component], sizes[component] = weakref.ref(thing), module_bytes(thing)
        entry = LedgerEntry(key, owner, kind, held, state, free, str(execution_device), sizes)
        with self._lock:
            self._entries[key] = entry

    def register_source(self, key: str, owner: str, kind: str, parts: Callable[[], dict]) -> None:
        """Something that loads lazily (TAESD, an upscaler): `parts()` says what it holds now."""
        with self._lock:
            self._sources[key] = (owner, kind, parts)

    def release(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._sources.pop(key, None)

    def entries(self) -> list[LedgerEntry]:
        with self._lock:
            entries, sources = list(self._entries.values()), list(self._sources.items())
        for key, (owner, kind, parts) in sources:
            held = {name: weakref.ref(module) for name, module in (parts() or {}).items() if module is not None}
            if held:
                entries.append(LedgerEntry(key, owner, kind, held))
        return entries

    def rows(self) -> list[dict]:
        return [row for entry in self.entries() for row in entry.rows()]

    def total_bytes(self, device: str | None = None) -> int:
        return sum(row["bytes"] for row in self.rows() if device is None or row["device"] == device)


def module_bytes(module) -> int:
    """Parameters + buffers (each tensor once, however many modules share it)."""
    seen, total = set(), 0
    for tensor in (*module.parameters(), *module.buffers()):
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        total += tensor.numel() * tensor.element_size()
    return total


def module_device(module) -> str:
    """Where the module's weights are now (for the report; under an offload mode this is where
    they rest, not where they compute)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return str(tensor.device)
    return "cpu"
