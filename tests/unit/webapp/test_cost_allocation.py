"""The servers no tenant owns (the control plane's own, spares), split over the tenants on a real
database: by disk in use (free disk as idle capacity), mailboxes or messages sent, idle capacity
as its own line or shared; every figure adds up to the shared servers' cost to the cent; the costs
pages and the API show it, a tenant's people their own line alone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from flask import current_app

from mailfleet.clock import utcnow
from mailfleet.costs import month_bounds
from webapp.extensions import db
from webapp.models import Domain, Mailbox, MailCount, Server, ServerStatus, UsageTotal
from webapp.models.usage import FIVE_MINUTES
from webapp.services import accounts, allocation, costs
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, login

pytestmark = pytest.mark.unit

NOV = datetime(2026, 11, 1, tzinfo=UTC)
NOW = NOV + timedelta(days=10)  # a third of November
FIGURES = ("to_date", "projected", "run_rate")


def server(tenant, name: str, price: str, created_at: datetime) -> Server:
    found = Server(
        tenant_id=tenant.id if tenant is not None else None,
        name=name,
        plan="SSD",
        monthly_price=Decimal(price),
        status=ServerStatus.ACTIVE,
        created_at=created_at,
    )
    db.session.add(found)
    db.session.commit()
    return found


@pytest.fixture
def fleet(world):
    """acme's and globex's own servers, and two no tenant owns: $20.00 a month together, $6.67 by
    the 11th (6.00 and 14.00 a month, a third of each)."""
    start = month_bounds(NOW)[0]
    acme1 = server(world.acme, "mf-acme-1", "30.00", start - timedelta(days=60))
    globex1 = server(world.globex, "mf-globex-1", "9.00", start - timedelta(days=60))
    server(None, "control-plane", "14.00", start - timedelta(days=60))
    server(None, "spare-vps", "6.00", start - timedelta(days=60))
    return acme1, globex1


def disk(world, ts: int, acme=(3_000, 30_000), globex=(1_000, 10_000)) -> None:
    """The 5-minute usage totals of each tenant's servers: (MB in use, MB they have)."""
    for tenant, (used, total) in ((world.acme, acme), (world.globex, globex)):
        db.session.add(
            UsageTotal(tenant_id=tenant.id, step=FIVE_MINUTES, ts=ts, servers=1, disk_used_mb=used,
                       disk_total_mb=total)
        )
    db.session.commit()


def split(now=NOW):
    found = allocation.allocate(costs.costs_for(Scope.system(), now), now)
    assert found is not None
    lines = {s.tenant: (s.quantity, *(getattr(s.month, f) for f in FIGURES)) for s in found.shares}
    for figure in FIGURES:  # every figure adds up to the cent
        assert sum(getattr(s.month, figure) for s in found.shares) == getattr(found.month, figure)
    return found, lines


def configure(driver: str, idle: str = "line") -> None:
    current_app.config["MAILFLEET_COST_ALLOCATION_DRIVER"] = driver
    current_app.config["MAILFLEET_COST_IDLE"] = idle


def test_by_disk_in_use_the_free_disk_is_idle_capacity_on_its_own_line_or_shared(world, fleet):
    disk(world, int(NOW.timestamp()) - 300)
    configure("disk")
    found, lines = split()
    assert [s.name for s in found.servers] == ["control-plane", "spare-vps"]
    assert (found.month.to_date, found.month.projected, found.month.run_rate) == (
        Decimal("6.67"), Decimal("20.00"), Decimal("20.00")
    )
    # 3,000 and 1,000 MB in use of 40,000: 7.5 % and 2.5 %; the 36,000 MB free (90 %) is idle.
    assert lines == {
        "acme": (Decimal(3000), Decimal("0.50"), Decimal("1.50"), Decimal("1.50")),
        "globex": (Decimal(1000), Decimal("0.17"), Decimal("0.50"), Decimal("0.50")),
        allocation.IDLE: (Decimal(36000), Decimal("6.00"), Decimal("18.00"), Decimal("18.00")),
    }
    configure("disk", "shared")  # the idle part goes to the tenants by the same driver: 3 to 1
    assert split()[1] == {
        "acme": (Decimal(3000), Decimal("5.00"), Decimal("15.00"), Decimal("15.00")),
        "globex": (Decimal(1000), Decimal("1.67"), Decimal("5.00"), Decimal("5.00")),
    }


def test_by_mailboxes_or_messages_and_with_nothing_used(world, fleet):
    acme1, globex1 = fleet
    domain = Domain(tenant_id=world.acme.id, server_id=acme1.id, name="acme.example")
    db.session.add(domain)
    db.session.flush()
    db.session.add_all(
        Mailbox(tenant_id=world.acme.id, domain_id=domain.id, local_part=n, email=f"{n}@acme.example")
        for n in ("ann", "bo")
    )
    db.session.commit()
    configure("mailboxes")
    assert split()[1] == {
        "acme": (Decimal(2), Decimal("6.67"), Decimal("20.00"), Decimal("20.00")),
        "globex": (Decimal(0), Decimal("0.00"), Decimal("0.00"), Decimal("0.00")),
    }
    configure("messages")  # nothing sent this month: the whole cost is idle
    assert split()[1] == {
        "acme": (Decimal(0), Decimal("0.00"), Decimal("0.00"), Decimal("0.00")),
        "globex": (Decimal(0), Decimal("0.00"), Decimal("0.00"), Decimal("0.00")),
        allocation.IDLE: (Decimal(0), Decimal("6.67"), Decimal("20.00"), Decimal("20.00")),
    }
    configure("messages", "shared")  # ... or shared in equal parts
    assert split()[1] == {
        "acme": (Decimal(0), Decimal("3.34"), Decimal("10.00"), Decimal("10.00")),
        "globex": (Decimal(0), Decimal("3.33"), Decimal("10.00"), Decimal("10.00")),
    }
    counts = ((acme1, 200, date(2026, 11, 2)), (acme1, 100, date(2026, 11, 5)),
              (globex1, 100, date(2026, 11, 3)), (globex1, 999, date(2026, 10, 28)))
    for found, sent, day in counts:
        db.session.add(MailCount(server_id=found.id, day=day, sent=sent, collected_at=NOW))
    db.session.commit()
    configure("messages")  # October's mail does not count in November
    assert split()[1] == {
        "acme": (Decimal(300), Decimal("5.00"), Decimal("15.00"), Decimal("15.00")),
        "globex": (Decimal(100), Decimal("1.67"), Decimal("5.00"), Decimal("5.00")),
    }


def test_nothing_to_allocate_without_a_shared_server(world):
    server(world.acme, "mf-acme-1", "30.00", NOV)
    assert allocation.allocate(costs.costs_for(Scope.system(), NOW), NOW) is None


def test_a_bad_driver_or_idle_choice_is_refused_at_start(tmp_path):
    from webapp.config import ConfigError, load_config

    base = {"MAILFLEET_DATA_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="DRIVER='cpu' must be one of disk, mailboxes, messages"):
        load_config({**base, "MAILFLEET_COST_ALLOCATION_DRIVER": "cpu"})
    with pytest.raises(ConfigError, match="MAILFLEET_COST_IDLE='hidden' must be one of line, shared"):
        load_config({**base, "MAILFLEET_COST_IDLE": "hidden"})
    assert load_config({**base, "MAILFLEET_COST_ALLOCATION_DRIVER": "messages"})[
        "MAILFLEET_COST_ALLOCATION_DRIVER"
    ] == "messages"


def test_the_pages_and_the_api_show_it_and_a_tenant_sees_its_own_line_alone(client, world):
    start = month_bounds(utcnow())[0]
    server(world.acme, "mf-acme-1", "30.00", start - timedelta(days=60))
    server(None, "control-plane", "20.00", start - timedelta(days=60))
    disk(world, int(utcnow().timestamp()) - 300)
    configure("disk")
    admin, alice, bob = (
        {"Authorization": f"Bearer {accounts.issue_api_token(user)}"}
        for user in (world.admin, world.alice, world.bob)
    )
    doc = client.get("/api/v1/costs/allocation", headers=admin).get_json()
    assert (doc["driver"], doc["idle"], doc["unit"], doc["month"]["run_rate"]) == (
        "disk", "line", "MB of disk in use", "20.00"
    )
    assert [s["name"] for s in doc["servers"]] == ["control-plane"]
    assert {s["tenant"]: s["month"]["run_rate"] for s in doc["shares"]} == {
        "acme": "1.50", "globex": "0.50", "(idle)": "18.00"
    }
    mine = client.get("/api/v1/costs/allocation", headers=alice).get_json()
    assert (mine["servers"], mine["month"], [s["tenant"] for s in mine["shares"]]) == ([], None, ["acme"])
    theirs = client.get("/api/v1/costs/allocation", headers=bob).get_data(as_text=True)
    assert "acme" not in theirs and "control-plane" not in theirs and '"globex"' in theirs

    assert login(client, world.admin.email, TEST_PASSWORD).status_code == 302
    page = client.get("/costs/").get_data(as_text=True)
    assert "Shared servers, allocated by MB of disk in use" in page and "idle capacity" in page
    assert "<td>$18.00</td>" in page and "control-plane" in page
    client.post("/logout", data={})
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get("/costs/acme").get_data(as_text=True)
    assert "Share of the shared servers" in page and "$1.50 projected (3000 MB of disk in use)" in page
