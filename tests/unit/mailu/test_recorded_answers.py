"""What real Mailu 2024.06 answers (recorded/mailu-2024.06.json): the client handles each answer as a
user needs it, and the double gives the same answer in the same situation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from mailu_fixtures import MAIL_HOST, TOKEN

from jobs.health import dkim_key
from mailfleet.mailu import (
    DNS_RECORD_FIELDS,
    MailuAuthError,
    MailuClient,
    MailuDuplicateError,
    MailuLimitReachedError,
    MailuNotFoundError,
    MailuRateLimitedError,
    MailuValidationError,
)

pytestmark = pytest.mark.unit

RECORDED: dict[str, Any] = json.loads((Path(__file__).parent / "recorded" / "mailu-2024.06.json").read_text())
KEY = re.compile(r"p=[A-Za-z0-9+/=]+")


class Replay(requests.adapters.BaseAdapter):
    """Answers every request with one recorded answer and keeps what was sent."""

    def __init__(self, entry: dict[str, Any]) -> None:
        super().__init__()
        self.entry = entry
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        response = requests.Response()
        response.status_code = self.entry["status"]
        response._content = json.dumps(self.entry["body"]).encode()
        response.headers["Content-Type"] = "application/json"
        response.url, response.request = str(request.url), request
        return response

    def close(self) -> None:
        pass


def replayed(name: str) -> tuple[MailuClient, Replay]:
    replay = Replay(RECORDED[name])
    session = requests.Session()
    session.mount("https://", replay)
    return MailuClient(f"https://{MAIL_HOST}/api/v1", TOKEN, session=session, retries=0), replay


def body(name: str) -> Any:
    return RECORDED[name]["body"]


# ------------------------------------------------------------------ the client on Mailu's answers
def test_every_recorded_answer_says_where_its_shape_comes_from():
    entries = {k: v for k, v in RECORDED.items() if not k.startswith("_")}
    assert len(entries) >= 15
    for name, entry in entries.items():
        assert entry["note"] and entry["request"] and isinstance(entry["status"], int), name


def test_dns_records_of_a_domain_with_dkim_under_letsencrypt():
    client, _ = replayed("domain_with_dkim_letsencrypt")
    records = client.domain_dns_records("example.test")
    assert records == {k: body("domain_with_dkim_letsencrypt")[k] for k in DNS_RECORD_FIELDS}
    # The key comes as one string longer than a DNS TXT string may be; what reads it gets the key.
    assert records["dns_dkim"].count('"') == 2 and len(records["dns_dkim"]) > 255
    selector, key = dkim_key(records["dns_dkim"])
    assert selector == "dkim" and len(key) == 392 and key == KEY.search(records["dns_dkim"])[0][2:]
    assert len(records["dns_tlsa"]) == 2 and all(" IN TLSA 2 1 1 " in t for t in records["dns_tlsa"])
    assert records["dns_dmarc_report"].endswith('"v=DMARC1;"')
    assert f"autodiscover.example.test. 600 IN CNAME {MAIL_HOST}." in records["dns_autoconfig"]
    assert "_imap._tcp.example.test. 600 IN SRV 0 0 0 ." in records["dns_autoconfig"]


def test_dns_records_of_a_domain_without_dkim_under_cert():
    client, _ = replayed("domain_without_dkim_cert")
    records = client.domain_dns_records("fresh.test")
    assert records["dns_dkim"] is records["dns_dmarc"] is records["dns_dmarc_report"] is None
    assert records["dns_tlsa"] == []
    assert dkim_key(records["dns_dkim"]) is None


def test_domain_list_without_null_fields():
    client, _ = replayed("domain_list_skips_null")
    [domain] = client.list_domains()
    assert "dns_dkim" not in domain and domain["dns_tlsa"] == [] and domain["name"] == "fresh.test"


def test_invalid_domain_name_is_a_validation_error():
    client, replay = replayed("domain_invalid_name_quirk")
    with pytest.raises(MailuValidationError):
        client.get_domain("not_a_domain")
    assert replay.sent == []  # refused before asking: the 200-with-error answer never has to be read
    with pytest.raises(MailuValidationError, match="not a valid domain"):
        client.get_domain("quirk.test")  # were it asked, the error body under 200 is still an error


def test_user_created():
    client, replay = replayed("user_created")
    client.create_user("bob@acme.test", "a-long-password-1")
    sent = json.loads(replay.sent[0].body)
    assert replay.sent[0].method == "POST" and sent["email"] == "bob@acme.test"
    assert sent["raw_password"] == "a-long-password-1"  # noqa: S105 - Mailu hashes it


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("user_duplicate", MailuDuplicateError, "already exists"),
        ("user_limit_reached", MailuLimitReachedError, "Too many users"),
        ("user_domain_missing", MailuNotFoundError, "nowhere.test does not exist"),
        ("user_payload_invalid", MailuValidationError, "raw_password: 'raw_password' is a required property"),
        ("user_forward_without_destination", MailuValidationError, "forward_destination is mandatory"),
    ],
)
def test_user_creation_refused(name, error, words):
    client, _ = replayed(name)
    with pytest.raises(error, match=words) as raised:
        client.create_user("bob@acme.test", "a-long-password-1")
    assert raised.value.status == RECORDED[name]["status"]


def test_bulk_creation_records_a_duplicate_and_goes_on():
    client, replay = replayed("user_duplicate")
    result = client.create_users([{"email": "bob@acme.test", "password": "a-long-password-1"},
                                  {"email": "eve@acme.test", "password": "a-long-password-2"}])
    assert set(result.failed) == {"bob@acme.test", "eve@acme.test"} and result.aborted is None
    assert all(isinstance(e, MailuDuplicateError) for e in result.failed.values()) and len(replay.sent) == 2


def test_user_without_the_password_hash():
    client, _ = replayed("user_get")
    user = client.get_user("bob@acme.test")
    assert "password" not in user and user["quota_bytes_used"] == 0
    assert user == {k: v for k, v in body("user_get").items() if k != "password"}


def test_empty_alias_lists():
    client, _ = replayed("aliases_of_domain_empty")
    assert client.list_domain_aliases("acme.test") == []
    client, _ = replayed("aliases_empty")
    assert client.list_aliases() == []


@pytest.mark.parametrize("name", ["auth_missing", "auth_wrong"])
def test_refused_token_is_never_sent_again(name):
    client, replay = replayed(name)
    for _ in range(2):
        with pytest.raises(MailuAuthError) as raised:
            client.list_domains()
    assert raised.value.status == RECORDED[name]["status"] and len(replay.sent) == 1


def test_rate_limited():
    client, _ = replayed("rate_limited")
    with pytest.raises(MailuRateLimitedError, match="Too many attempts"):
        client.list_domains()


# ------------------------------------------------------------------ the double gives the same answers
def answer(mailu_double, method: str, path: str, payload: Any = None, token: str | None = TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.request(method, mailu_double.base_url() + path, json=payload, headers=headers,
                                timeout=10)
    return response.status_code, response.json()


def same(recorded: str, got: tuple[int, Any]) -> None:
    assert got == (RECORDED[recorded]["status"], RECORDED[recorded]["body"]), recorded


def without_key(value: Any) -> Any:
    return json.loads(KEY.sub("p=<key>", json.dumps(value)))


def test_double_renders_domains_as_mailu(mailu_double):
    settings = {"api_token": TOKEN, "domain": "acme.test", "hostnames": [MAIL_HOST], "dmarc_rua": "admin"}
    mailu_double.state.register(MAIL_HOST, {**settings, "tls_flavor": "letsencrypt"})
    assert answer(mailu_double, "POST", "/domain", {"name": "example.test"})[0] == 200
    assert answer(mailu_double, "POST", "/domain/example.test/dkim")[0] == 200
    status, got = answer(mailu_double, "GET", "/domain/example.test")
    assert status == 200
    assert without_key(got) == without_key(body("domain_with_dkim_letsencrypt"))
    assert len(KEY.search(got["dns_dkim"])[0]) == 2 + 392

    mailu_double.state.register(MAIL_HOST, {**settings, "tls_flavor": "cert"})
    answer(mailu_double, "DELETE", "/domain/example.test")
    answer(mailu_double, "DELETE", "/domain/acme.test")
    assert answer(mailu_double, "POST", "/domain", {"name": "fresh.test"})[0] == 200
    same("domain_without_dkim_cert", answer(mailu_double, "GET", "/domain/fresh.test"))
    same("domain_list_skips_null", answer(mailu_double, "GET", "/domain"))
    same("domain_invalid_name_quirk", answer(mailu_double, "GET", "/domain/not_a_domain"))


def test_double_answers_user_requests_as_mailu(mailu_double):
    bob = {"email": "bob@acme.test", "raw_password": "a-long-password-1"}
    same("user_created", answer(mailu_double, "POST", "/user", bob))
    same("user_duplicate", answer(mailu_double, "POST", "/user", bob))
    same("user_domain_missing", answer(mailu_double, "POST", "/user", {**bob, "email": "x@nowhere.test"}))
    same("user_payload_invalid", answer(mailu_double, "POST", "/user", {"email": "bob@acme.test"}))
    same("user_forward_without_destination", answer(
        mailu_double, "POST", "/user", {**bob, "email": "fwd@acme.test", "forward_enabled": True}))
    status, user = answer(mailu_double, "GET", "/user/bob@acme.test")
    assert status == 200 and user["password"].startswith("$bcrypt-sha256$v=2,t=2b,r=12$")
    assert {**user, "password": "<hash>"} == {**body("user_get"), "password": "<hash>"}
    answer(mailu_double, "PATCH", "/domain/acme.test", {"max_users": 2})  # admin and bob
    same("user_limit_reached", answer(mailu_double, "POST", "/user", bob))  # the limit comes first


def test_double_answers_alias_lists_and_auth_as_mailu(mailu_double):
    same("aliases_of_domain_empty", answer(mailu_double, "GET", "/alias/destination/acme.test"))
    same("aliases_empty", answer(mailu_double, "GET", "/alias"))
    same("auth_missing", answer(mailu_double, "GET", "/domain", token=None))
    for _ in range(mailu_double.state.auth_ratelimit):
        same("auth_wrong", answer(mailu_double, "GET", "/domain", token="wrong-token-123"))
    same("rate_limited", answer(mailu_double, "GET", "/domain"))
