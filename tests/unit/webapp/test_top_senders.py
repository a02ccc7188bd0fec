"""A server's top senders, end to end at the unit tier: the facts run's real parser reads a day of
Postfix log, its `mail` section goes through the same store the health sweep uses, and the server's
usage page and API show each sender's sent, deferred and bounced counts, summed over the range's
days, busiest first. Another tenant's member finds no such server; a malformed senders section
changes nothing."""

from __future__ import annotations

import importlib.util
import json
from datetime import timedelta
from pathlib import Path

import pytest

from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models import MailCount, Server, ServerStatus
from webapp.services import accounts, mailstats
from webapp.testing import TEST_PASSWORD, login

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
LOG = ROOT / "tests/unit/reputation/data/postfix-senders.log"
ALICE = {"sender": "alice@acme.test", "sent": 1, "deferred": 2, "bounced": 1}
NEWSLETTER = {"sender": "newsletter@acme.test", "sent": 2, "deferred": 0, "bounced": 0}


def _mail_facts():
    spec = importlib.util.spec_from_file_location("mail_facts", ROOT / "playbooks/files/mail_facts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def server(world):
    found = Server(tenant_id=world.acme.id, name="mf-acme-1", status=ServerStatus.ACTIVE)
    db.session.add(found)
    db.session.commit()
    return found


def _sweep(tmp_path, day, mail=None) -> None:
    """What the health sweep does with one server's facts document (its `mail` section: the real
    collector's count of the senders log, for `day`)."""
    if mail is None:
        mail = _mail_facts().count(LOG.read_text().splitlines(), day.isoformat(), lambda _host: "other")
    doc = {"schema": 1, "host": "mf-acme-1", "collected_at": utcnow().isoformat(), "mail": mail}
    (tmp_path / "mf-acme-1.json").write_text(json.dumps(doc))
    mailstats.record_counts(["mf-acme-1"], tmp_path, utcnow())


def test_the_facts_runs_senders_show_on_the_usage_page_and_api(client, world, server, tmp_path):
    today = utcnow().date()
    _sweep(tmp_path, today)
    _sweep(tmp_path, today)  # the next sweep refreshes the day, it does not add to it
    _sweep(tmp_path, today - timedelta(days=20))
    alice = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    answer = client.get(f"/api/v1/servers/{server.id}/senders", headers=alice)
    assert answer.status_code == 200
    assert answer.get_json()["senders"] == [ALICE, NEWSLETTER]
    assert answer.get_json()["last_day"] == today.isoformat()
    month = client.get(f"/api/v1/servers/{server.id}/senders?range=30d", headers=alice).get_json()
    assert month["senders"][0] == {"sender": "alice@acme.test", "sent": 2, "deferred": 4, "bounced": 2}
    assert client.get(f"/api/v1/servers/{server.id}/senders?range=1y", headers=alice).status_code == 422
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get(f"/servers/{server.id}/usage").get_data(as_text=True)
    card = page[page.index('id="senders"') :]
    assert "<td>alice@acme.test</td><td>1</td><td>2</td><td>1</td>" in card
    assert card.index("alice@acme.test") < card.index("newsletter@acme.test")


def test_another_tenants_member_gets_404(client, world, server, tmp_path):
    _sweep(tmp_path, utcnow().date())
    bob = {"Authorization": f"Bearer {accounts.issue_api_token(world.bob)}"}
    assert client.get(f"/api/v1/servers/{server.id}/senders", headers=bob).status_code == 404
    assert login(client, world.bob.email, TEST_PASSWORD).status_code == 302
    assert client.get(f"/servers/{server.id}/usage").status_code == 404


def test_a_malformed_senders_section_changes_nothing(world, server, tmp_path):
    today = utcnow().date()
    _sweep(tmp_path, today)
    day = today.isoformat()
    _sweep(tmp_path, today, {"day": day, "sent": 9, "senders": {"x@acme.test": {"sent": -1}}})
    _sweep(tmp_path, today, {"day": day, "sent": 9, "senders": ["x@acme.test"]})
    too_many = {f"s{n}@acme.test": {"sent": 1} for n in range(mailstats.MAX_SENDERS + 1)}
    _sweep(tmp_path, today, {"day": day, "sent": 9, "senders": too_many})
    row = db.session.query(MailCount).one()
    assert row.sent == 4 and list(row.senders) == ["alice@acme.test", "newsletter@acme.test"]
    assert mailstats.top_senders(server, today, today) == [ALICE, NEWSLETTER]
