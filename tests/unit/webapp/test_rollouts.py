"""Fleet rollouts as an administrator meets them: started from the Rollouts page (or the API),
its progress on one page with each server's run linked; a bad share or threshold refused with
its reason and nothing started; nobody but administrators sees or starts one."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from webapp.extensions import db
from webapp.models import Rollout, Run, RunStatus, Server, ServerStatus
from webapp.services import accounts, runs
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, csrf_token, login

pytestmark = pytest.mark.unit


@pytest.fixture
def servers(world) -> list[Server]:
    made = [
        Server(tenant_id=tenant.id, name=name, public_ipv4=f"198.18.252.{i}", status=ServerStatus.ACTIVE)
        for i, (tenant, name) in enumerate(
            [(world.acme, "mf-acme-1"), (world.acme, "mf-acme-2"), (world.globex, "mf-globex-1")], start=1
        )
    ]
    db.session.add_all(made)
    db.session.commit()
    return made


def counts() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(Rollout)),
        db.session.scalar(select(func.count()).select_from(Run)),
    )


def test_an_admin_starts_a_rollout_and_follows_it_on_one_page(as_admin, servers):
    form = {"playbook": "site", "share": "50%", "failure_threshold": "10", "tenants": ""}
    form["csrf_token"] = csrf_token(as_admin, "/rollouts")
    answer = as_admin.post("/rollouts", data=form, follow_redirects=True)

    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Rollout 1 started on 3 servers." in page
    runs = db.session.scalars(select(Run).order_by(Run.id)).all()
    assert [r.limit for r in runs] == ["mf-acme-1", "mf-acme-2"]  # half of three, rounded up
    for run in runs:
        assert f'href="/runs/{run.id}"' in page
    assert "mf-globex-1" in page and page.count("pending") >= 1
    assert '<dd id="in-flight">2 (at most 2: 50%)</dd>' in page
    listing = as_admin.get("/rollouts").get_data(as_text=True)
    assert 'href="/rollouts/1"' in listing


def test_a_step_retried_while_its_rollout_runs_shows_its_retry_and_the_run_it_retries(as_admin, servers):
    form = {"playbook": "site", "share": "1", "failure_threshold": "100", "tenants": ""}
    form["csrf_token"] = csrf_token(as_admin, "/rollouts")
    as_admin.post("/rollouts", data=form)
    db.session.execute(update(Run).where(Run.id == 1).values(status=RunStatus.FAILED))
    db.session.commit()

    retry = runs.retry_run(Scope.system(), 1)

    page = as_admin.get("/rollouts/1").get_data(as_text=True)
    assert f'href="/runs/{retry.id}">run {retry.id}</a> (retry of' in page
    assert 'href="/runs/1">run 1</a>)' in page


@pytest.mark.parametrize(
    ("threshold", "share", "message"),
    [
        (101, "1", "from 0 % (stop at the first failure) to 100 % (never stop), not 101 %"),
        (-5, "1", "failure threshold must be from 0 %"),
        (10, "0%", "share in flight must be from 1% to 100%, not 0%"),
        (10, "many", "share in flight must be a percentage (25%) or a count (3)"),
    ],
)
def test_bad_shares_and_thresholds_are_refused_with_their_reason(
    as_admin, client, world, servers, threshold, share, message
):
    token = accounts.issue_api_token(world.admin)
    body = {"playbook": "site", "share": share, "failure_threshold": threshold}
    answer = client.post("/api/v1/rollouts", json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 400 and message in answer.get_json()["error"]
    form = {"playbook": "site", "share": share, "failure_threshold": str(threshold)}
    form["csrf_token"] = csrf_token(as_admin, "/rollouts")
    page = as_admin.post("/rollouts", data=form, follow_redirects=True).get_data(as_text=True)
    assert message in page.replace("&#39;", "'")
    assert counts() == (0, 0)


def test_a_playbook_outside_the_rollout_catalogue_is_refused(client, world, servers):
    token = accounts.issue_api_token(world.admin)
    body = {"playbook": "provision", "share": "1", "failure_threshold": 0}
    answer = client.post("/api/v1/rollouts", json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 400
    assert "'provision' cannot be rolled out; one of: site, backup" in answer.get_json()["error"]
    assert counts() == (0, 0)


def test_only_administrators_see_or_start_rollouts(client, world, servers):
    admin = {"Authorization": f"Bearer {accounts.issue_api_token(world.admin)}"}
    alice = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    started = client.post(
        "/api/v1/rollouts", json={"playbook": "backup", "share": "1", "failure_threshold": 0}, headers=admin
    )
    assert started.status_code == 201 and started.get_json()["progress"]["in_flight"] == 1
    rollout_id = started.get_json()["id"]
    body = {"playbook": "site", "share": "1", "failure_threshold": 0}
    assert client.post("/api/v1/rollouts", json=body, headers=alice).status_code == 403
    assert client.get("/api/v1/rollouts", headers=alice).get_json() == []
    assert client.get(f"/api/v1/rollouts/{rollout_id}", headers=alice).status_code == 404
    assert client.post(f"/api/v1/rollouts/{rollout_id}/stop", headers=alice).status_code == 404
    assert counts() == (1, 1)
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    assert client.get("/rollouts").status_code == 403
    assert client.get(f"/rollouts/{rollout_id}").status_code == 404
    assert "Rollouts" not in client.get("/runs").get_data(as_text=True)


def test_a_form_that_does_not_validate_says_which_fields_and_starts_nothing(as_admin, servers):
    form = {"playbook": "site", "share": "50%", "failure_threshold": "ten"}
    form["csrf_token"] = csrf_token(as_admin, "/rollouts")
    answer = as_admin.post("/rollouts", data=form)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/rollouts")
    page = as_admin.get("/rollouts").get_data(as_text=True)
    assert "Check the form: failure_threshold: " in page
    assert counts() == (0, 0)
