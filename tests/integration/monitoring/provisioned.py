"""Servers made the way the product makes them, for the monitoring tests: the provision form's
service writes the row (with its mail host name) and queues provision.yml; the provider (the
Hostwinds double) builds the instance as that play asks; the periodic refresh (jobs.servers) fills
in the provider's side (its own host name, the address, the status). Nothing is written by hand,
so a job that reads the wrong column fails here as it would in production."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from jobs.servers import refresh_servers
from mailfleet.hostwinds import HostwindsClient, build_srvrname
from testbed.doubles import hostwinds as hostwinds_double
from webapp.extensions import db
from webapp.models import Server, Tenant
from webapp.services import fleet
from webapp.services.scope import Scope
from webapp.testing import ServedApp

LOCATION, PLAN = "Dallas", "101"


class FixedAddresses:
    """The double's host backend: each instance comes up at once at the address the test names."""

    def __init__(self, addresses: dict[str, str]) -> None:
        self.addresses = addresses

    def create(self, srvrname: str, authorized_keys: list[str]) -> None:
        pass

    def address(self, srvrname: str) -> str | None:
        return self.addresses.get(srvrname)

    def failed(self, srvrname: str) -> str | None:
        return None

    def extra_address(self, srvrname: str) -> str:
        raise NotImplementedError

    def destroy(self, srvrname: str) -> None:
        self.addresses.pop(srvrname, None)

    def set_ptr(self, address: str, name: str | None) -> None:
        pass


def provision(app: Flask, scope: Scope, tenant: Tenant, mail_hostname: str, address: str) -> Server:
    [server] = provision_servers(app, scope, tenant, {mail_hostname: address})
    return server


def provision_servers(app: Flask, scope: Scope, tenant: Tenant, hosts: dict[str, str]) -> list[Server]:
    """One server per mail host name, at its address, all at one provider (a refresh marks the
    servers the provider does not list as gone)."""
    addresses: dict[str, str] = {}
    state = hostwinds_double.HostwindsState(backend=FixedAddresses(addresses), build_seconds=0)
    served = ServedApp(hostwinds_double.create_app(state))
    names = []
    try:
        client = HostwindsClient(hostwinds_double.DEFAULT_KEY, f"{served.url}/cloud/api.php", attempts=1)
        app.config["HOSTWINDS_CLIENT"] = client  # the form's offers and the refresh both ask it
        for mail_hostname, address in hosts.items():
            run = fleet.provision_server(scope, tenant, LOCATION, PLAN, mail_hostname)
            name = build_srvrname(tenant.slug, int(run.extravars["server_index"]))
            addresses[name] = address
            client.add_instance(name, PLAN, client.location_id(LOCATION), "debian-12")
            names.append(name)
        refresh_servers()
    finally:
        app.config.pop("HOSTWINDS_CLIENT", None)
        served.stop()
    return [db.session.scalar(select(Server).where(Server.name == name)) for name in names]
