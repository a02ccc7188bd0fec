"""Relay domains: the transport Mailu 2024.06 renders from a relay's smtp field, as our client
predicts it and as the testbed's Mailu double answers it (the same table, to the letter), and the
relays a secondary MX is brought to."""

from __future__ import annotations

import pytest
from mailu_fixtures import MAIL_HOST

from mailfleet.mailu.relays import RelayTargetError, plan_relays, relay_transport, secondary_relay
from mailfleet.validation import ValidationError

pytestmark = pytest.mark.unit

# smtp field -> what views/postfix.py answers for relay domain relayed.example (None: 400)
TRANSPORTS = [
    ("mail.example.com", "smtp:[mail.example.com]"),
    ("Mail.Example.COM", "smtp:[mail.example.com]"),
    ("mail.example.com:2525", "smtp:[mail.example.com]:2525"),
    ("mx:example.com", "smtp:example.com"),
    ("mx:example.com:26", "smtp:example.com:26"),
    ("", "smtp:relayed.example"),
    (":25", "smtp:relayed.example:25"),
    ("lmtp:lmtp.example.com:24", "lmtp:lmtp.example.com:24"),
    ("[2001:db8::1]", "smtp:[ipv6:2001:db8::1]"),
    ("[2001:db8::1]:25", "smtp:[ipv6:2001:db8::1]:25"),
    ("lmtp:[2001:db8::1]:24", "lmtp:[ipv6:2001:db8::1]:24"),
    ("198.18.0.7", "smtp:[198.18.0.7]"),
    ("mx:[2001:db8::1]", None),
    ("[2001:db8::1", None),
    ("[2001:db8::1]x", None),
    ("lmtp:", None),
    ("mail.example.com:smtp", None),
    ("mail.example.com:", None),
]


@pytest.mark.parametrize(("smtp", "transport"), TRANSPORTS)
def test_the_client_renders_a_relay_as_mailu_does(smtp, transport):
    if transport is None:
        with pytest.raises(RelayTargetError):
            relay_transport("relayed.example", smtp)
    else:
        assert relay_transport("relayed.example", smtp) == transport


def test_the_double_answers_the_same_transports(mailu_double):
    from testbed.doubles.mailu import create_app

    server = mailu_double.state.servers[MAIL_HOST]
    client = create_app(state=mailu_double.state).test_client()
    for smtp, transport in TRANSPORTS:
        server.relays["relayed.example"] = {"name": "relayed.example", "smtp": smtp, "comment": None}
        answer = client.get(f"/{MAIL_HOST}/internal/postfix/transport/ops@relayed.example")
        if transport is None:
            assert answer.status_code == 400, smtp
        else:
            assert (answer.status_code, answer.json) == (200, transport), smtp


def test_a_secondary_mx_relays_to_the_primary_host_never_through_an_mx_lookup():
    assert secondary_relay("shop.example", "Mail.Example.NET") == {
        "name": "shop.example", "smtp": "mail.example.net"}
    for target in ("mx:mail.example.net", "", "mail.example.net:25"):
        with pytest.raises(ValidationError):  # a plain host name, or nothing is written
            secondary_relay("shop.example", target)


def test_managed_relays_are_created_updated_and_removed_others_kept():
    current = [
        {"name": "old.example", "smtp": "mail.a.example", "comment": "mailfleet secondary MX: old.example"},
        {"name": "moved.example", "smtp": "mail.a.example",
         "comment": "mailfleet secondary MX: moved.example"},
        {"name": "hand.example", "smtp": "mx.partner.example", "comment": "set by hand"},
        {"name": "kept.example", "smtp": "mail.a.example", "comment": "mailfleet secondary MX: kept.example"},
    ]
    wanted = {name: {"name": name, "smtp": smtp} for name, smtp in
              [("new.example", "mail.a.example"), ("moved.example", "mail.b.example"),
               ("kept.example", "mail.a.example")]}
    plan = plan_relays(current, wanted, "mailfleet secondary MX")
    assert (plan.create, plan.update, plan.remove) == (["new.example"], ["moved.example"], ["old.example"])
    again = plan_relays(current[2:], {"kept.example": wanted["kept.example"]}, "mailfleet secondary MX")
    assert (again.create, again.update, again.remove) == ([], [], [])
