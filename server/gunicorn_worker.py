"""A gunicorn worker whose own refusals are FHIR: an OperationOutcome instead of an HTML page.

gunicorn answers a request it cannot parse, or one over its size limits, before the application
sees it. Those answers keep gunicorn's status codes (400, 414 for a long request line, 431 for
large headers) but carry a body a FHIR client can read.
"""

from __future__ import annotations

from typing import Any

import orjson
from gunicorn import http, util
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

from fhirip.errors import Issue, operation_outcome

_REFUSALS: list[tuple[type[BaseException], int, str, str, str]] = [
    (http.errors.LimitRequestLine, 414, "URI Too Long", "too-long",
     "The request line is longer than this server accepts (8190 bytes); send long searches as POST [type]/_search"),
    (http.errors.LimitRequestHeaders, 431, "Request Header Fields Too Large", "too-long",
     "The request's headers are larger than this server accepts"),
]
_CLIENT_ERRORS = tuple(getattr(http.errors, name) for name in (
    "InvalidRequestLine", "InvalidRequestMethod", "InvalidHTTPVersion", "InvalidHeader", "InvalidHeaderName",
    "InvalidProxyLine", "ForbiddenProxyRequest", "InvalidSchemeHeaders", "ObsoleteFolding",
    "InvalidChunkSize", "ChunkMissingTerminator", "InvalidChunkExtension", "UnsupportedTransferCoding",
    "ExpectationFailed") if hasattr(http.errors, name))


def refusal(exc: BaseException) -> tuple[int, str, dict[str, Any]]:
    """Status, reason phrase and OperationOutcome for an error gunicorn met outside the application."""
    for kind, status, reason, code, text in _REFUSALS:
        if isinstance(exc, kind):
            return status, reason, operation_outcome([Issue("error", code, text)])
    if isinstance(exc, _CLIENT_ERRORS):
        text = f"The request is not valid HTTP ({type(exc).__name__}: {exc})"
        return 400, "Bad Request", operation_outcome([Issue("error", "structure", text)])
    text = "The server failed to process the request"
    return 500, "Internal Server Error", operation_outcome([Issue("fatal", "exception", text)])


class FhirRefusals:
    """Mixed into a gunicorn worker class: its refusals answered as an OperationOutcome."""

    log: Any

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status, reason, outcome = refusal(exc)
        if status >= 500:
            self.log.exception("Error handling request")
        else:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        body = orjson.dumps(outcome)
        head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
                f"Content-Type: application/fhir+json; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n")
        try:
            util.write_nonblock(client, head.encode("latin-1") + body)
        except Exception:  # noqa: BLE001 - the client may be gone; nothing more to tell it
            self.log.debug("Failed to send error message.")


class FinishesItsRequest:
    """Mixed into a gunicorn worker class: told to quit at once (SIGQUIT, which the master sends
    its workers on Ctrl-C), the worker still finishes the request in hand, as on SIGTERM, instead of
    dying inside it with a traceback and a half-sent answer."""

    def handle_quit(self, sig: int, frame: Any) -> None:
        self.handle_exit(sig, frame)  # type: ignore[attr-defined]


class FhirSyncWorker(FinishesItsRequest, FhirRefusals, SyncWorker):
    """gunicorn's sync worker (one request at a time), the default."""


class FhirThreadWorker(FinishesItsRequest, FhirRefusals, ThreadWorker):
    """gunicorn's threaded worker: `-k server.gunicorn_worker.FhirThreadWorker --threads N`."""
