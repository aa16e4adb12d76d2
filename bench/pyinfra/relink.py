# Redeploy of an already-built SHA, as a pyinfra deploy would do it: the
# same checks and switch as bench/ansible/relink.yml and the floor's script.
from pyinfra import host
from pyinfra.operations import files, server

base = host.data.base_path
release = f"{base}/{host.data.sha}"
venv = f"{base}/venv"
as_db = f"sudo -n -u {host.data.db_superuser} " if host.data.db_superuser else ""

server.shell(
    name="look for the base path, and what its user cannot write",
    commands=[f'test -d {base} && find {base} -maxdepth 1 ! -user "$(id -un)" -print -quit'],
)
server.shell(name="take a lock", commands=[f"mkdir {base}/.bench-lock"])
server.shell(name="the release is built", commands=[f"test -d {release}"])
server.shell(
    name="the release's virtualenv is built",
    commands=[f"test -f {release}/.venv/.wptdeploy-complete"],
)
server.shell(name="config", commands=[f"test -e {release}/config.txt || true"])
server.shell(
    name="the database has had the release's migrations",
    commands=[
        f"cd / && {as_db}sh -c \"grep -E '^(revision|down_revision)' {release}/migrations/versions/*.py"
        f" && {host.data.psql_command} -X -q -At -d wptdash -c 'SELECT version_num FROM alembic_version'\""
    ],
)
files.link(name="switch", path=f"{base}/site", target=release, force=True)
if host.data.get("bench_health_check", True):
    server.shell(
        name="health check", commands=[f"cd {base}/site && {venv}/bin/python manage.py routes"]
    )
server.shell(name="list releases to prune", commands=[f"ls -1t {base}"])
files.directory(name="release the lock", path=f"{base}/.bench-lock", present=False)
