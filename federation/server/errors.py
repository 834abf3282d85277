"""duckmesh errors as each protocol says them, and back.

The server sends duckmesh's one-line message (already free of data and engine text) with
the matching status; an error that is not duckmesh's own becomes "internal error" with
nothing else, and is logged on the server.  The JSON form (Flight ``extra_info``, HTTP
bodies) names the class so that :mod:`federation.server.client` raises the same class
the embedded API would.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pyarrow.flight as fl

from federation import errors

log = logging.getLogger("duckmesh.server")

# Most specific first: the first class an error is an instance of decides.
HTTP_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (errors.AuthenticationFailed, 401),
    (errors.AccessDenied, 403),
    (errors.ServerUnavailable, 503),
    (errors.QueryTimeout, 504),
    (errors.QueryCancelled, 499),
    (errors.QueryRejected, 400),
    (errors.UsageError, 400),
    (errors.ContractError, 409),
    (errors.StorageError, 502),
    (errors.DuckmeshError, 500),
)
CLASSES: dict[str, type[errors.DuckmeshError]] = {
    cls.__name__: cls for cls in (
        errors.AuthenticationFailed, errors.AccessDenied, errors.ServerUnavailable,
        errors.QueryTimeout, errors.QueryCancelled, errors.QueryRejected, errors.UsageError,
        errors.ContractError, errors.StorageError, errors.QueryFailed, errors.ConfigError)}


def as_json(exc: BaseException) -> dict[str, Any]:
    """The error as the client sees it: class, one-line message and structured fields."""
    if not isinstance(exc, errors.DuckmeshError):
        log.error("internal error", extra={"fields": {"event": "internal_error",
                                                      "error_class": type(exc).__name__}},
                  exc_info=log.isEnabledFor(logging.DEBUG))
        return {"class": "DuckmeshError", "message": "internal error in the server"}
    out: dict[str, Any] = {"class": type(exc).__name__, "message": str(exc)}
    for key in ("product", "column", "hint"):
        if getattr(exc, key, None):
            out[key] = getattr(exc, key)
    retry = getattr(exc, "retry_after", None)
    if retry:
        out["retry_after"] = retry
    return out


def http_status(exc: BaseException) -> int:
    return next((code for cls, code in HTTP_STATUS if isinstance(exc, cls)), 500)


def flight_error(exc: BaseException) -> fl.FlightError:
    """The Flight error to raise for ``exc`` (never a Python traceback)."""
    if isinstance(exc, NotImplementedError):
        body = {"class": "QueryRejected", "message": str(exc)}
        return fl.FlightServerError(str(exc), extra_info=json.dumps(body).encode())
    body = as_json(exc)
    message, extra = body["message"], json.dumps(body).encode()
    kind: type[fl.FlightError] = fl.FlightServerError
    if isinstance(exc, errors.AuthenticationFailed):
        kind = fl.FlightUnauthenticatedError
    elif isinstance(exc, errors.AccessDenied):
        kind = fl.FlightUnauthorizedError
    elif isinstance(exc, errors.ServerUnavailable):
        kind = fl.FlightUnavailableError
    elif isinstance(exc, errors.QueryTimeout):
        kind = fl.FlightTimedOutError
    elif isinstance(exc, errors.QueryCancelled):
        kind = fl.FlightCancelledError
    return kind(message, extra_info=extra)


def from_json(body: dict[str, Any]) -> errors.DuckmeshError:
    """The client side: the duckmesh error a server's JSON describes."""
    cls = CLASSES.get(str(body.get("class")), errors.DuckmeshError)
    return cls(str(body.get("message", "the server refused the request")),
               product=body.get("product"), column=body.get("column"), hint=body.get("hint"))
