"""The Flask application: every FHIR URL goes through one view into the core router.

The facade only translates HTTP: it builds a FhirRequest, lets the core decide,
and writes the FhirResponse back. Errors of any kind leave as an OperationOutcome.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from fhirip.bootstrap import build_services
from fhirip.config import Settings
from fhirip.errors import FhirError, Issue
from fhirip.interactions.auditing import record_refusal
from fhirip.context import Services
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.interactions.router import handle
from server.auth import Authenticator
from server.cors import METHODS, cors_headers, is_preflight
from server.http import error_response, to_fhir_request, to_http
from server.request_id import HEADER as REQUEST_ID, RequestId

log = logging.getLogger("fhirip.server")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def create_app(settings: Settings | None = None, services: Services | None = None, *,
               enforce: bool = True) -> Flask:
    """The FHIR facade. `enforce=False` still authenticates callers but neither decides consent
    nor audits: it exists only so `bench/` can measure what enforcement costs, and no setting or
    environment variable reaches it."""
    settings = settings or Settings.from_env()
    services = services or build_services(settings)
    app = Flask("fhirip")
    app.wsgi_app = RequestId(app.wsgi_app)  # type: ignore[method-assign]
    app.config["FHIRIP_SERVICES"] = services
    # Werkzeug refuses larger bodies itself; the facade also checks, to answer with an OperationOutcome.
    app.config["MAX_CONTENT_LENGTH"] = None
    authenticator = Authenticator(settings, services.store)
    services.extras["security_statement"] = authenticator.security_statement()

    def base_url() -> str:
        if settings.base_url:
            return settings.base_url
        environ = request.environ
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{request.script_root}"

    def pretty() -> bool:
        return request.args.get("_pretty") == "true"

    @app.route("/", defaults={"path": ""}, methods=[*ALL_METHODS, "OPTIONS"])
    @app.route("/<path:path>", methods=[*ALL_METHODS, "OPTIONS"])
    def fhir(path: str) -> Response:
        if request.method == "OPTIONS":  # a CORS preflight, or a client asking what it may send
            answer = Response(status=204, headers={"Allow": METHODS})
            del answer.headers["Content-Type"]  # nothing to label
            return answer
        try:
            if path == ".well-known/smart-configuration" and request.method in ("GET", "HEAD"):
                return to_http(FhirResponse(200, resource=authenticator.smart_configuration()), pretty=pretty())
            seen = FhirRequest(method=request.method, base_url=base_url(),
                               url=base_url() + request.full_path.rstrip("?"))
            try:
                # The proof's htu names the URI as the client addressed it: behind the base URL.
                actor = authenticator.actor(request.path, request.headers.get("Authorization"),
                                            proofs=request.headers.getlist("DPoP"), method=request.method,
                                            url=base_url() + request.path)
                req, segments = to_fhir_request(request, base_url(), settings.max_body_bytes)
            except FhirError as refused:  # no caller, or a request that never reached the core
                record_refusal(services, seen, refused.status, request.remote_addr)
                raise
            except Exception:  # a fault before the core, answered 500: recorded all the same
                record_refusal(services, seen, 500, request.remote_addr)
                raise
            response = handle(services, req, segments, actor=actor, client_address=request.remote_addr,
                              internal=not enforce)
            return to_http(response, pretty=pretty(), head=request.method == "HEAD", wanted=req.accept)
        except FhirError as error:
            return error_response(error, pretty=pretty())

    @app.after_request
    def cross_origin(response: Response) -> Response:
        response.headers.update(cors_headers(request.headers.get("Origin"), settings.cors_origins,
                                             preflight=is_preflight(request.method, request.headers)))
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        fhir_error = FhirError(error.description or error.name)
        fhir_error.status = error.code or 500  # type: ignore[misc]
        return error_response(fhir_error, pretty=False)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unexpected error in request %s", request.headers.get(REQUEST_ID))
        outcome = FhirResponse(500, resource={"resourceType": "OperationOutcome", "issue": [
            Issue("fatal", "exception", "The server failed to process the request").to_json()]})
        return to_http(outcome, pretty=False)

    return app
