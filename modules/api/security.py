"""The HTTP guard: one pure ASGI middleware in front of the UI, the API, extension routes and
Gradio's own routes. In order, for every request:

1. Host must be one of ours (DNS rebinding): else 421.
2. A state-changing request (POST/PUT/PATCH/DELETE, and every WebSocket) must come from our own
   origin or one named by the CORS flags; without Origin, Sec-Fetch-Site must not say another
   site. Clients that send neither (curl, Python) pass on. Else 403.
3. Bodies are capped (Content-Length first, streamed bytes counted too): else 413.
4. With credentials configured: HTTP Basic or our signed session cookie; else the login page for
   a browser opening the UI, 401 with `WWW-Authenticate: Basic` for the rest.

Responses lose CORS headers unless the CORS flags are given (Gradio would otherwise grant them to
any page on a local port) and may not be framed by other sites."""

from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modules.api import login_page
from modules.api.auth import API, UI, Credentials, SessionSigner, basic_credentials
from modules.api.origins import OTHER_SITE, CorsOrigins, allowed_host_names, same_origin, split_host

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
LOGIN_BODY_LIMIT = 64 * 1024


@dataclass
class GuardPolicy:
    allowed_hosts: frozenset[str] | None  # None: any Host (--allowed-hosts '*')
    cors: CorsOrigins = field(default_factory=CorsOrigins)
    credentials: Credentials = field(default_factory=Credentials)
    max_body_bytes: int = 64 * 1024 * 1024
    is_api_request: Callable[[Scope], bool] = lambda scope: True
    cookie_name: str = "sdstudio_session"
    signer: SessionSigner = field(default_factory=SessionSigner)

    def host_allowed(self, host_header: str | None) -> bool:
        host = split_host(host_header)
        return host is not None and (self.allowed_hosts is None or host[0] in self.allowed_hosts)

    def origin_refusal(self, headers: Headers) -> str | None:
        """Why a request that changes state is refused as coming from another site, or None."""
        origin = headers.get("origin")
        if origin is None:
            if headers.get("sec-fetch-site") in OTHER_SITE:
                return "a request from another site's page may not change anything here"
            return None
        if same_origin(origin, headers.get("host", "")) or self.cors.allows(origin):
            return None
        return (
            f"origin {origin} may not change anything here: only this server's own pages "
            "and the origins named by --cors-allow-origins / --cors-allow-origins-regex may"
        )


def refusal(status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"detail": reason}, status_code=status, headers=headers)


class HttpGuard:
    def __init__(self, app: ASGIApp, policy: GuardPolicy):
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        # WebSockets ignore CORS entirely, so the origin is checked on every one.
        headers = Headers(scope=scope)
        policy = self.policy
        if (
            not policy.host_allowed(headers.get("host"))
            or policy.origin_refusal(headers)
            or (policy.credentials.enabled and not self._may_pass(scope, headers))
        ):
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        policy = self.policy
        method = scope["method"]
        if not policy.host_allowed(headers.get("host")):
            reason = (
                f"this server does not answer to the host name {headers.get('host')!r}; "
                "start it with --allowed-hosts NAME to add one"
            )
            return await refusal(421, reason)(scope, receive, send)
        if method in STATE_CHANGING:
            reason = policy.origin_refusal(headers)
            if reason:
                return await refusal(403, reason)(scope, receive, send)
        too_big = self._declared_too_big(headers)
        if too_big:
            return await too_big(scope, receive, send)
        path = scope["path"]
        if policy.credentials.enabled and path in (LOGIN_PATH, LOGOUT_PATH):
            return await self._login(scope, receive, send, headers)
        if policy.credentials.enabled and not self._may_pass(scope, headers):
            return await self._unauthenticated(scope, headers)(scope, receive, send)
        cap = _BodyCap(receive, send, policy.max_body_bytes, self._too_big_response(), not policy.cors.enabled)
        try:
            await self.app(scope, cap.receive, cap.send)
        except Exception:
            if not cap.refused:
                raise
            # The app saw the client leave when the body passed the limit; the 413 is already sent.

    # -- authentication ------------------------------------------------------------------------

    def _may_pass(self, scope: Scope, headers: Headers) -> bool:
        if scope.get("method") == "OPTIONS" and "access-control-request-method" in headers:
            return True  # a CORS preflight never carries credentials; CORSMiddleware answers it
        realm = API if self.policy.is_api_request(scope) else UI
        realms = self._authenticated_realms(headers, scope)
        return realms is not None and realm in realms

    def _authenticated_realms(self, headers: Headers, scope: Scope) -> frozenset[str] | None:
        authorization = headers.get("authorization")
        if authorization:
            given = basic_credentials(authorization)
            realms = self.policy.credentials.realms_for(*given) if given else frozenset()
            return realms or None  # wrong credentials are wrong, whatever cookie comes along
        cookie = _cookie(headers, self.policy.cookie_name)
        session = self.policy.signer.verify(cookie) if cookie else None
        if session is None:
            return None
        user, realms = session
        # Still a user of those realms (the cookie outlives nothing: the secret is per process).
        return frozenset(r for r in realms if user in self.policy.credentials.users(r)) or None

    def _unauthenticated(self, scope: Scope, headers: Headers) -> Response:
        wants_page = scope["method"] == "GET" and "text/html" in headers.get("accept", "")
        if wants_page and not self.policy.is_api_request(scope):
            return RedirectResponse(login_page.login_url(_path_with_query(scope)), status_code=303)
        headers = {"WWW-Authenticate": 'Basic realm="SD Studio", charset="UTF-8"'}
        return refusal(401, "log in first: HTTP Basic credentials or the login page at /login", headers)

    async def _login(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        policy = self.policy
        secure = scope.get("scheme") == "https"
        if scope["path"] == LOGOUT_PATH:
            response = RedirectResponse(LOGIN_PATH, status_code=303)
            response.delete_cookie(policy.cookie_name, path="/", secure=secure, httponly=True, samesite="strict")
            return await response(scope, receive, send)
        query = scope.get("query_string", b"").decode("latin-1")
        if scope["method"] == "GET":
            return await login_page.form_response(query)(scope, receive, send)
        if scope["method"] != "POST":
            return await refusal(405, "GET shows the login form, POST sends it")(scope, receive, send)
        body = await _read_body(receive, LOGIN_BODY_LIMIT)
        if body is None:
            return await refusal(413, "the login form is larger than 64 KiB")(scope, receive, send)
        user, password, next_path = login_page.parse_form(body)
        realms = policy.credentials.realms_for(user, password)
        if not realms:
            return await login_page.form_response(query, failed=True, next_path=next_path)(scope, receive, send)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            policy.cookie_name,
            policy.signer.issue(user, realms),
            max_age=policy.signer.lifetime,
            path="/",
            secure=secure,
            httponly=True,
            samesite="strict",
        )
        await response(scope, receive, send)

    # -- body size -----------------------------------------------------------------------------

    def _too_big_response(self) -> Response:
        limit_mb = self.policy.max_body_bytes / (1024 * 1024)
        return refusal(
            413, f"the request body is larger than the limit of {limit_mb:g} MiB (set with --max-body-size MB)"
        )

    def _declared_too_big(self, headers: Headers) -> Response | None:
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.policy.max_body_bytes:
            return self._too_big_response()
        return None


class _BodyCap:
    """Counts the body as it streams in (chunked uploads declare no length). Past the limit the
    client gets 413 and the app is told the client left; whatever the app sends after is dropped."""

    def __init__(self, receive: Receive, send: Send, limit: int, too_big: Response, strip_cors: bool):
        self._receive, self._send = receive, send
        self._limit, self._too_big, self._strip_cors = limit, too_big, strip_cors
        self.received = 0
        self.started = False
        self.refused = False

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
            message = _secured_start(message, self._strip_cors)
        await self._send(message)

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self._limit:
                if not self.started:
                    await self._too_big({"type": "http"}, _nothing, self._send)
                self.refused = True
                return {"type": "http.disconnect"}
        return message


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


def _secured_start(message: Message, strip_cors: bool) -> Message:
    headers = [
        (name, value)
        for name, value in message.get("headers", [])
        if not (strip_cors and name.lower().startswith(b"access-control-"))
    ]
    if not any(name.lower() == b"x-frame-options" for name, _ in headers):
        headers.append((b"x-frame-options", b"SAMEORIGIN"))  # no clicking our buttons inside another site
    return {**message, "headers": headers}


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _cookie(headers: Headers, name: str) -> str | None:
    jar = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # noqa: BLE001 - a malformed Cookie header is no cookie
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def _path_with_query(scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return scope["path"] + (f"?{query}" if query else "")


def api_route_matcher(routes: list) -> Callable[[Scope], bool]:
    """Requests for these routes (the A1111 API, extension routes, /docs) are in the "api" realm;
    the rest (the page, Gradio's routes) in the "ui" realm."""
    from starlette.routing import Match

    def is_api_request(scope: Scope) -> bool:
        if scope["path"].startswith("/sdapi/"):
            return True
        return any(route.matches(scope)[0] != Match.NONE for route in routes)

    return is_api_request


def protect_app(app, flags, credentials: Credentials, is_api_request: Callable[[Scope], bool]) -> GuardPolicy:
    """Put the guard (and, only when the CORS flags ask for it, CORSMiddleware) in front of `app`."""
    cors = CorsOrigins.from_flags(flags)
    if cors.enabled:
        from starlette.middleware.cors import CORSMiddleware  # Gradio then leaves CORS to it

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors.names),
            allow_origin_regex=cors.pattern,
            allow_methods=["*"],
            allow_headers=["*"],
            allow_credentials=True,
        )
    policy = GuardPolicy(
        allowed_hosts=allowed_host_names(flags),
        cors=cors,
        credentials=credentials,
        max_body_bytes=flags.max_body_size * 1024 * 1024,
        is_api_request=is_api_request,
        # Cookies ignore ports: two servers on one host must not overwrite each other's session.
        cookie_name=f"sdstudio_session_{flags.port}",
    )
    app.add_middleware(HttpGuard, policy=policy)  # added last, so it runs first
    return policy
