"""Failed logins slow down the account and address they came from, on an injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from mailfleet.clock import utcnow
from webapp.config import load_config
from webapp.errors import RateLimited
from webapp.extensions import db
from webapp.models import LoginFailure, Role
from webapp.services import accounts
from webapp.testing import TEST_PASSWORD as PASSWORD
from webapp.testing import login, make_app

pytestmark = pytest.mark.unit

ATTACKER, OWNER = "203.0.113.66", "198.51.100.7"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(accounts, "utcnow", clock)
    return clock


def _fail(email: str, address: str, times: int) -> None:
    for _ in range(times):
        assert accounts.authenticate(email, "wrong password!", address) is None


def _waits(email: str, address: str, password: str = PASSWORD) -> int:
    with pytest.raises(RateLimited) as refused:
        accounts.authenticate(email, password, address)
    return int(str(refused.value).split("try again in ")[1].split()[0])


def test_failures_from_one_address_slow_that_address_down_more_each_time(app, world, clock):
    _fail(world.alice.email, ATTACKER, 5)
    assert _waits(world.alice.email, ATTACKER) == 2  # even with the right password
    clock.advance(2)
    _fail(world.alice.email, ATTACKER, 1)
    assert _waits(world.alice.email, ATTACKER) == 4
    clock.advance(4)
    _fail(world.alice.email, ATTACKER, 1)
    assert _waits(world.alice.email, ATTACKER) == 8
    clock.advance(8)
    assert accounts.authenticate(world.alice.email, PASSWORD, ATTACKER) == world.alice


def test_the_owner_logs_in_from_another_address_meanwhile(app, world, clock):
    _fail(world.alice.email, ATTACKER, 5)
    assert _waits(world.alice.email, ATTACKER) == 2
    assert accounts.authenticate(world.alice.email, PASSWORD, OWNER) == world.alice
    # The owner's success does not reset the attacker's back-off.
    assert _waits(world.alice.email, ATTACKER) == 2


def test_an_account_guessed_from_many_addresses_slows_down_too(app, world, clock):
    app.config["MAILFLEET_LOGIN_MAX_FAILURES"] = 1  # an account budget of 10 over all addresses
    for n in range(10):
        _fail(world.alice.email, f"203.0.113.{n}", 1)
    assert _waits(world.alice.email, OWNER) == 2
    assert accounts.authenticate(world.bob.email, PASSWORD, OWNER) == world.bob


def test_one_address_guessing_many_accounts_slows_down(app, world, clock):
    app.config["MAILFLEET_LOGIN_MAX_FAILURES"] = 1  # an address budget of 4 over all accounts
    for n in range(4):
        _fail(f"user{n}@acme.example", ATTACKER, 1)
    assert _waits(world.bob.email, ATTACKER) == 2
    assert accounts.authenticate(world.bob.email, PASSWORD, OWNER) == world.bob


def test_the_login_page_answers_429_for_that_address_only(client, world, clock):
    client.environ_base["REMOTE_ADDR"] = ATTACKER
    for _ in range(5):
        assert login(client, world.admin.email, "wrong password!").status_code == 401
    response = login(client, world.admin.email, PASSWORD)
    assert response.status_code == 429
    assert "too many failed logins; try again in 2 seconds" in response.get_data(as_text=True)
    client.environ_base["REMOTE_ADDR"] = OWNER
    assert login(client, world.admin.email, PASSWORD).status_code == 302


@pytest.mark.parametrize(("hops", "recorded"), [(0, "127.0.0.1"), (1, "192.0.2.9")])
def test_the_client_address_comes_from_a_trusted_proxy_only(tmp_path, hops, recorded):
    app = make_app(tmp_path, MAILFLEET_TRUSTED_PROXIES=hops)
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "192.0.2.9"
    assert login(client, "nobody@example.com", "wrong password!").status_code == 401
    with app.app_context():
        assert db.session.execute(select(LoginFailure.address)).scalars().all() == [recorded]
        db.engine.dispose()


def test_trusted_proxies_default_to_none(tmp_path):
    assert load_config({"MAILFLEET_DATA_DIR": str(tmp_path)})["MAILFLEET_TRUSTED_PROXIES"] == 0


def test_two_clients_behind_the_proxy_each_get_their_own_limit(tmp_path, clock):
    """nginx connects from 127.0.0.1 for everyone; the limit counts the address it forwards."""
    app = make_app(tmp_path, MAILFLEET_TRUSTED_PROXIES=1)
    with app.app_context():
        admin = accounts.create_user("admin@example.com", PASSWORD, Role.ADMIN, None)
        email = admin.email
    attacker, owner = app.test_client(), app.test_client()
    for client, address in ((attacker, ATTACKER), (owner, OWNER)):
        client.environ_base["REMOTE_ADDR"] = "127.0.0.1"
        client.environ_base["HTTP_X_FORWARDED_FOR"] = address
    for _ in range(5):
        assert login(attacker, email, "wrong password!").status_code == 401
    assert login(attacker, email, PASSWORD).status_code == 429
    assert login(owner, email, PASSWORD).status_code == 302
    with app.app_context():
        db.engine.dispose()
