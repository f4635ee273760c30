"""Who may use the server: the users of --gradio-auth / --gradio-auth-path / --api-auth, checked in
constant time, and the signed session cookie the login page hands to browsers.

Two realms: "ui" (the page and Gradio's routes) and "api" (/sdapi and extension routes). Each
realm falls back to the other's users, so any one auth flag protects everything."""

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from modules.config.flags import comma_list, listens_beyond_localhost

UI = "ui"
API = "api"
SESSION_SECONDS = 7 * 24 * 3600


class AuthConfigError(ValueError):
    """A credential flag or file that cannot be used; the message never contains a password."""


def parse_credentials(text: str, source: str) -> dict[str, str]:
    """`user:pass,user2:pass2` (newlines count as commas) -> {user: password}. A password may
    contain ':' (the first one splits), not ','."""
    users: dict[str, str] = {}
    entries = comma_list(text.replace("\r", "\n").replace("\n", ","))
    for number, entry in enumerate(entries, start=1):
        user, colon, password = entry.partition(":")
        user = user.strip()
        if not colon or not user or not password:
            raise AuthConfigError(f"{source}: entry {number} is not USER:PASSWORD (both non-empty)")
        users[user] = password
    return users


@dataclass(frozen=True)
class Credentials:
    ui_users: Mapping[str, str] = field(default_factory=dict)
    api_users: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_flags(cls, flags) -> "Credentials":
        ui_users = parse_credentials(flags.gradio_auth or "", "--gradio-auth")
        if flags.gradio_auth_path:
            path = Path(flags.gradio_auth_path).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise AuthConfigError(f"--gradio-auth-path: cannot read {path}: {error}") from error
            from_file = parse_credentials(text, f"--gradio-auth-path {path}")
            if not from_file:
                raise AuthConfigError(f"--gradio-auth-path: {path} holds no USER:PASSWORD entry")
            ui_users.update(from_file)
        api_users = parse_credentials(flags.api_auth or "", "--api-auth")
        if (flags.gradio_auth is not None and not ui_users) or (flags.api_auth is not None and not api_users):
            raise AuthConfigError("an auth flag was given without any USER:PASSWORD entry")
        # One login covers everything: a realm without its own users takes the other's.
        return cls(ui_users=ui_users or api_users, api_users=api_users or ui_users)

    @property
    def enabled(self) -> bool:
        return bool(self.ui_users or self.api_users)

    def users(self, realm: str) -> Mapping[str, str]:
        return self.api_users if realm == API else self.ui_users

    def realms_for(self, user: str, password: str) -> frozenset[str]:
        """The realms in which these credentials are valid (empty: wrong)."""
        return frozenset(realm for realm in (UI, API) if credentials_match(self.users(realm), user, password))

    def describe(self) -> str:
        """For the start-up log: how many users per realm, never who or which password."""
        if not self.enabled:
            return "Authentication: off"
        shared = dict(self.ui_users) == dict(self.api_users)
        api = "the same users" if shared else f"{len(self.api_users)} user(s) of its own"
        return f"Authentication: on ({len(self.ui_users)} user(s) for the UI; the API takes {api})"


def credentials_match(users: Mapping[str, str], user: str, password: str) -> bool:
    """Constant time in the user name and password: every entry is compared, fully."""
    given_user, given_password = user.encode(), password.encode()
    matched = 0
    for known_user, known_password in users.items():
        same_user = hmac.compare_digest(known_user.encode(), given_user)
        same_password = hmac.compare_digest(known_password.encode(), given_password)
        matched |= same_user & same_password
    return bool(matched)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """`Authorization: Basic base64(user:password)` -> (user, password); None if absent or malformed."""
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


class SessionSigner:
    """Cookie values `user.realms.expiry.signature`, signed with HMAC-SHA256 under a secret made
    afresh for each process: a restart logs everyone out, and nothing secret is stored on disk."""

    def __init__(self, secret: bytes | None = None, lifetime: int = SESSION_SECONDS):
        self._secret = secret or secrets.token_bytes(32)
        self.lifetime = lifetime

    def issue(self, user: str, realms: frozenset[str], now: float | None = None) -> str:
        expiry = int((now or time.time()) + self.lifetime)
        payload = f"{_b64(user)}.{'+'.join(sorted(realms))}.{expiry}"
        return f"{payload}.{self._sign(payload)}"

    def verify(self, value: str, now: float | None = None) -> tuple[str, frozenset[str]] | None:
        payload, _, signature = value.rpartition(".")
        if not payload or not hmac.compare_digest(self._sign(payload), signature):
            return None
        user_b64, realms, expiry = payload.split(".", 2)
        if not expiry.isdigit() or int(expiry) < (now or time.time()):
            return None
        try:
            user = base64.urlsafe_b64decode(user_b64 + "=" * (-len(user_b64) % 4)).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        return user, frozenset(realms.split("+")) - {""}

    def _sign(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()


def _b64(text: str) -> str:
    # Unpadded: '=' would make the cookie value need quotes.
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def listen_refusal(flags, credentials: Credentials) -> str | None:
    """Why the server must not start as asked, or None. Open to the network without a login,
    anyone there could generate, change settings and read outputs: that takes --insecure."""
    if not listens_beyond_localhost(flags) or credentials.enabled or flags.insecure:
        return None
    where = "--listen" if flags.listen else f"--server-name {flags.server_name}"
    return (
        f"Refusing to start: the server would listen on {flags.server_name} ({where}) without any login, so "
        "anyone who can reach this machine could use it (generate images, change settings, read your outputs). "
        "Give --gradio-auth USER:PASS (or --gradio-auth-path FILE, or --api-auth USER:PASS), or add --insecure "
        "to run it open anyway, e.g. on a trusted network or behind a proxy that authenticates."
    )
