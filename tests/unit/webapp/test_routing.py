"""Every route with an ``<int:...>`` id, page or API: an id beyond the database's integer names no
row, so it is a 404 like any unknown id (not a database error)."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import IntegerConverter, Rule

from webapp.routing import MAX_ID
from webapp.testing import csrf_token

pytestmark = pytest.mark.unit

# A value that reaches the view for each non-id argument (unknown names fail the test: add one).
OTHER_ARGUMENTS = {"slug": "acme", "kind": "deprovision", "check": "smtp"}
PLACEHOLDER = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")


def id_rules(app: Flask) -> list[Rule]:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if any(isinstance(converter, IntegerConverter) for converter in rule._converters.values())
    ]


def url_for_rule(rule: Rule, number: int) -> str:
    """Built by hand: the URL adapter refuses to build what its own converter rejects."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(number) if isinstance(rule._converters[name], IntegerConverter) else OTHER_ARGUMENTS[name]

    return PLACEHOLDER.sub(value, rule.rule)


def test_the_app_has_pages_and_api_routes_with_ids(app: Flask) -> None:
    paths = [rule.rule for rule in id_rules(app)]
    assert any(path.startswith("/runs/") for path in paths)
    assert any(path.startswith("/api/v1/") for path in paths)


@pytest.mark.parametrize("number", [MAX_ID + 1, 2**64], ids=["postgresql-integer", "sqlite-integer"])
def test_an_id_beyond_the_database_integer_is_not_found(
    app: Flask, as_admin: FlaskClient, number: int
) -> None:
    token = csrf_token(as_admin, "/account")
    answers = {}
    for rule in id_rules(app):
        url = url_for_rule(rule, number)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = as_admin.open(url, method=method, data={"csrf_token": token})
            answers[f"{method} {url}"] = response.status_code
    # Werkzeug weighs the method before the converters: a POST to a path whose other rule answers
    # GET gets that rule's 405 (the view does not run either).
    wrong = {
        call: code for call, code in answers.items() if code != 404 and not (code == 405 and "POST" in call)
    }
    assert answers and not wrong, wrong


def test_ids_up_to_the_database_integer_reach_the_view(app: Flask) -> None:
    urls = app.url_map.bind("localhost")
    assert urls.match(f"/runs/{MAX_ID}") == ("runs.detail", {"run_id": MAX_ID})
    assert urls.match(f"/api/v1/runs/{MAX_ID}")[1] == {"run_id": MAX_ID}
