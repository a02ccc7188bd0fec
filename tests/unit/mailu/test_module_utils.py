"""state=absent as the mailu_* modules apply it (the collection's module_utils), against the Mailu double."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.plugins.loader import init_plugin_loader
from ansible.utils.collection_loader import AnsibleCollectionConfig

if AnsibleCollectionConfig.collection_finder is None:  # once per process, as the ansible CLIs do
    init_plugin_loader([str(Path(__file__).resolve().parents[3] / "collections")])

from ansible_collections.mailfleet.fleet.plugins.module_utils.base import ensure_absent  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailu import current_or_none  # noqa: E402

pytestmark = pytest.mark.unit


def test_absent_deletes_what_exists_and_then_changes_nothing(client):
    client.create_domain("gone.test")
    current = current_or_none(client.get_domain, "gone.test")
    assert current is not None and current["name"] == "gone.test"

    delete = lambda: client.delete_domain("gone.test")  # noqa: E731
    assert ensure_absent(current, delete, check_mode=False) == {"changed": True}
    assert current_or_none(client.get_domain, "gone.test") is None
    assert ensure_absent(None, delete, check_mode=False) == {"changed": False}


def test_absent_in_check_mode_reports_the_change_and_deletes_nothing(client):
    client.create_user("kept@acme.test", "a-long-password-1")
    current = current_or_none(client.get_user, "kept@acme.test")
    delete = lambda: client.delete_user("kept@acme.test")  # noqa: E731
    assert ensure_absent(current, delete, check_mode=True) == {"changed": True}
    assert current_or_none(client.get_user, "kept@acme.test") is not None
