"""Two tenants' mail servers, each provisioned and given a domain through the control plane's job
path (the Hostwinds double boots a real testbed host, site.yml runs every role on it, the host's
testbed mail stack starts from what the mailu role wrote): the session's converged servers "ma" and
"mb", which other folders' tests share (see tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest
from controlplane import MailServer


@pytest.fixture(scope="session")
def mail_plane(control_plane) -> dict[str, Any]:
    """The control plane's app on a fresh database, with the testbed's site settings."""
    return control_plane


@pytest.fixture(scope="session")
def mail_servers(converged_servers) -> tuple[MailServer, MailServer]:
    """Tenant A's and tenant B's servers, each on its own testbed host."""
    return converged_servers("ma"), converged_servers("mb")
