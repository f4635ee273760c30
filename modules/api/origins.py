"""Which Host names the server answers to and which web origins may change its state.

A page on another site must not drive the server: a DNS-rebinding page reaches it under a foreign
Host name, a page on another local port under a foreign Origin. Both are refused (see security.py)."""

import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from modules.config.flags import LOOPBACK_NAMES, comma_list, listens_beyond_localhost

ANY_ADDRESS = ("0.0.0.0", "::", "")
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Sec-Fetch-Site values of a request made by another site's page; "same-site" includes pages on
# other ports of this very host.
OTHER_SITE = ("cross-site", "same-site")


def split_host(value: str | None) -> tuple[str, int | None] | None:
    """A Host header (`name`, `name:port`, `[v6]:port`) -> (lower-case name, port or None)."""
    if not value:
        return None
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:]
    elif value.count(":") > 1:  # a bare IPv6 address, as some clients send it
        name, port_text = value, ""
    else:
        name, _, port_text = value.partition(":")
    if not name or (port_text and not port_text.isdigit()):
        return None
    return name, int(port_text) if port_text else None


def machine_names() -> set[str]:
    """This machine's host names and addresses: how LAN clients reach it under --listen."""
    names: set[str] = set()
    hostname = socket.gethostname().lower()
    for name in (hostname, socket.getfqdn().lower(), f"{hostname}.local"):
        if name:
            names.add(name)
    try:
        for info in socket.getaddrinfo(hostname, None):
            names.add(str(info[4][0]).split("%")[0].lower())
    except OSError:
        pass
    try:
        import psutil  # present with accelerate; sees every interface, not only the one the name resolves to

        for addresses in psutil.net_if_addrs().values():
            for address in addresses:
                if address.family in (socket.AF_INET, socket.AF_INET6):
                    names.add(address.address.split("%")[0].lower())
    except (ImportError, OSError):
        pass
    return names


def allowed_host_names(flags, machine: set[str] | None = None) -> frozenset[str] | None:
    """The Host names accepted; None means any (`--allowed-hosts '*'`)."""
    extra = [name.lower() for name in comma_list(flags.allowed_hosts)]
    if "*" in extra:
        return None
    names = set(LOOPBACK_NAMES)
    if flags.server_name not in ANY_ADDRESS:
        names.add(flags.server_name.lower())
    if listens_beyond_localhost(flags):
        names |= machine if machine is not None else machine_names()
    names |= {parsed[0] for parsed in map(split_host, extra) if parsed}
    return frozenset(names - set(ANY_ADDRESS))


def _without_default_port(name: str, port: int | None, defaults: tuple[int, ...]) -> tuple[str, int | None]:
    return name, None if port in defaults else port


def same_origin(origin: str, host_header: str) -> bool:
    """Is `origin` (scheme://name[:port]) the server's own, as reached through `host_header`?
    Ports must agree, so a page on another local port is not our origin. A default port on
    either side counts as none: behind a TLS proxy the Origin says https while Host has no port."""
    host = split_host(host_header)
    try:
        parts = urlsplit(origin)
        origin_port = parts.port
    except ValueError:
        return False
    if host is None or not parts.hostname or parts.scheme not in DEFAULT_PORTS:
        return False
    mine = _without_default_port(host[0], host[1], (80, 443))
    theirs = _without_default_port(parts.hostname.lower(), origin_port, (DEFAULT_PORTS[parts.scheme],))
    return mine == theirs


@dataclass(frozen=True)
class CorsOrigins:
    """The origins named by --cors-allow-origins / --cors-allow-origins-regex (A1111's flags)."""

    names: tuple[str, ...] = ()
    pattern: str | None = None

    @classmethod
    def from_flags(cls, flags) -> "CorsOrigins":
        names = tuple(name.rstrip("/") for name in comma_list(flags.cors_allow_origins))
        pattern = flags.cors_allow_origins_regex or None
        if pattern:
            re.compile(pattern)  # a bad pattern fails at start, not on the first request
        return cls(names, pattern)

    @property
    def enabled(self) -> bool:
        return bool(self.names or self.pattern)

    def allows(self, origin: str) -> bool:
        if "*" in self.names or origin.rstrip("/") in self.names:
            return True
        return bool(self.pattern and re.fullmatch(self.pattern, origin))


def from_own_page(headers) -> bool:
    """Did this request come from one of our own pages (or from no page at all, as a script's
    does)? Stricter than the guard's check: an origin allowed by the CORS flags is not enough."""
    origin = headers.get("origin")
    if origin is not None:
        return same_origin(origin, headers.get("host", ""))
    return headers.get("sec-fetch-site") not in OTHER_SITE
