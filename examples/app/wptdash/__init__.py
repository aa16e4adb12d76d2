"""A small Flask + PostgreSQL app modelled on wptdash, for wptdeploy's sandbox and tests."""
import configparser
import os

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def database_url(config_path):
    """Builds the SQLAlchemy URL from config.txt's [postgresql] section,
    as wptdash does, with its key names (WPTDASH_DB, WPTDASH_DB_USER, ...)
    or plain ones (name, user, ...). A socket directory works as `host`."""
    parser = configparser.ConfigParser()
    parser.read(config_path)
    if not parser.has_section("postgresql"):
        return "postgresql+psycopg2:///wptdash"
    pg = parser["postgresql"]

    def get(key, wptdash_key):
        return pg.get(key, "") or pg.get(wptdash_key, "")

    user = get("user", "wptdash_db_user")
    password = get("password", "wptdash_db_pass")
    auth = user + (":" + password if password else "") + ("@" if user else "")
    host = get("host", "wptdash_db_host")
    port = get("port", "wptdash_db_port")
    url = "postgresql+psycopg2://" + auth + "/" + (get("name", "wptdash_db") or "wptdash")
    params = []
    if host:
        params.append("host=" + host)
    if port:
        params.append("port=" + port)
    return url + ("?" + "&".join(params) if params else "")


def read_build(*candidates):
    """The release's build info (its SHA among it), read once, when the app
    is loaded: what a worker answers on /version is the release its code
    came from, even after `site` points elsewhere."""
    for path in candidates:
        if os.path.exists(path):
            with open(path) as f:
                return f.read()
    return "no build info\n"


def create_app():
    app = Flask(__name__)
    app.config["BUILD"] = read_build(
        os.path.join(ROOT, "build.txt"), os.path.join(HERE, "static", "build.txt")
    )
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url(os.path.join(ROOT, "config.txt"))
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(ROOT, "migrations"))

    from . import models  # noqa: F401  (registers the tables)
    from .views import views

    app.register_blueprint(views)
    return app
