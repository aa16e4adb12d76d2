"""HTTP routes."""
import os

from flask import Blueprint, current_app

views = Blueprint("views", __name__)


@views.route("/health")
def health():
    build = os.path.join(os.path.dirname(__file__), "static", "build.txt")
    if os.path.exists(build):
        with open(build) as f:
            return f.read()
    return "no build info\n"


@views.route("/version")
def version():
    """The build info of the release this worker loaded (see read_build)."""
    return current_app.config["BUILD"]
