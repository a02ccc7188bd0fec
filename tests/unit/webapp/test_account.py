"""The account page: issuing an API token answers with an HTML page that shows the token once."""

from __future__ import annotations

import re

import pytest

from webapp.services import accounts
from webapp.testing import csrf_token

pytestmark = pytest.mark.unit


def test_issue_a_new_token_answers_an_html_page_with_the_token(as_admin, world):
    token = csrf_token(as_admin, "/account")
    response = as_admin.post("/account/token", data={"csrf_token": token})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    shown = re.search(r'<code id="api-token">([^<]+)</code>', page)
    assert shown, page
    assert accounts.user_for_api_token(shown.group(1)).email == world.admin.email
