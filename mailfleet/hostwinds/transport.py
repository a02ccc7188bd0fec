"""HTTP transport for the Hostwinds API: a requests session that only ever connects over IPv4.

Hostwinds binds API keys to allowed IPv4 addresses; a call that leaves over IPv6 is answered
`Not Authorized!`. `IPv4Adapter` resolves the host with AF_INET only and connects to that address,
while TLS still verifies the certificate against the host name.
"""

from __future__ import annotations

import socket
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError


def resolve_ipv4(host: str, port: int) -> str:
    """The first IPv4 address of `host` (raises socket.gaierror when it has none)."""
    infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
    return str(infos[0][4][0])


class _IPv4Mixin:
    host: str
    port: int
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        try:
            address = resolve_ipv4(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(
                self.host, self,  # type: ignore[arg-type]
                socket.gaierror(f"{self.host} has no IPv4 address (Hostwinds API keys are bound to IPv4 "
                                f"addresses, so mailfleet never connects over IPv6): {exc}"),
            ) from exc
        name, self._dns_host = self._dns_host, address
        try:
            return super()._new_conn()  # type: ignore[misc]
        finally:
            self._dns_host = name


class IPv4HTTPConnection(_IPv4Mixin, HTTPConnection):
    pass


class IPv4HTTPSConnection(_IPv4Mixin, HTTPSConnection):
    pass


class _IPv4HTTPPool(HTTPConnectionPool):
    ConnectionCls = IPv4HTTPConnection


class _IPv4HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = IPv4HTTPSConnection


class IPv4Adapter(HTTPAdapter):
    """A requests adapter whose connections resolve and connect over IPv4 only."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _IPv4HTTPPool, "https": _IPv4HTTPSPool}


def ipv4_session() -> requests.Session:
    """A session for the Hostwinds API: IPv4 only, no retries of its own (the client decides)."""
    session = requests.Session()
    adapter = IPv4Adapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
