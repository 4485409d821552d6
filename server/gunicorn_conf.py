"""gunicorn settings for fhirip. `fhirip serve` passes them; to run gunicorn yourself:
`gunicorn -c python:server.gunicorn_conf --workers 4 --bind 0.0.0.0:8080 server.wsgi:app`."""

# Requests that gunicorn itself refuses (a request line or header over its limits, a malformed
# request) are answered with an OperationOutcome, not gunicorn's HTML page.
worker_class = "server.gunicorn_worker.FhirSyncWorker"  # threads: -k server.gunicorn_worker.FhirThreadWorker --threads N
# gunicorn's largest request line; a longer search goes as POST [type]/_search.
limit_request_line = 8190
# HelseID access tokens that carry a trust-framework attestation, with a DPoP proof beside
# them, run to several kilobytes each: gunicorn's default of 8190 bytes per header is too small.
limit_request_field_size = 65536
# The application (its schema, models, profiles and search parameters) is loaded once in the
# master; each worker opens database connections of its own (fhirip.store.engine).
preload_app = True
