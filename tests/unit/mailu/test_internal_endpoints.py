"""The Mailu double's /internal endpoints, and the testbed mail stack's proxy (podop.py) speaking
Postfix's socketmap and Dovecot's dict protocol against them over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailu_fixtures import ADMIN_PW, MAIL_HOST
from werkzeug.serving import make_server

from testbed.doubles.mailu_internal import hosts_facing

pytestmark = pytest.mark.unit

PODOP = Path(__file__).resolve().parents[3] / "testbed/mailstack/files/podop.py"


def login(client, user: str, password: str, ip: str = "203.0.113.7", protocol: str = "imap"):
    return client.get(f"/{MAIL_HOST}/internal/auth/email", headers={
        "Auth-Method": "plain", "Auth-Protocol": protocol, "Auth-User": user, "Auth-Pass": password,
        "Client-Ip": ip, "Client-Port": "40000", "Auth-Port": "993"})


@pytest.fixture
def internal(mailu_double):
    """A test client of the double, with a domain, a mailbox and an alias on MAIL_HOST."""
    from testbed.doubles.mailu import create_app

    app = create_app(state=mailu_double.state)
    server = mailu_double.state.servers[MAIL_HOST]
    server.new_user("bob@acme.test", "bob's password 1")
    server.aliases["info@acme.test"] = {"destination": ["bob@acme.test"], "comment": "", "wildcard": False}
    server.domains["acme.test"]["dkim_key"] = "-----BEGIN PRIVATE KEY-----\nnot used here\n"
    return app.test_client()


def test_postfix_tables(internal):
    base = f"/{MAIL_HOST}/internal/postfix"
    assert internal.get(f"{base}/domain/acme.test").json == "acme.test"
    assert internal.get(f"{base}/domain/other.test").status_code == 404
    assert internal.get(f"{base}/mailbox/bob@acme.test").json == "bob@acme.test"
    assert internal.get(f"{base}/mailbox/eve@acme.test").status_code == 404
    assert internal.get(f"{base}/alias/info@acme.test").json == "bob@acme.test"
    assert internal.get(f"{base}/alias/bob@acme.test").json == "bob@acme.test"
    assert internal.get(f"{base}/alias/acme.test").json == "acme.test"
    assert internal.get(f"{base}/sender/login/info@acme.test").json == "bob@acme.test"
    assert internal.get(f"{base}/transport/bob@acme.test").status_code == 404


def test_login_check_follows_the_front_protocol(internal, mailu_double):
    ok = login(internal, "admin@acme.test", ADMIN_PW)
    assert ok.status_code == 200 and ok.headers["Auth-Status"] == "OK"
    wrong = login(internal, "admin@acme.test", "not it", ip="203.0.113.8")
    assert wrong.headers["Auth-Status"] == "Authentication credentials invalid"
    assert wrong.headers["Auth-Error-Code"] == "AUTHENTICATIONFAILED"
    smtp = login(internal, "nobody@acme.test", "x", ip="203.0.113.8", protocol="smtp")
    assert smtp.headers["Auth-Error-Code"] == "535 5.7.8"
    assert login(internal, "bob@acme.test", "bob's password 1").headers["Auth-Status"] == "OK"
    del mailu_double.state.servers[MAIL_HOST].users["bob@acme.test"]
    assert login(internal, "bob@acme.test", "bob's password 1").headers["Auth-Status"] != "OK"


def test_unknown_users_from_one_address_hit_the_ip_limit(internal):
    """AUTH_RATELIMIT_IP (5 here) is shared with the API's wrong tokens, as in Mailu."""
    for n in range(5):
        login(internal, f"nobody{n}@acme.test", "x", ip="198.51.100.9")
    limited = login(internal, "admin@acme.test", ADMIN_PW, ip="198.51.100.9")
    assert limited.headers["Auth-Status"] == "Temporary authentication failure (rate-limit)"


def test_message_ratelimit_per_sender(internal, mailu_double):
    mailu_double.state.servers[MAIL_HOST].message_ratelimit = "2/hour"
    path = f"/{MAIL_HOST}/internal/postfix/sender/rate/bob@acme.test"
    assert [internal.get(path).status_code for _ in range(3)] == [404, 404, 200]
    assert internal.get(path).json.startswith("450 4.2.1")


def test_dovecot_and_rspamd_answers(internal):
    base = f"/{MAIL_HOST}/internal"
    assert internal.get(f"{base}/dovecot/userdb/bob@acme.test").json == {"quota_rule": "*:bytes=1000000000"}
    assert internal.get(f"{base}/dovecot/userdb/eve@acme.test").status_code == 404
    assert internal.get(f"{base}/rspamd/vault/v1/dkim/other.test").json == {"data": {"selectors": []}}


def test_a_server_not_up_answers_502(internal):
    assert internal.get("/mail.nowhere.test/internal/postfix/domain/acme.test").status_code == 502


def test_the_hosts_bridge_serves_internal_and_registration_only(mailu_double):
    from testbed.doubles.mailu import create_app

    bridge = hosts_facing(create_app(state=mailu_double.state))
    from werkzeug.test import Client

    client = Client(bridge)
    assert client.get(f"/{MAIL_HOST}/internal/postfix/domain/acme.test").status_code == 200
    assert client.get(f"/{MAIL_HOST}/api/v1/domain", headers={"Authorization": "Bearer x"}).status_code == 404
    assert client.post("/_double/reset").status_code == 404
    assert client.put(f"/_double/servers/{MAIL_HOST}/usage/bob@acme.test", json={}).status_code == 404


@pytest.fixture
def podop(internal, mailu_double, tmp_path) -> Iterator[Path]:
    """podop.py on unix sockets in tmp_path, asking the double over real HTTP."""
    from testbed.doubles.mailu import create_app

    http = make_server("127.0.0.1", 0, create_app(state=mailu_double.state), threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    spec = importlib.util.spec_from_file_location("podop", PODOP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    loop = asyncio.new_event_loop()
    task = loop.create_task(module.main(f"http://127.0.0.1:{http.port}", MAIL_HOST, str(tmp_path)))
    def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    for _ in range(100):
        if (tmp_path / "dovecot.sock").exists():
            break
        threading.Event().wait(0.02)
    yield tmp_path
    loop.call_soon_threadsafe(task.cancel)
    thread.join(5)
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    http.shutdown()
    http.server_close()


def _exchange(path: Path, payload: bytes, until: bytes) -> bytes:
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(path))
        sock.sendall(payload)
        data = b""
        while data.count(until) < 1:
            data += sock.recv(4096)
        return data


def test_podop_socketmap(podop):
    def ask(request: str) -> bytes:
        return _exchange(podop / "postfix.sock", b"%d:%s," % (len(request), request.encode()), b",")

    assert ask("mailbox bob@acme.test") == b"16:OK bob@acme.test,"
    assert ask("mailbox eve@acme.test") == b"9:NOTFOUND ,"
    assert ask("domain acme.test") == b"12:OK acme.test,"
    assert ask("nosuchmap x") == b"26:PERM unknown map nosuchmap,"


def test_podop_dovecot_dict(podop):
    hello = b"H2\t2\t0\tbob@acme.test\tauth\n"
    found = _exchange(podop / "dovecot.sock", hello + b"Lshared/userdb/bob@acme.test\tbob@acme.test\n", b"\n")
    assert json.loads(found[1:]) == {"quota_rule": "*:bytes=1000000000"}
    assert _exchange(podop / "dovecot.sock", hello + b"Lshared/userdb/eve@acme.test\n", b"\n") == b"N\n"
