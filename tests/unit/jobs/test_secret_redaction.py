"""No secret in any stored event, column or file after a run; redaction of event data."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from jobs.events import EventRecorder
from mailfleet.redact import REDACTED, Redactor
from mailfleet.secrets import tenant_path
from webapp.extensions import db
from webapp.integrations import secret_store
from webapp.models import RunEvent, RunStatus
from webapp.services import accounts, runs
from webapp.testing import secret_store_env

pytestmark = pytest.mark.unit


def tenant_secrets(slug: str) -> list[str]:
    store = secret_store()
    values = []
    for kind in ("ssh_key", "mailu", "restic", "acme_account"):
        values.extend(store.get(tenant_path(slug, kind)).values())
    return [v for v in values if len(v) >= 8]


@pytest.mark.parametrize("playbook_flavour", ["secrets"])
def test_no_secret_anywhere_after_a_run(app, scope, acme, admin, work, tmp_path, monkeypatch):
    for name, value in secret_store_env(tmp_path).items():  # the playbook's lookups read this store
        monkeypatch.setenv(name, value)
    token = accounts.issue_api_token(admin)
    run = runs.submit_run(scope, acme, "site")
    work()
    assert run.status == RunStatus.SUCCESSFUL
    # The playbook printed and registered the secrets: what reached the events was redacted.
    lines = db.session.execute(select(RunEvent.stdout).where(RunEvent.run_id == run.id)).scalars()
    stdout = "\n".join(line or "" for line in lines)
    assert f"the Mailu token is {REDACTED}" in stdout
    assert stdout.count(REDACTED) >= 3
    secrets = tenant_secrets("acme") + [token]
    private_key = secret_store().get_field(tenant_path("acme", "ssh_key"), "private_key")
    assert "PRIVATE KEY" in private_key
    key_lines = [line for line in private_key.splitlines() if len(line) > 20]
    db.session.remove()
    db.engine.dispose()
    # Every byte of the database (and its WAL), every file the app wrote.
    blobs = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name != "store.enc")
    for secret in secrets + key_lines:
        assert secret.encode() not in blobs


def test_event_data_is_redacted_by_key_and_by_value():
    known = "s3cr3t-mailu-token-value"
    recorder = EventRecorder(
        1, Redactor([known, "-----BEGIN KEY-----\nAAAABBBBCCCCDDDDEEEE1234\n-----END KEY-----"])
    )
    row = recorder.row(
        {
            "event": "runner_on_ok",
            "counter": 7,
            "uuid": "u",
            "stdout": f"ok: token is {known} and AAAABBBBCCCCDDDDEEEE1234",
            "event_data": {
                "host": "mf-acme-1",
                "task": "t",
                "task_args": {"password": "x"},
                "res": {
                    "changed": True,
                    "password": "root-pw",
                    "configkey": "ck",
                    "nested": [{"api_token": "t"}],
                    "msg": f"said {known}",
                },
            },
        }
    )
    assert known not in row["stdout"] and "AAAABBBBCCCCDDDDEEEE1234" not in row["stdout"]
    stored = json.loads(row["event_data"])
    res = stored["res"]
    assert res["password"] == res["configkey"] == "********"
    assert res["nested"] == [{"api_token": "********"}]
    assert res["msg"] == "said ********"
    assert "task_args" not in stored
    assert row["changed"] is True and row["failed"] is False and row["host_name"] == "mf-acme-1"


def test_failed_and_stats_events_are_classified():
    recorder = EventRecorder(1, Redactor())
    failed = recorder.row({"event": "runner_on_failed", "counter": 1, "event_data": {"host": "h", "res": {}}})
    ignored = recorder.row(
        {"event": "runner_on_failed", "counter": 2, "event_data": {"host": "h", "ignore_errors": True}}
    )
    stats = recorder.row(
        {
            "event": "playbook_on_stats",
            "counter": 3,
            "event_data": {"ok": {"h": 2}, "failures": {"h": 1}, "dark": {"g": 1}},
        }
    )
    assert failed["failed"] and not ignored["failed"] and stats["failed"]
    assert recorder.recap == {
        "g": {"ok": 0, "changed": 0, "failed": 0, "unreachable": 1, "skipped": 0, "rescued": 0, "ignored": 0},
        "h": {"ok": 2, "changed": 0, "failed": 1, "unreachable": 0, "skipped": 0, "rescued": 0, "ignored": 0},
    }


def test_batches_are_bulk_inserted(app, scope, acme):
    run = runs.submit_run(scope, acme, "site")
    recorder = EventRecorder(run.id, Redactor(), clock=lambda: 0)  # time never advances: size decides
    for n in range(1, 451):
        recorder.handle({"event": "runner_on_ok", "counter": n, "stdout": f"line {n}", "event_data": {}})
    assert recorder.count == 400 and len(recorder.pending) == 50
    recorder.flush()
    assert db.session.execute(
        select(RunEvent.counter).where(RunEvent.run_id == run.id)
    ).scalars().all() == list(range(1, 451))


SECRETS = [
    'quo"ted\\back-slashed',
    "line one of a key\nline two of the key",
    "non-ascii-välue",
    "plain-secret",
]


@pytest.mark.parametrize(
    "data",
    [
        {"res": {"msg": "nothing to hide here", "rc": 0, "items": [1, None, True, 2.5]}},
        {"res": {"msg": 'echo quo"ted\\back-slashed done'}},  # escaped in JSON text: \" and \\
        {"res": {"stdout_lines": ["a", "line two of the key", "b"]}},  # one line of a multi-line secret
        {"res": {"msg": "the value non-ascii-välue"}},  # \u00e4 in JSON text
        {"res": {"msg": "x plain-secret y"}, "play": "deploy"},
        {"res": {"Api_Key": "k", "auth": {"PASSWORD": "p", "empty_token": ""}}},  # names in any case
        {"res": {"pa\u017fsword": "p"}},  # the long s, which IGNORECASE folds onto s
        {"res": {"msg": "a task about tokens, not one"}},  # a cue in an ordinary value
        {"res": {"msg": "\u00e9t\u00e9", "n": {"1": [{"deep": "plain-secret"}]}}},
    ],
)
def test_the_stored_json_is_the_walked_redaction_whether_or_not_it_was_walked(data):
    redactor = Redactor(SECRETS)
    walked = redactor.data(data)
    text, value = redactor.json(data)
    assert value == walked and json.loads(text) == walked
    for secret in SECRETS:
        for line in secret.splitlines():
            assert line not in text and json.dumps(line)[1:-1] not in text


def test_an_event_over_the_size_limit_is_stored_without_its_result(monkeypatch):
    monkeypatch.setattr("jobs.events.MAX_EVENT_DATA_CHARS", 1000)
    recorder = EventRecorder(1, Redactor())
    event = {"event": "runner_on_ok", "counter": 1, "event_data": {"host": "h", "res": {"changed": True}}}
    small = json.loads(recorder.row(event)["event_data"])
    event["event_data"]["res"]["msg"] = "x" * 2000
    big = recorder.row(event)
    assert small == {"host": "h", "res": {"changed": True}}
    assert json.loads(big["event_data"]) == {
        "host": "h",
        "res": {"_mailfleet": "result omitted: larger than the event size limit"},
    }
    assert big["changed"] is True  # read from the result before it was left out
