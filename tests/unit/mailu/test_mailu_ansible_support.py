"""state=absent as the mailu_* modules apply it, against the Mailu double."""

from __future__ import annotations

import pytest

from mailfleet.mailu.ansible_support import current_or_none, ensure_absent

pytestmark = pytest.mark.unit


def test_absent_deletes_what_exists_and_then_changes_nothing(client):
    client.create_domain("gone.test")
    current = current_or_none(client.get_domain, "gone.test")
    assert current is not None and current["name"] == "gone.test"

    assert ensure_absent(current, client.delete_domain, "gone.test", check_mode=False) == {"changed": True}
    assert current_or_none(client.get_domain, "gone.test") is None
    assert ensure_absent(None, client.delete_domain, "gone.test", check_mode=False) == {"changed": False}


def test_absent_in_check_mode_reports_the_change_and_deletes_nothing(client):
    client.create_user("kept@acme.test", "a-long-password-1")
    current = current_or_none(client.get_user, "kept@acme.test")
    assert ensure_absent(current, client.delete_user, "kept@acme.test", check_mode=True) == {"changed": True}
    assert current_or_none(client.get_user, "kept@acme.test") is not None
