"""WSGI entry point for gunicorn: `gunicorn server.wsgi:app`. Settings come from FHIRIP_* variables."""

import atexit

from fhirip.heap import settle_heap
from server.app import create_app

app = create_app()
# Each worker loads this module itself: what it has loaded (models, profiles, search parameters)
# stays out of the garbage collector's later collections.
settle_heap()
# Moving the audit journal starts as the server boots, not at its first request (of the movers the
# processes start, one per database moves at a time).
app.config["FHIRIP_SERVICES"].audit_trail.start()
# Bulk Data exports and subscription notifications run in companion processes of their own,
# started here likewise (one of each per server process; several servers on one database share
# the work through it).
from fhirip.export.runner import runner_beside  # noqa: E402
from fhirip.subscriptions.deliverer import deliverer_beside  # noqa: E402

for companion in (runner_beside(app.config["FHIRIP_SERVICES"].settings),
                  deliverer_beside(app.config["FHIRIP_SERVICES"].store.url)):
    companion.start()
    atexit.register(companion.stop)
