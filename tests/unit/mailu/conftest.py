"""Fixtures: the Mailu API double served on loopback by a real HTTP server in a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from mailu_fixtures import ADMIN_PW, MAIL_HOST, TOKEN
from werkzeug.serving import make_server

from mailfleet.mailu import MailuClient
from testbed.doubles.mailu import MailuDoubleState, create_app


@dataclass
class DoubleServer:
    root: str
    state: MailuDoubleState

    def base_url(self, mail_host: str = MAIL_HOST) -> str:
        return f"{self.root}/{mail_host}/api/v1"


@pytest.fixture
def mailu_double(tmp_path) -> Iterator[DoubleServer]:
    state = MailuDoubleState(tmp_path / "mailu-double.json", auth_ratelimit=5, auth_window=3600)
    state.register(
        MAIL_HOST,
        {
            "api_token": TOKEN,
            "domain": "acme.test",
            "hostnames": [MAIL_HOST],
            "dmarc_rua": "admin",
            "initial_admin_account": "admin",
            "initial_admin_domain": "acme.test",
            "initial_admin_pw": ADMIN_PW,
            "initial_admin_mode": "ifmissing",
        },
    )
    server = make_server("127.0.0.1", 0, create_app(state=state), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield DoubleServer(f"http://127.0.0.1:{server.server_port}", state)
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def client(mailu_double: DoubleServer) -> Iterator[MailuClient]:
    with MailuClient(mailu_double.base_url(), TOKEN, timeout=(2, 5), retries=1, backoff=0.01) as c:
        yield c
