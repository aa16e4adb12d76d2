#!/usr/bin/env python3
"""`python manage.py db upgrade` and friends, as in wptdash, on a modern
Flask: a FlaskGroup gives the Flask-Script interface without Flask-Script."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from flask.cli import FlaskGroup  # noqa: E402

from wptdash import create_app  # noqa: E402

cli = FlaskGroup(create_app=create_app)

if __name__ == "__main__":
    cli()
