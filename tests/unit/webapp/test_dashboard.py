from __future__ import annotations

import pytest

pytestmark = pytest.mark.unit


def test_dashboard_after_login(as_admin):
    page = as_admin.get("/")
    assert page.status_code == 200
    assert "Dashboard" in page.get_data(as_text=True)
