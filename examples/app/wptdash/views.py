"""HTTP routes."""
import os

from flask import Blueprint

views = Blueprint("views", __name__)


@views.route("/health")
def health():
    build = os.path.join(os.path.dirname(__file__), "static", "build.txt")
    if os.path.exists(build):
        with open(build) as f:
            return f.read()
    return "no build info\n"
