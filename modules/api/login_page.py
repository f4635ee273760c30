"""The small login page the HTTP guard shows browsers: a form that posts user name and password
back to /login, which sets the session cookie and returns to the page first asked for."""

import html
from urllib.parse import parse_qs, quote

from starlette.responses import HTMLResponse

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>SD Studio: log in</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f4f5; display: grid; place-items: center;
       min-height: 90vh; margin: 0; }}
form {{ background: #fff; padding: 2em; border-radius: 8px; box-shadow: 0 1px 4px #0002; min-width: 18em; }}
label {{ display: block; margin: .8em 0 .3em; }}
input {{ width: 100%; box-sizing: border-box; padding: .5em; font-size: 1em; }}
button {{ margin-top: 1.2em; width: 100%; padding: .6em; font-size: 1em; }}
.error {{ color: #b91c1c; }}
</style></head>
<body><form id="login_form" method="post" action="/login">
<h1>SD Studio</h1>{message}
<label for="login_username">User name</label>
<input id="login_username" name="username" autocomplete="username" required autofocus>
<label for="login_password">Password</label>
<input id="login_password" name="password" type="password" autocomplete="current-password" required>
<input type="hidden" name="next" value="{next_path}">
<button id="login_submit" type="submit">Log in</button>
</form></body></html>
"""


def safe_next(path: str | None) -> str:
    """Only a path on this server: `//evil.example` or `https://...` would make /login an open redirect."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(safe_next(next_path), safe="/")


def form_response(query: str, failed: bool = False, next_path: str | None = None) -> HTMLResponse:
    if next_path is None:
        next_path = parse_qs(query).get("next", ["/"])[0]
    message = '<p class="error" id="login_error">Wrong user name or password.</p>' if failed else ""
    page = PAGE.format(message=message, next_path=html.escape(safe_next(next_path), quote=True))
    # The form is never cached: it is the one page shown without a login.
    return HTMLResponse(page, status_code=401 if failed else 200, headers={"Cache-Control": "no-store"})


def parse_form(body: bytes) -> tuple[str, str, str]:
    """application/x-www-form-urlencoded -> (user, password, next path)."""
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    first = lambda name: fields.get(name, [""])[0]  # noqa: E731
    return first("username"), first("password"), safe_next(first("next"))
