"""MailuClient against the Mailu API double over real HTTP on loopback."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from cryptography.hazmat.primitives.serialization import load_der_public_key
from mailu_fixtures import ADMIN_PW, MAIL_HOST, TOKEN
from werkzeug.serving import make_server

from mailfleet.mailu import (
    DNS_RECORD_FIELDS,
    MailuAuthError,
    MailuClient,
    MailuDuplicateError,
    MailuLimitReachedError,
    MailuNotFoundError,
    MailuRateLimitedError,
    MailuServerError,
    MailuUnavailableError,
    MailuValidationError,
)

pytestmark = pytest.mark.unit


def _failures(state) -> int:
    return sum(len(v) for v in state.failures.values())


# ------------------------------------------------------------------------------------- domains
def test_domain_lifecycle_and_dns_records(client):
    client.create_domain("Example.TEST", comment="tenant acme", max_users=10)
    names = [d["name"] for d in client.list_domains()]
    assert names == ["acme.test", "example.test"]
    domain = client.get_domain("example.test")
    assert domain["max_users"] == 10 and domain["comment"] == "tenant acme"
    assert domain["dns_mx"] == f"example.test. 600 IN MX 10 {MAIL_HOST}."
    assert domain["dns_spf"] == f'example.test. 600 IN TXT "v=spf1 mx a:{MAIL_HOST} ~all"'
    assert domain["dns_dkim"] is None  # no key until generated

    client.generate_dkim("example.test")
    records = client.domain_dns_records("example.test")
    assert set(records) == set(DNS_RECORD_FIELDS)
    assert records["dns_dkim"].startswith('dkim._domainkey.example.test. 600 IN TXT "v=DKIM1; k=rsa; p=')
    txt = records["dns_dkim"].split(" IN TXT ", 1)[1]
    assert txt.count('"') == 2  # one string, as Mailu renders it
    key = load_der_public_key(base64.b64decode(txt.strip('"').split("p=", 1)[1]))
    assert key.key_size == 2048
    assert records["dns_dmarc"] == (
        '_dmarc.example.test. 600 IN TXT "v=DMARC1; p=reject; rua=mailto:admin@acme.test; adkim=s; aspf=s"'
    )
    assert records["dns_dmarc_report"] == 'example.test._report._dmarc.acme.test. 600 IN TXT "v=DMARC1;"'
    assert f"_submissions._tcp.example.test. 600 IN SRV 10 1 465 {MAIL_HOST}." in records["dns_autoconfig"]
    assert records["dns_tlsa"] == []  # TLS_FLAVOR=cert: Mailu publishes no TLSA line

    client.update_domain("example.test", max_users=20, alternatives=["example-alt.test"])
    assert client.get_domain("example.test")["max_users"] == 20
    alternative = client.get_alternative("example-alt.test")
    assert alternative == {"name": "example-alt.test", "domain": "example.test"}
    client.delete_domain("example.test")
    with pytest.raises(MailuNotFoundError, match="does not exist"):
        client.get_domain("example.test")


def test_duplicate_domain_is_409(client):
    with pytest.raises(MailuDuplicateError) as err:
        client.create_domain("acme.test")
    assert err.value.status == 409 and "Duplicate domain" in str(err.value)


def test_invalid_domain_quirk_200_with_error_body_is_an_error(client, mailu_double):
    # The real server answers GET /domain/<invalid> with 200 and {"code": 400, ...}.
    url = f"{mailu_double.base_url()}/domain/not_a_domain"
    raw = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert raw.status_code == 200 and raw.json()["code"] == 400
    with pytest.raises(MailuValidationError, match="not a valid domain"):
        client._request("GET", "/domain/not_a_domain")


# --------------------------------------------------------------------------------------- users
def test_user_create_get_update_delete_never_returns_the_hash(client, mailu_double):
    client.create_user("Jane.Doe@acme.test", "Secret-pass-123", quota_bytes=2_000_000, displayed_name="Jane")
    user = client.get_user("jane.doe@acme.test")
    assert user["email"] == "jane.doe@acme.test" and user["quota_bytes"] == 2_000_000
    assert user["quota_bytes_used"] == 0
    assert "password" not in user and "raw_password" not in user
    stored = mailu_double.state.servers[MAIL_HOST].users["jane.doe@acme.test"]["password"]
    assert stored.startswith("$bcrypt-sha256$") and "Secret-pass-123" not in stored
    assert all("password" not in u for u in client.list_users())
    assert all("password" not in u for u in client.list_domain_users("acme.test"))

    client.update_user("jane.doe@acme.test", quota_bytes=5_000_000, enabled=False)
    user = client.get_user("jane.doe@acme.test")
    assert user["quota_bytes"] == 5_000_000 and user["enabled"] is False
    client.delete_user("jane.doe@acme.test")
    with pytest.raises(MailuNotFoundError):
        client.get_user("jane.doe@acme.test")


def test_user_on_missing_domain_is_404(client):
    with pytest.raises(MailuNotFoundError, match="Domain nowhere.test does not exist"):
        client.create_user("a@nowhere.test", "Secret-pass-123")


def test_duplicate_user_is_409_duplicate(client):
    client.create_user("bob@acme.test", "Secret-pass-123")
    with pytest.raises(MailuDuplicateError, match="User bob@acme.test already exists"):
        client.create_user("bob@acme.test", "Other-pass-4567")


def test_max_users_reached_is_409_limit(client):
    client.create_domain("small.test", max_users=1)
    client.create_user("one@small.test", "Secret-pass-123")
    with pytest.raises(MailuLimitReachedError, match="Too many users for domain small.test"):
        client.create_user("two@small.test", "Secret-pass-123")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.create_user("no-at-sign", "Secret-pass-123"), "not an email address"),
        (lambda c: c.create_user("a b@acme.test", "Secret-pass-123"), "invalid local part"),
        (lambda c: c.create_user("a@acme.test", "short"), "at least 8 characters"),
        (lambda c: c.create_user("a@acme.test", "Secret-pass-123", quota="1G"), "unknown user field"),
        (lambda c: c.create_user("a@acme.test", "Secret-pass-123", quota_bytes="1G"), "must be int"),
        (lambda c: c.create_user("a@acme.test", "Secret-pass-123", enabled=1), "must be bool"),
        (lambda c: c.create_domain("-bad-.test"), "not a valid domain name"),
        (lambda c: c.create_alias("x@acme.test", "admin@acme.test"), "list of addresses"),
        (lambda c: c.get_token("1; drop"), "token id must be a number"),
    ],
)
def test_bad_input_is_refused_before_any_request(client, mailu_double, call, message):
    before = len(mailu_double.state.servers[MAIL_HOST].users)
    with pytest.raises(MailuValidationError, match=message):
        call(client)
    assert len(mailu_double.state.servers[MAIL_HOST].users) == before


def test_idn_domain_is_sent_as_a_labels(client):
    client.create_domain("bücher.test")
    client.create_user("Info@BÜCHER.test", "Secret-pass-123")
    assert client.get_user("info@xn--bcher-kva.test")["email"] == "info@xn--bcher-kva.test"


# -------------------------------------------------------------------------------------- aliases
def test_alias_destinations_must_be_local_users(client):
    with pytest.raises(MailuNotFoundError, match="destination email address ghost@acme.test does not exist"):
        client.create_alias("postmaster@acme.test", ["ghost@acme.test"])
    client.create_alias("postmaster@acme.test", ["admin@acme.test"], comment="RFC 5321")
    assert client.get_alias("postmaster@acme.test")["destination"] == ["admin@acme.test"]
    with pytest.raises(MailuDuplicateError):
        client.create_alias("postmaster@acme.test", ["admin@acme.test"])
    client.create_user("ops@acme.test", "Secret-pass-123")
    client.update_alias("postmaster@acme.test", destination=["admin@acme.test", "ops@acme.test"])
    assert client.get_alias("postmaster@acme.test")["destination"] == ["admin@acme.test", "ops@acme.test"]
    assert [a["email"] for a in client.list_domain_aliases("acme.test")] == ["postmaster@acme.test"]
    client.delete_alias("postmaster@acme.test")
    assert client.list_aliases() == []


# ------------------------------------------------------------------------------- relays, tokens
def test_relay_crud(client):
    client.create_relay("relayed.test", smtp="smtp.relayed.test", comment="legacy")
    assert client.get_relay("relayed.test")["smtp"] == "smtp.relayed.test"
    client.update_relay("relayed.test", smtp="mx.relayed.test")
    assert client.list_relays() == [{"name": "relayed.test", "smtp": "mx.relayed.test", "comment": "legacy"}]
    with pytest.raises(MailuDuplicateError):
        client.create_domain("relayed.test")  # fqdn already in use as a relay
    client.delete_relay("relayed.test")
    assert client.list_relays() == []


def test_tokens_and_the_tokenuser_path(client, mailu_double):
    created = client.create_token("admin@acme.test", comment="imap client", AuthorizedIP=["198.18.0.0/15"])
    assert len(created["token"]) == 32
    listed = client.list_user_tokens("admin@acme.test")  # GET /tokenuser/admin@acme.test
    assert [t["id"] for t in listed] == [created["id"]] and "token" not in listed[0]
    assert client.get_token(created["id"])["comment"] == "imap client"
    client.update_token(created["id"], comment="phone")
    assert client.list_tokens()[0]["comment"] == "phone"
    client.delete_token(created["id"])
    assert client.list_tokens() == []
    with pytest.raises(MailuNotFoundError):
        client.create_token("ghost@acme.test")
    # The slash form does not exist on the real server, nor on the double.
    raw = requests.get(
        f"{mailu_double.base_url()}/token/user/admin@acme.test",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert raw.status_code == 404


# ------------------------------------------------------------------------- auth and rate limit
def test_wrong_token_raises_at_once_and_is_never_retried(mailu_double):
    bad = MailuClient(mailu_double.base_url(), "wrong-token-123", retries=3, backoff=0.01)
    with pytest.raises(MailuAuthError) as err:
        bad.list_domains()
    assert err.value.status == 403
    assert "Not retried" in str(err.value) and "wrong-token-123" not in str(err.value)
    assert _failures(mailu_double.state) == 1
    # Every later call is refused without being sent: the limiter count does not move.
    for _ in range(3):
        with pytest.raises(MailuAuthError, match="not sent"):
            bad.create_user("x@acme.test", "Secret-pass-123")
    assert _failures(mailu_double.state) == 1  # the one request: not retried


def test_missing_authorization_header_is_401(mailu_double):
    raw = requests.get(f"{mailu_double.base_url()}/domain", timeout=5)
    assert raw.status_code == 401 and raw.headers["X-Mailfleet-Double"] == "mailu"
    assert _failures(mailu_double.state) == 0


def test_wrong_tokens_lock_the_ip_out_then_429_even_with_the_right_token(client, mailu_double):
    for _ in range(5):  # AUTH_RATELIMIT_IP of the double: 5 per window
        with pytest.raises(MailuAuthError):
            MailuClient(mailu_double.base_url(), "wrong-token-123").list_domains()
    with pytest.raises(MailuRateLimitedError, match="rate limited") as err:
        client.list_domains()
    assert err.value.status == 429
    # Another IP (Mailu reads X-Real-IP from its front) is not locked out.
    other = requests.get(
        f"{mailu_double.base_url()}/domain",
        timeout=5,
        headers={"Authorization": f"Bearer {TOKEN}", "X-Real-IP": "198.18.9.9"},
    )
    assert other.status_code == 200


def test_servers_are_separate_tokens_do_not_cross(mailu_double):
    mailu_double.state.register("mail.other.test", {"api_token": "other-token-456", "domain": "other.test"})
    with MailuClient(mailu_double.base_url("mail.other.test"), "other-token-456") as other:
        assert [d["name"] for d in other.list_domains()] == []
    with pytest.raises(MailuAuthError):
        MailuClient(mailu_double.base_url("mail.other.test"), TOKEN).list_domains()


def test_repr_and_errors_never_show_the_token(client):
    assert TOKEN not in repr(client)
    with pytest.raises(MailuDuplicateError) as err:
        client.create_user("admin@acme.test", ADMIN_PW)
    assert TOKEN not in str(err.value) and ADMIN_PW not in str(err.value)


# --------------------------------------------------------------------------------- bulk create
def test_bulk_create_ten_mailboxes(client, mailu_double):
    result = client.create_users([{"email": f"user{i}@acme.test", "quota_bytes": 10**8} for i in range(10)])
    assert result.ok and len(result.created) == 10
    assert set(result.generated_passwords) == set(result.created)
    assert all(len(p) == 20 for p in result.generated_passwords.values())
    assert "generated_passwords" not in repr(result)
    assert len(client.list_domain_users("acme.test")) == 11  # + the initial admin


def test_bulk_create_records_conflicts_and_goes_on(client):
    client.create_user("taken@acme.test", "Secret-pass-123")
    result = client.create_users(
        [
            {"email": "new1@acme.test"},
            {"email": "taken@acme.test"},
            {"email": "x@missing.test"},
            {"email": "new2@acme.test", "password": "Chosen-pass-999"},
        ]
    )
    assert result.created == ["new1@acme.test", "new2@acme.test"]
    assert isinstance(result.failed["taken@acme.test"], MailuDuplicateError)
    assert isinstance(result.failed["x@missing.test"], MailuNotFoundError)
    assert set(result.generated_passwords) == {"new1@acme.test"}  # only generated, only created


def test_bulk_create_validates_everything_first(client, mailu_double):
    with pytest.raises(MailuValidationError, match="appears twice"):
        client.create_users([{"email": "a@acme.test"}, {"email": "A@acme.test"}])
    with pytest.raises(MailuValidationError):
        client.create_users([{"email": "ok@acme.test"}, {"email": "bad@@acme.test"}])
    assert list(mailu_double.state.servers[MAIL_HOST].users) == ["admin@acme.test"]


def test_bulk_create_with_a_wrong_token_stops_after_one_request(mailu_double):
    bad = MailuClient(mailu_double.base_url(), "wrong-token-123")
    result = bad.create_users([{"email": f"u{i}@acme.test"} for i in range(10)])
    assert isinstance(result.aborted, MailuAuthError) and not result.ok
    assert result.created == [] and len(result.skipped) == 10 and result.generated_passwords == {}
    assert _failures(mailu_double.state) == 1


# --------------------------------------------------------------------- retries and timeouts
class _Flaky:
    """WSGI app answering 503 for the first ``failures`` requests, then 200."""

    def __init__(self, failures: int, delay: float = 0.0) -> None:
        self.failures, self.delay, self.calls = failures, delay, 0

    def __call__(self, environ, start_response):
        self.calls += 1
        time.sleep(self.delay)
        if self.calls <= self.failures:
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"message": "starting"}']
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"[]"]


@pytest.fixture
def flaky_server() -> Iterator:
    servers = []

    def start(app):
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()


def test_reads_are_retried_on_5xx_writes_are_not(flaky_server):
    app = _Flaky(failures=2)
    client = MailuClient(flaky_server(app), TOKEN, retries=2, backoff=0.01)
    assert client.list_domains() == []
    assert app.calls == 3
    app2 = _Flaky(failures=1)
    client2 = MailuClient(flaky_server(app2), TOKEN, retries=2, backoff=0.01)
    with pytest.raises(MailuServerError):
        client2.create_domain("new.test")
    assert app2.calls == 1


def test_unreachable_server_is_bounded(flaky_server):
    import socket

    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = MailuClient(f"http://127.0.0.1:{port}", TOKEN, retries=2, backoff=0.01, timeout=(0.5, 0.5))
    with pytest.raises(MailuUnavailableError, match="after 3 attempt"):
        client.list_domains()
    # The answer comes after 1 s: the 0.2 s read timeout gives up first, and with retries=0 once.
    sluggish = _Flaky(0, delay=1.0)
    slow = MailuClient(flaky_server(sluggish), TOKEN, retries=0, timeout=(0.5, 0.2))
    with pytest.raises(MailuUnavailableError, match="after 1 attempt.*ReadTimeout"):
        slow.list_domains()
    assert sluggish.calls == 1


def test_base_url_and_token_are_checked():
    with pytest.raises(MailuValidationError, match="http"):
        MailuClient("mail.acme.test", TOKEN)
    with pytest.raises(MailuValidationError, match="token"):
        MailuClient("https://mail.acme.test", "")
    assert MailuClient("https://mail.acme.test/", TOKEN).base_url == "https://mail.acme.test/api/v1"
    assert MailuClient("https://mail.acme.test/api/v1/", TOKEN).base_url == "https://mail.acme.test/api/v1"
