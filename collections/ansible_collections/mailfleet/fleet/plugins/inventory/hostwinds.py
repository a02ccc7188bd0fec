# Hostwinds Cloud instances as an Ansible inventory (mailfleet.fleet.hostwinds).
from __future__ import annotations

DOCUMENTATION = r"""
name: hostwinds
short_description: Hostwinds Cloud instances as an Ansible inventory
description:
  - Reads the instances of one Hostwinds Cloud account through the mailfleet Hostwinds client
    (C(mailfleet.hostwinds), installed with mailfleet; the same client the modules and the web app use).
  - Uses a YAML configuration file whose name ends with C(hostwinds.yml) or C(hostwinds.yaml).
  - One refresh costs one C(get_instances) call and one C(get_price_list) call (which also checks the
    key); C(get_locations) is asked only about a location id mailfleet does not know.
  - The API key is bound to allowed IPv4 addresses; the client always connects over IPv4.
  - The root C(password) and C(configkey) the API returns are removed by the client before anything
    else sees them; they never reach host variables, the cache or logs.
  - All values from the API are marked unsafe, so Jinja text (a lookup, say) in a server
    label stays text and is never templated.
  - "Groups: C(hostwinds) (every host, see O(group)), C(location_<name>) (e.g. C(location_dallas)),
    C(region_<region>) (C(region_us), C(region_eu) or C(region_asia)),
    C(status_<status>) (e.g. C(status_active)) and C(tenant_<tenant>) for labels that follow the mailfleet
    convention C(mf-<tenant>-<n>) (dashes in the tenant become underscores, e.g. C(tenant_big_co))."
  - "Host variables (with the default prefix): the allowed instance fields (O(attributes)) as
    C(hostwinds_<field>), plus C(hostwinds_location), C(hostwinds_region),
    C(hostwinds_tenant), C(hostwinds_plan),
    C(hostwinds_plan_rid), C(hostwinds_monthly_price) (a string, e.g. C(\"9.99\")),
    C(hostwinds_public_ipv4), C(hostwinds_public_ipv6), C(hostwinds_private_ipv4),
    C(hostwinds_mail_hostname) (the PTR of the main IPv4, which provision.yml sets to the mail host
    name; the group vars in inventory/group_vars/all read it), and C(ansible_host)."
  - A host without the address O(connect_with) asks for (e.g. still building) is left out; all such
    hosts are reported in one warning.
author:
  - mailfleet (!UNKNOWN)
requirements:
  - mailfleet (this repository, installed with pip -e)
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks this as a hostwinds inventory configuration.
    required: true
    choices: [mailfleet.fleet.hostwinds]
    type: str
  api_key:
    description:
      - The Hostwinds Cloud API key. May be a template, for example
        C({{ lookup('mailfleet.fleet.secret', 'global/hostwinds', field='api_key') }}).
    type: str
    required: true
    env:
      - name: HOSTWINDS_API_KEY
  api_url:
    description: The API endpoint; tests and the demo point it at the Hostwinds double.
    type: str
    default: https://clients.hostwinds.com/cloud/api.php
    env:
      - name: HOSTWINDS_API_URL
  timeout:
    description: Seconds to wait for each answer; slow answers are retried a bounded number of times.
    type: float
    default: 30
  group:
    description: The group every Hostwinds host is added to.
    type: str
    default: hostwinds
  locations:
    description: Only instances in these locations (names such as C(Dallas), case-insensitive, or ids).
    type: list
    elements: str
    default: []
  statuses:
    description: Only instances with these statuses (e.g. C(ACTIVE)); empty means all.
    type: list
    elements: str
    default: []
  name_regex:
    description: Only instances whose srvrname (label) matches this Python regular expression.
    type: str
  tenants:
    description: Only instances of these mailfleet tenants (from the C(mf-<tenant>-<n>) label).
    type: list
    elements: str
    default: []
  hostname_source:
    description: Which field names the host in the inventory.
    type: str
    default: srvrname
    choices: [srvrname, hostname, serviceid]
  connect_with:
    description:
      - The address put into C(ansible_host). A host without it is skipped (reported once).
      - C(hostname) uses the instance's C(hostname) field.
    type: str
    default: public_ipv4
    choices: [public_ipv4, public_ipv6, private_ipv4, hostname]
  hostvars_prefix:
    description: Prefix of the host variables that come from Hostwinds.
    type: str
    default: hostwinds_
  attributes:
    description:
      - The instance fields exposed as host variables (an allow-list). Derived fields (location, tenant,
        plan, plan_rid, monthly_price, public/private addresses) are always added. C(password) and
        C(configkey) are never available, whatever is listed here.
    type: list
    elements: str
    default: [serviceid, srvrname, hostname, status, vm_state, power_state, main_ip, private_ip, ip_v6, ips,
              location_id, product_id, product_name, billingcycle, ram, cpu, disk, bandwidth, bandwidth_used,
              image, created_at, updated_at, is_suspended, locked]
"""

EXAMPLES = r"""
# inventory/hostwinds.yml: key from the environment (HOSTWINDS_API_KEY).
plugin: mailfleet.fleet.hostwinds

---
# Key from mailfleet's secrets store, only running servers, cached for five minutes.
plugin: mailfleet.fleet.hostwinds
api_key: "{{ lookup('mailfleet.fleet.secret', 'global/hostwinds', field='api_key') }}"
statuses: [ACTIVE]
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/mailfleet/inventory
cache_timeout: 300

---
# Amsterdam servers of two tenants, named by Hostwinds' hostname, extra groups by plan.
plugin: mailfleet.fleet.hostwinds
locations: [Amsterdam]
tenants: [acme, big-co]
hostname_source: hostname
keyed_groups:
  - key: hostwinds_plan_rid | string  # keyed_groups need strings
    prefix: plan
compose:
  mail_hostname: "'mail.' ~ hostwinds_tenant ~ '.example'"
groups:
  expensive: hostwinds_monthly_price | float > 20
"""

import re  # noqa: E402 - DOCUMENTATION first, as ansible-doc expects
from typing import Any  # noqa: E402

from ansible.errors import AnsibleParserError  # noqa: E402
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable  # noqa: E402
from ansible_collections.community.general.plugins.plugin_utils.unsafe import make_unsafe  # noqa: E402

try:
    from mailfleet.hostwinds import HostwindsClient, HostwindsError
    from mailfleet.hostwinds.instances import DERIVED_ATTRIBUTES, instance_records
    from mailfleet.validation import ValidationError, validate_tenant_slug
except ImportError as exc:  # pragma: no cover - only without the package
    IMPORT_ERROR: ImportError | None = exc
else:
    IMPORT_ERROR = None


def group_suffix(value: object) -> str:
    """A group-name-safe form of a location, status or tenant: lower case, a-z0-9_ only."""
    return re.sub(r"[^a-z0-9_]", "_", str(value).strip().lower())


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "mailfleet.fleet.hostwinds"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("hostwinds.yml", "hostwinds.yaml"))

    # --- steps -------------------------------------------------------------------------------
    def _client(self) -> HostwindsClient:
        api_key = self.get_option("api_key")
        if api_key and self.templar.is_possibly_template(api_key):
            api_key = self.templar.template(api_key)
        try:
            return HostwindsClient(str(api_key or ""), api_url=self.get_option("api_url"),
                                   timeout=(5.0, float(self.get_option("timeout"))))
        except HostwindsError as exc:
            raise AnsibleParserError(f"hostwinds inventory: {exc}") from None

    def _fetch(self) -> list[dict[str, Any]]:
        """Records of every instance: one price list (checks the key) and one instance list."""
        client = self._client()
        try:
            plans = client.price_list()
            instances = client.list_instances()
        except HostwindsError as exc:
            raise AnsibleParserError(f"hostwinds inventory: {exc}") from None
        # Cache everything (the allow-list is applied when hosts are added, so it can change).
        return instance_records(client, instances, plans)

    def _wanted(self, record: dict[str, Any]) -> bool:
        locations = {str(x).strip().lower() for x in self.get_option("locations")}
        if locations and not ({str(record.get("location", "")).lower(), str(record.get("location_id"))}
                              & locations):
            return False
        statuses = {str(x).upper() for x in self.get_option("statuses")}
        if statuses and str(record.get("status", "")).upper() not in statuses:
            return False
        tenants = set(self.get_option("tenants"))
        if tenants and record.get("tenant") not in tenants:
            return False
        pattern = self.get_option("name_regex")
        return not pattern or re.search(pattern, str(record.get("srvrname", ""))) is not None

    def _host_vars(self, record: dict[str, Any]) -> dict[str, Any]:
        """The host's variables: allowed fields and derived ones, prefixed, wrapped unsafe."""
        prefix = self.get_option("hostvars_prefix")
        allowed = set(self.get_option("attributes")) | set(DERIVED_ATTRIBUTES)
        allowed -= {"password", "configkey"}
        return {f"{prefix}{k}": make_unsafe(v) for k, v in record.items() if k in allowed}

    def _address(self, record: dict[str, Any]) -> str | None:
        connect_with = self.get_option("connect_with")
        value = record.get("hostname") if connect_with == "hostname" else record.get(connect_with)
        return str(value) if value else None

    # --- parse -------------------------------------------------------------------------------
    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        if IMPORT_ERROR is not None:
            raise AnsibleParserError(
                f"hostwinds inventory needs the mailfleet package (pip install -e .): {IMPORT_ERROR}")
        self._read_config_data(path)
        self._validate_options()
        records = self._cached_or_fetched(path, cache)
        self._populate(records)

    def _validate_options(self) -> None:
        pattern = self.get_option("name_regex")
        if pattern:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise AnsibleParserError(
                    f"hostwinds inventory: name_regex {pattern!r} is invalid: {exc}") from None
        for tenant in self.get_option("tenants"):
            try:
                validate_tenant_slug(tenant)
            except ValidationError as exc:
                raise AnsibleParserError(f"hostwinds inventory: {exc}") from None

    def _cached_or_fetched(self, path: str, cache: bool) -> list[dict[str, Any]]:
        use_cache = bool(self.get_option("cache"))
        key = self.get_cache_key(path)
        if use_cache and cache:
            try:
                return self._cache[key]
            except KeyError:
                pass
        records = self._fetch()
        # A fresh answer is stored; a cache hit is not written back, so its timer is not reset.
        if use_cache:
            self._cache[key] = records
        return records

    def _populate(self, records: list[dict[str, Any]]) -> None:
        top = self.inventory.add_group(self.get_option("group"))
        strict = self.get_option("strict")
        source = self.get_option("hostname_source")
        skipped: list[str] = []
        seen: set[str] = set()
        for record in records:
            if not self._wanted(record):
                continue
            name = str(record.get(source) or "")
            address = self._address(record)
            if not name or not address or name in seen:
                why = "duplicate name" if name in seen else f"no {self.get_option('connect_with')}"
                skipped.append(f"{record.get('srvrname') or record.get('serviceid')} ({why})")
                continue
            seen.add(name)
            host = self.inventory.add_host(make_unsafe(name), group=top)
            hostvars = self._host_vars(record)
            hostvars["ansible_host"] = make_unsafe(address)
            for var, value in hostvars.items():
                self.inventory.set_variable(host, var, value)
            for kind in ("location", "region", "status", "tenant"):
                if record.get(kind):
                    group = self.inventory.add_group(f"{kind}_{group_suffix(record[kind])}")
                    self.inventory.add_child(group, host)
            self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)
        if skipped:
            self.display.warning(
                f"hostwinds inventory: {len(skipped)} instance(s) left out for want of a usable address or "
                f"name: {', '.join(skipped[:20])}{' ...' if len(skipped) > 20 else ''}")
