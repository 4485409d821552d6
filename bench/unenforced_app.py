"""The benchmark's unenforced baseline: fhirip with authentication but no consent decision and no audit.

Only `bench/` starts it (`gunicorn bench.unenforced_app:app`), beside the real server on the same
data, so that the cost of enforcement and audit is a ratio measured in one run.
"""

from fhirip.heap import settle_heap
from server.app import create_app

app = create_app(enforce=False)
settle_heap()  # as server.wsgi does
