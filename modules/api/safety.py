"""What every HTTP route shares for bad input and failures: NaN/Infinity refused, validation
errors always serialisable (422), and unexpected exceptions answered as JSON with their reason.

Python's json module reads NaN, Infinity and -Infinity literals, which are not JSON (RFC 8259).
Left in, they reach the models as floats; pydantic's error then carries the NaN, FastAPI cannot
serialise it, and the client gets a bare 500. FiniteJsonRoute refuses them for every field of
every body, including extension routes and free-form fields (override_settings, script_args).
"""

import json
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

MAX_ECHOED_CHARS = 200  # an invalid 10 MB base64 image is not sent back in the error


class _NonFinite:
    """Stands in for a NaN/Infinity literal while its location in the body is found."""

    def __init__(self, literal: str):
        self.literal = literal


def nonfinite_errors(body: bytes) -> tuple[Any, list[dict]]:
    """Parse a JSON body: (the value, errors for each NaN/Infinity literal with its location).
    Raises ValueError (or RecursionError) for a body that is not JSON at all."""
    found = []

    def mark(literal: str) -> _NonFinite:
        found.append(literal)
        return _NonFinite(literal)

    value = json.loads(body, parse_constant=mark)
    if not found:
        return value, []
    errors, pending = [], [((), value)]
    while pending:  # iterative: the parser allows deeper nesting than Python's recursion limit
        location, item = pending.pop()
        if isinstance(item, _NonFinite):
            errors.append(
                {
                    "type": "finite_number",
                    "loc": ("body", *location),
                    "msg": f"Input should be a finite number: {item.literal} is not allowed",
                    "input": item.literal,
                }
            )
        elif isinstance(item, dict):
            pending.extend(((*location, key), child) for key, child in item.items())
        elif isinstance(item, list):
            pending.extend(((*location, index), child) for index, child in enumerate(item))
    return value, sorted(errors, key=lambda e: tuple(map(str, e["loc"])))


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    return not media or media == "application/json" or media.endswith("+json")


class FiniteJsonRoute(APIRoute):
    """An APIRoute whose JSON body is parsed once, refusing NaN/Infinity with a 422."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def checked(request: Request):
            if request.method in ("POST", "PUT", "PATCH") and _is_json(request):
                body = await request.body()
                if body:
                    try:
                        value, errors = nonfinite_errors(body)
                    except (ValueError, RecursionError):
                        pass  # not JSON: FastAPI's own parsing answers it
                    else:
                        if errors:
                            raise RequestValidationError(errors)
                        request._json = value  # Starlette's cache: FastAPI does not parse it again
            return await handler(request)

        return checked


def json_safe(value: Any, depth: int = 0) -> Any:
    """Any value -> something json.dumps(allow_nan=False) accepts (repr of the rest)."""
    if depth > 20:
        return "..."
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return value if len(value) <= MAX_ECHOED_CHARS else value[:MAX_ECHOED_CHARS] + "..."
    if isinstance(value, dict):
        return {str(key): json_safe(item, depth + 1) for key, item in list(value.items())[:50]}
    if isinstance(value, list | tuple | set):
        return [json_safe(item, depth + 1) for item in list(value)[:50]]
    return json_safe(repr(value), depth + 1)


async def validation_error_response(request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 shape ({"detail": [{loc, msg, type, input}]}), whatever the input held."""
    detail = [
        {key: json_safe(item[key]) for key in ("type", "loc", "msg", "input", "ctx") if key in item}
        for item in error.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": detail})


async def unexpected_error_response(request: Request, error: Exception) -> JSONResponse:
    """The last resort: a JSON reason instead of a bare "Internal Server Error"."""
    return JSONResponse(status_code=500, content={"detail": describe(error)})


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def install_request_safety(app: FastAPI) -> None:
    """Make routes added to `app` from now on refuse NaN/Infinity, and answer validation errors
    and unexpected exceptions with JSON reasons. Call it before extensions add their routes."""
    app.router.route_class = FiniteJsonRoute
    app.add_exception_handler(RequestValidationError, validation_error_response)
    app.add_exception_handler(Exception, unexpected_error_response)
