"""Two tenants' mail servers, each provisioned and given a domain through the control plane's job
path (the Hostwinds double boots a real testbed host, site.yml runs every role on it, the host's
testbed mail stack starts from what the mailu role wrote). Shared by every test of this folder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mailtest import MailServer, control_plane, provision


@pytest.fixture(scope="session")
def mail_plane(testbed, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The control plane's app on a fresh database, with the testbed's site settings."""
    with control_plane(testbed, tmp_path_factory.mktemp("mailplane")) as plane:
        yield plane


@pytest.fixture(scope="session")
def mail_servers(testbed, mail_plane) -> Iterator[tuple[MailServer, MailServer]]:
    """Tenant A's and tenant B's servers, each on its own testbed host; stopped afterwards."""
    made: list[MailServer] = []
    try:
        for label in ("ma", "mb"):
            made.append(provision(testbed, mail_plane["app"], label))
        yield made[0], made[1]
    finally:
        for server in made:
            testbed.stop_host(server.host.name)


