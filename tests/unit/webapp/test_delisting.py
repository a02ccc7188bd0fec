"""The delisting workflow of a blocklist alert: the list's removal page and steps, "delisting
requested" recorded in the alert's timeline (another tenant cannot), and the times kept once the
re-checks find the address no longer listed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailfleet.monitoring import AlertPolicies, AlertPolicy, CheckResult, Status, record_results
from webapp.extensions import db
from webapp.models import HealthAlert, MailCount, Server, ServerStatus, SqlHealthStore
from webapp.services import delisting
from webapp.testing import TEST_PASSWORD, csrf_token, login

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
POLICIES = AlertPolicies(AlertPolicy(fail_after=2, pass_after=2))
CHECK = "dnsbl:bl.spamcop.net:198.51.100.7"


def _sweep(at: datetime, listed: bool) -> None:
    result = CheckResult("mf-acme-1", CHECK, Status.ERROR if listed else Status.OK,
                         "127.0.0.2" if listed else None,
                         "listed on SpamCop (127.0.0.2: listed)" if listed else "not listed on SpamCop", at,
                         link="https://www.spamcop.net/bl.shtml" if listed else None)
    record_results(SqlHealthStore(), [result], POLICIES)


@pytest.fixture
def alert(world):
    server = Server(tenant_id=world.acme.id, name="mf-acme-1", mail_hostname="mail.acme.test",
                    public_ipv4="198.51.100.7", status=ServerStatus.ACTIVE)
    db.session.add(server)
    db.session.commit()
    _sweep(T0, listed=False)
    for minutes in (10, 15):  # fail_after=2: opened on the second listed sweep
        _sweep(T0 + timedelta(minutes=minutes), listed=True)
    return db.session.query(HealthAlert).filter_by(check=CHECK).one()


def test_listing_page_shows_removal_link_and_steps_and_records_the_request(client, world, alert):
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    url = f"/health/alerts/{alert.id}"
    page = client.get(url).get_data(as_text=True)
    assert 'id="delisting"' in page and "SpamCop" in page and "198.51.100.7" in page
    assert 'href="https://www.spamcop.net/bl.shtml"' in page and "expires about 24 hours" in page
    assert "not yet" in page
    response = client.post(f"{url}/delisting-requested",
                           data={"csrf_token": csrf_token(client, url), "note": "reports stopped"})
    assert response.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "delisting requested" in page and "reports stopped" in page and "by alice@acme.example" in page


def _sent(counts: dict[int, int]) -> None:
    """The server's sent counts by day, offset from the listing's day."""
    server = db.session.query(Server).filter_by(name="mf-acme-1").one()
    for offset, sent in counts.items():
        db.session.add(MailCount(server_id=server.id, day=T0.date() + timedelta(days=offset), sent=sent,
                                 collected_at=T0))
    db.session.commit()


def test_the_cause_comes_first_a_volume_spike_on_the_listing_day(client, world, alert):
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    url = f"/health/alerts/{alert.id}"
    assert "No message counts of this server" in client.get(url).get_data(as_text=True)
    _sent({-9: 5000, -3: 40, -2: 50, -1: 45, 0: 900})  # 9 days before: outside the week shown
    volume = delisting.listing_of(alert).volume
    assert [sent for _, sent in volume.days] == [40, 50, 45, 900]
    assert (volume.spike.day, volume.spike.sent, volume.spike.factor) == (T0.date(), 900, 20.0)
    page = client.get(url).get_data(as_text=True)
    assert "Volume spike:</strong> 900 messages sent on 2025-03-01, 20.0 times" in page
    assert page.index('id="listing-cause"') < page.index('id="delist-link"')


def test_no_spike_where_a_quiet_server_sent_a_few_more(world, alert):
    _sent({-2: 3, -1: 4, 0: 30})  # ten times more, but 30 messages is no spike
    volume = delisting.listing_of(alert).volume
    assert volume.spike is None and len(volume.days) == 3


def test_another_tenant_cannot_see_or_request_it(client, world, alert):
    assert login(client, world.bob.email, TEST_PASSWORD).status_code == 302
    assert client.get(f"/health/alerts/{alert.id}").status_code == 404
    token = csrf_token(client, "/health")
    url = f"/health/alerts/{alert.id}/delisting-requested"
    assert client.post(url, data={"csrf_token": token}).status_code == 404
    db.session.expire_all()
    assert delisting.listing_of(alert).requested_at is None


def test_times_detected_requested_delisted_and_no_request_once_resolved(world, alert):
    from webapp.services.scope import Scope

    listing = delisting.listing_of(alert)
    assert listing.detected_at == T0 + timedelta(minutes=10)  # the first listed sweep, not the alert
    delisting.request_delisting(Scope(world.alice), alert.id, "ticket 42")
    for minutes in (60, 65):  # pass_after=2: resolved on the second clean sweep
        _sweep(T0 + timedelta(minutes=minutes), listed=False)
    db.session.expire_all()
    listing = delisting.listing_of(alert)
    assert listing.delisted_at == T0 + timedelta(minutes=65)
    assert listing.time_listed == timedelta(minutes=55)
    assert listing.time_to_delist is not None
    with pytest.raises(Exception, match="resolved"):
        delisting.request_delisting(Scope(world.alice), alert.id)


def test_the_spamhaus_dqs_key_comes_from_the_secrets_store_and_stays_out_of_check_names(app):
    from jobs.health import SPAMHAUS_PATH, with_spamhaus_key
    from mailfleet.monitoring import MonitoringConfig
    from webapp.integrations import secret_store

    public = MonitoringConfig.from_mapping({"resolver": "127.0.0.53"})
    assert with_spamhaus_key(app, public) == public  # no key: the public zones
    key = "abcdefghij0123456789klmnop"
    secret_store(app).put(SPAMHAUS_PATH, {"dqs_key": key})
    found = with_spamhaus_key(app, public)
    zen = next(lst for lst in found.ip_lists if lst.name == "Spamhaus ZEN")
    assert zen.zone == f"{key}.zen.dq.spamhaus.net" and zen.shown == "zen.spamhaus.org"
    assert found.domain_lists[0].zone == f"{key}.dbl.dq.spamhaus.net"
    # The check's name is the public zone's, so its alert finds the list's removal steps.
    from mailfleet.monitoring.dnsbl import default_list

    assert default_list(zen.shown).name == "Spamhaus ZEN"
