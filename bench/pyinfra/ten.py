# Ten trivial operations: pyinfra's orchestration cost (bench/playbooks/ten.yml for wptdeploy).
from pyinfra.operations import server

for i in range(1, 11):
    server.shell(name=f"step {i}", commands=["true"])
