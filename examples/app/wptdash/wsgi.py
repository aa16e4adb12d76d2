"""The WSGI entry point for gunicorn (`wptdash.wsgi:app`) and uWSGI
(`module = wptdash.wsgi:app`)."""
from . import create_app

app = create_app()
