"""The tables, a subset of wptdash's."""
import enum

from . import db


class PRStatus(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class Repository(db.Model):
    __tablename__ = "repository"
    id = db.Column(db.Integer, primary_key=True)
    owner = db.Column(db.String(255), nullable=False)
    name = db.Column(db.String(255), nullable=False)


class PullRequest(db.Model):
    __tablename__ = "pull_request"
    id = db.Column(db.Integer, primary_key=True)
    number = db.Column(db.Integer, nullable=False)
    title = db.Column(db.Text)
    state = db.Column(db.Enum(PRStatus))
    head_sha = db.Column(db.String(40))
    base_sha = db.Column(db.String(40))
    repository_id = db.Column(db.Integer, db.ForeignKey("repository.id"))
