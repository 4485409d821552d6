"""WSGI entry point for gunicorn: `gunicorn server.wsgi:app`. Settings come from FHIRIP_* variables."""

from server.app import create_app

app = create_app()
