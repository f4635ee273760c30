"""What this process uses and may still allocate, from the kernel's own accounting (Linux). No
torch here: bench/memory.py's probes read it before torch is imported."""

from pathlib import Path


def status_bytes(key: str) -> int:
    """A size line of /proc/self/status ("VmData", "VmHWM", "VmPeak", ...) in bytes; 0 when the
    system has no such file or line."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def process_room_bytes() -> int:
    """What this process may still allocate under its own limits: RLIMIT_DATA / RLIMIT_AS less what
    it uses of each, and the cgroup's memory.max less memory.current. A process started under a cap
    (a container, `ulimit -d`, bench/memory.py's probes) otherwise sees the whole machine's free RAM."""
    import resource

    room = []
    for limit, key in ((resource.RLIMIT_DATA, "VmData"), (resource.RLIMIT_AS, "VmSize")):
        soft, _hard = resource.getrlimit(limit)
        if soft != resource.RLIM_INFINITY:
            room.append(soft - status_bytes(key))
    try:
        top = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if top != "max":
            room.append(int(top) - int(Path("/sys/fs/cgroup/memory.current").read_text()))
    except (OSError, ValueError):
        pass
    return max(0, min(room)) if room else 1 << 62
