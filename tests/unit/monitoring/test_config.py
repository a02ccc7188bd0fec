"""Configuration validation: our own resolver only, never SORBS, clear errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailfleet.monitoring import DEFAULT_PORTS, MonitoringConfig, MonitoringConfigError, Severity, Status

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "resolver",
    ["8.8.8.8", "1.1.1.1", "9.9.9.9", "208.67.222.222", "2001:4860:4860::8888", "2606:4700:4700::1111"],
)
def test_public_resolvers_are_refused(resolver):
    with pytest.raises(MonitoringConfigError, match="public resolver"):
        MonitoringConfig(resolver=resolver)


@pytest.mark.parametrize("resolver", ["dns.google", "", "0.0.0.0"])
def test_resolver_must_be_a_usable_ip(resolver):
    with pytest.raises(MonitoringConfigError):
        MonitoringConfig(resolver=resolver)


def test_defaults():
    cfg = MonitoringConfig.from_mapping({"resolver": "127.77.18.3"})
    assert cfg.ports == DEFAULT_PORTS == (25, 465, 587, 993, 995, 143, 110, 4190, 80, 443, 22)
    assert "zen.spamhaus.org" in {lst.zone for lst in cfg.ip_lists}
    assert [lst.zone for lst in cfg.domain_lists] == ["dbl.spamhaus.org"]
    assert cfg.cert_warn_days == 14


@pytest.mark.parametrize(
    "entry",
    ["dnsbl.sorbs.net", "SORBS.NET", {"zone": "spam.dnsbl.sorbs.net", "delist_url": "https://x.invalid/"}],
)
def test_sorbs_refused_in_config(entry):
    with pytest.raises(MonitoringConfigError, match="SORBS"):
        MonitoringConfig.from_mapping({"resolver": "10.0.0.53", "ip_lists": [entry]})


def test_custom_list_and_alert_policies():
    cfg = MonitoringConfig.from_mapping(
        {
            "resolver": "10.0.0.53",
            "ip_lists": [
                "zen.spamhaus.org",
                {
                    "name": "Test BL",
                    "zone": "bl.example.test",
                    "delist_url": "https://bl.example.test/remove",
                    "codes": {
                        "127.0.0.2": {"meaning": "listed"},
                        "127.0.0.3": {"meaning": "pbl-ish", "status": "warning"},
                        "127.0.0.4": {"meaning": "exploited", "critical": True},
                    },
                },
            ],
            "alerts": {
                "default": {"fail_after": 2, "pass_after": 3, "escalate_after_minutes": 15},
                "checks": {"dnsbl:": {"fail_after": 1, "severity": "critical"}},
            },
            "facts": {"disk_warn_free_pct": 25, "backup_warn_age_hours": 2},
        }
    )
    test_bl = cfg.ip_lists[1]
    assert test_bl.codes["127.0.0.3"].status is Status.WARNING
    assert test_bl.codes["127.0.0.4"].critical and not test_bl.codes["127.0.0.2"].critical
    dnsbl = cfg.alerts.for_check("dnsbl:bl.example.test:192.0.2.1")
    assert (dnsbl.fail_after, dnsbl.pass_after, dnsbl.severity) == (1, 3, Severity.CRITICAL)
    assert cfg.alerts.default.escalate_after == timedelta(minutes=15)
    assert cfg.facts.disk_warn_free_pct == 25 and cfg.facts.backup_warn_age == timedelta(hours=2)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"resolver": "10.0.0.53", "bogus": 1}, "unknown monitoring settings"),
        ({}, "resolver is required"),
        ({"resolver": "10.0.0.53", "ports": [0]}, "ports"),
        ({"resolver": "10.0.0.53", "checks": ["ports", "telepathy"]}, "unknown check families"),
        ({"resolver": "10.0.0.53", "ip_lists": ["bl.unknown.test"]}, "not a default"),
        ({"resolver": "10.0.0.53", "ip_lists": ["dbl.spamhaus.org"]}, "not a default ip list"),
        ({"resolver": "10.0.0.53", "alerts": {"default": {"fail_after": 0}}}, "at least 1"),
        ({"resolver": "10.0.0.53", "facts": {"nonsense": 1}}, "unknown facts threshold"),
        ({"resolver": "10.0.0.53", "dns_timeout": 0}, "dns_timeout"),
    ],
)
def test_bad_config_is_rejected_clearly(data, match):
    with pytest.raises(MonitoringConfigError, match=match):
        MonitoringConfig.from_mapping(data)
