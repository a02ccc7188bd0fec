"""Actions through the web on a testbed host: a tenant member confirms "Rotate the SSH key" and a
worker runs the real playbooks/rotate_ssh_key.yml through the runner bridge with the tenant's key
(the host then accepts only the new key, and the store holds it); then "Back up now" on a host
the backup role never configured fails, and the run page and API say where: host, task, message."""

from __future__ import annotations

import re

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import select

pytestmark = pytest.mark.testbed

TENANT = "actco"
SERVER = "mf-actco-1"


@pytest.fixture
def app(tmp_path, monkeypatch):
    from jobs.app import use_app
    from webapp.extensions import db
    from webapp.testing import make_app, secret_store_env

    for name, value in secret_store_env(tmp_path).items():  # the playbook's own store access
        monkeypatch.setenv(name, value)
    app = make_app(tmp_path)  # fakeredis: this test is about the runs, not the queue
    use_app(app)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    use_app(None)


def confirm(client, key: str, **fields) -> int:
    from webapp.testing import csrf_token

    url = f"/tenants/{TENANT}/actions/{key}"
    token = csrf_token(client, url)
    response = client.post(url, data={"csrf_token": token, "submission_key": f"{key}-0001", **fields})
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(re.fullmatch(r"/runs/(\d+)", response.headers["Location"]).group(1))


def work(app) -> None:
    from webapp.queue import get_queue

    queue = get_queue(app)
    SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)


def test_rotate_the_key_then_a_failing_backup_through_the_web(testbed, testbed_hosts, app):
    from mailfleet.secrets.paths import SSH_KEY, tenant_path
    from webapp.extensions import db
    from webapp.integrations import secret_store
    from webapp.models import Role, Run, RunStatus, Server, ServerStatus
    from webapp.services import accounts, tenants
    from webapp.services.scope import Scope
    from webapp.testing import TEST_PASSWORD, login

    admin = accounts.create_user("admin@example.com", TEST_PASSWORD, Role.ADMIN, None)
    tenant = tenants.create_tenant(Scope(admin), TENANT, "Actions Co")
    member = accounts.add_member(Scope(admin), tenant, "ops@actco.example", TEST_PASSWORD)
    old_public = secret_store().get_field(tenant_path(TENANT, SSH_KEY), "public_key")
    host = testbed_hosts(SERVER, authorized_keys=(old_public,))
    server = Server(
        tenant_id=tenant.id,
        name=SERVER,
        public_ipv4=host.address,
        status=ServerStatus.ACTIVE,
        ssh_host_keys=testbed.host_keys(SERVER),  # as provisioning pins them
    )
    db.session.add(server)
    db.session.commit()
    client = app.test_client()
    login(client, member.email, TEST_PASSWORD)

    rotated = confirm(client, "rotate_ssh_key")
    work(app)
    db.session.expire_all()
    run = db.session.get(Run, rotated)
    assert run.status == RunStatus.SUCCESSFUL, client.get(f"/runs/{rotated}").get_data(as_text=True)[-4000:]
    new_public = secret_store().get_field(tenant_path(TENANT, SSH_KEY), "public_key")
    assert new_public != old_public
    authorized = host.ssh("cat /root/.ssh/authorized_keys").stdout
    assert new_public.split()[1] in authorized and old_public.split()[1] not in authorized

    failed = confirm(client, "backup", server_id=server.id)
    work(app)  # runs with the rotated key: it must still reach the host
    db.session.expire_all()
    run = db.session.execute(select(Run).where(Run.id == failed)).scalar_one()
    assert run.status == RunStatus.FAILED and run.limit == SERVER
    assert run.recap[SERVER]["unreachable"] == 0 and run.recap[SERVER]["failed"] == 1
    page = client.get(f"/runs/{failed}").get_data(as_text=True)
    summary = page[page.index('id="run-failure"') : page.index('class="card run-head"')]
    assert f">{SERVER}<" in summary
    assert ">Run mailfleet-backup.service and wait for it to finish<" in summary
    assert "mailfleet-backup.service" in summary.split('id="failure-message"')[1]
    live = client.get(f"/runs/{failed}/live?after=0").get_json()
    failure = live["run"]["failure"]
    assert failure["host"] == SERVER and any(e["counter"] == failure["counter"] for e in live["events"])
