"""WSGI entry point for gunicorn: `gunicorn server.wsgi:app`. Settings come from FHIRIP_* variables."""

import atexit

from fhirip.heap import settle_heap
from fhirip.subscriptions.deliverer import DelivererProcess
from server.app import create_app

app = create_app()
# Each worker loads this module itself: what it has loaded (models, profiles, search parameters)
# stays out of the garbage collector's later collections.
settle_heap()
# Moving the audit journal starts as the server boots, not at its first request (of the movers the
# processes start, one per database moves at a time).
app.config["FHIRIP_SERVICES"].audit_trail.start()
# Bulk Data exports run in a process of their own beside the server, started here likewise.
from fhirip.export.runner import start_runner  # noqa: E402

app.config["FHIRIP_EXPORT_RUNNER"] = start_runner(app.config["FHIRIP_SERVICES"].settings)
# So does delivering subscription notifications (one deliverer per server process; they share
# the work through the database).
deliverer = DelivererProcess(app.config["FHIRIP_SERVICES"].store.url)
deliverer.start()
atexit.register(deliverer.stop)
