"""Credentials from the flags, their constant-time check, session cookies and the --listen rule."""

import base64

import pytest

from modules.api.auth import (
    API,
    UI,
    AuthConfigError,
    Credentials,
    SessionSigner,
    basic_credentials,
    credentials_match,
    listen_refusal,
    parse_credentials,
)
from modules.api.login_page import safe_next
from modules.config.flags import parse_flags


def test_entries_split_on_commas_and_newlines_and_passwords_keep_their_colons():
    assert parse_credentials("alice:pa:ss, bob:b\ncarol:c\r\n", "--gradio-auth") == {
        "alice": "pa:ss",
        "bob": "b",
        "carol": "c",
    }


@pytest.mark.parametrize("text", ["alice", "alice:", ":secret-word", "ok:fine,secret-word"])
def test_bad_entries_are_refused_without_echoing_them(text):
    with pytest.raises(AuthConfigError) as error:
        parse_credentials(text, "--api-auth")
    assert "secret-word" not in str(error.value) and "--api-auth" in str(error.value)


def test_each_realm_falls_back_to_the_other_users(tmp_path):
    only_api = Credentials.from_flags(parse_flags(["--api-auth", "bot:t"]))
    assert only_api.realms_for("bot", "t") == {UI, API}
    users = tmp_path / "users.txt"
    users.write_text("alice:a\n")
    split = Credentials.from_flags(parse_flags(["--gradio-auth", "eve:e", "--gradio-auth-path", str(users)]))
    assert split.realms_for("alice", "a") == split.realms_for("eve", "e") == {UI, API}
    both = Credentials.from_flags(parse_flags(["--gradio-auth", "alice:a", "--api-auth", "bot:t"]))
    assert both.realms_for("alice", "a") == {UI} and both.realms_for("bot", "t") == {API}
    assert both.realms_for("alice", "t") == frozenset() and not Credentials.from_flags(parse_flags([])).enabled
    assert "alice" not in both.describe() and "1 user(s) of its own" in both.describe()


def test_auth_file_that_cannot_be_used_is_an_error(tmp_path):
    with pytest.raises(AuthConfigError, match="cannot read"):
        Credentials.from_flags(parse_flags(["--gradio-auth-path", str(tmp_path / "missing.txt")]))
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(AuthConfigError, match="no USER:PASSWORD"):
        Credentials.from_flags(parse_flags(["--gradio-auth-path", str(tmp_path / "empty.txt")]))


def test_credentials_match_needs_both_parts_of_one_entry():
    users = {"alice": "a", "bob": "b"}
    assert credentials_match(users, "alice", "a") and credentials_match(users, "bob", "b")
    assert not credentials_match(users, "alice", "b") and not credentials_match(users, "alic", "a")
    assert not credentials_match(users, "alice", "a ") and not credentials_match({}, "", "")


def test_basic_header_parsing():
    encoded = base64.b64encode(b"bob:pa:ss").decode()
    assert basic_credentials(f"Basic {encoded}") == ("bob", "pa:ss")
    assert basic_credentials(f"basic {encoded}") == ("bob", "pa:ss")
    for header in (None, "", f"Bearer {encoded}", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode()):
        assert basic_credentials(header) is None


def test_session_cookie_is_signed_and_expires():
    signer = SessionSigner(lifetime=60)
    value = signer.issue("álice", frozenset({UI}), now=1000)
    assert signer.verify(value, now=1001) == ("álice", frozenset({UI}))
    assert signer.verify(value, now=1061) is None  # expired
    assert SessionSigner().verify(value, now=1001) is None  # another process's secret
    user, realms, expiry, signature = value.split(".")
    assert signer.verify(f"{user}.api+ui.{expiry}.{signature}", now=1001) is None  # realms widened
    assert signer.verify(f"{user}.{realms}.99999999.{signature}", now=1001) is None  # life extended
    assert "=" not in value and ";" not in value and '"' not in value  # a plain cookie value


@pytest.mark.parametrize(
    "argv, refused",
    [
        ((), False),
        (("--listen",), True),
        (("--server-name", "192.168.1.5"), True),
        (("--listen", "--insecure"), False),
        (("--listen", "--gradio-auth", "a:b"), False),
        (("--listen", "--api-auth", "a:b"), False),
        (("--server-name", "localhost"), False),
    ],
)
def test_listening_beyond_localhost_needs_a_login_or_insecure(argv, refused):
    flags = parse_flags(list(argv))
    reason = listen_refusal(flags, Credentials.from_flags(flags))
    assert (reason is not None) == refused
    if reason:
        assert "--gradio-auth" in reason and "--insecure" in reason


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/", "/"),
        ("/?x=1", "/?x=1"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil", "/"),
        ("", "/"),
    ],
)
def test_login_only_returns_to_our_own_paths(target, expected):
    assert safe_next(target) == expected
