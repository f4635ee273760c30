"""The engine's cache of prompt encodings (no torch import: the engine builds it at start-up)."""

import threading
from collections import OrderedDict


class EncodingCache:
    """Least-recently-used hidden states by (model and options key, text). Shared by the jobs of
    one engine: generating twice with the same prompts encodes them once."""

    def __init__(self, size: int = 64):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
