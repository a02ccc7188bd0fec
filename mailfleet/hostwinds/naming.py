"""The srvrname convention: `mf-<tenant>-<n>`, e.g. `mf-acme-1`.

srvrname is the user label Hostwinds keeps per instance. mailfleet makes it unique per account and
uses it to find an instance after add_instance (which answers without an id) and to group the
inventory by tenant. The tenant part is a tenant slug (mailfleet.validation); `<n>` counts from 1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mailfleet.validation import ValidationError, validate_tenant_slug

PREFIX = "mf"
_PATTERN = re.compile(rf"^{PREFIX}-(?P<tenant>[a-z][a-z0-9-]*[a-z0-9])-(?P<index>[1-9][0-9]{{0,5}})$")


@dataclass(frozen=True)
class ServerName:
    tenant: str
    index: int

    def __str__(self) -> str:
        return build_srvrname(self.tenant, self.index)


def build_srvrname(tenant: str, index: int = 1) -> str:
    """`mf-<tenant>-<index>`; raises ValidationError for a bad slug or index."""
    validate_tenant_slug(tenant)
    if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= 999_999:
        raise ValidationError(f"server index {index!r} must be a whole number from 1 to 999999")
    return f"{PREFIX}-{tenant}-{index}"


def parse_srvrname(name: object) -> ServerName | None:
    """The tenant and index of a mailfleet srvrname, or None for any other label."""
    if not isinstance(name, str):
        return None
    match = _PATTERN.match(name)
    if not match:
        return None
    try:
        tenant = validate_tenant_slug(match["tenant"])
    except ValidationError:
        return None
    return ServerName(tenant, int(match["index"]))


def next_server_name(tenant: str, existing: list[str]) -> ServerName:
    """The first free `mf-<tenant>-<n>` given the srvrnames already on the account."""
    taken = {p.index for p in map(parse_srvrname, existing) if p and p.tenant == tenant}
    index = 1
    while index in taken:
        index += 1
    return ServerName(tenant, index)


def next_srvrname(tenant: str, existing: list[str]) -> str:
    return str(next_server_name(tenant, existing))


#: A restore drill's throwaway server: `drill-<tenant>-<n>`. Not a srvrname (no `mf-` prefix), so
#: it is never taken for one of the tenant's mail servers: no tenant group holds it, no index of
#: `mf-<tenant>-<n>` is spent on it.
DRILL_PREFIX = "drill"


def next_drill_name(tenant: str, existing: list[str]) -> str:
    """The first free `drill-<tenant>-<n>` given the names already taken."""
    validate_tenant_slug(tenant)
    taken = set(existing)
    index = 1
    while f"{DRILL_PREFIX}-{tenant}-{index}" in taken:
        index += 1
    return f"{DRILL_PREFIX}-{tenant}-{index}"


def ordered_name(tenant: str, variables: Mapping[str, Any]) -> str:
    """The server a provider playbook (provision.yml, deprovision.yml) acts on, from its run's
    variables as playbooks/vars/server.yml reads them: `server_name` when given (a drill's
    throwaway server), else `mf-<tenant>-<server_index>`."""
    given = variables.get("server_name")
    return str(given) if given else build_srvrname(tenant, int(variables["server_index"]))


_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def validate_label(name: object) -> str:
    """A srvrname mailfleet will create: 1-63 of a-z, 0-9 and '-' (like a DNS label), e.g. mf-acme-1."""
    if not isinstance(name, str) or not _LABEL.match(name):
        raise ValidationError(
            f"{name!r} is not a usable instance label (1-63 characters of a-z, 0-9 and '-', not starting "
            "or ending with '-'; mailfleet uses mf-<tenant>-<n>)"
        )
    return name
