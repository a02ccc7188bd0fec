"""flask secrets put/get/list/import: values from stdin or a file, shown masked, bad input changes nothing."""

from __future__ import annotations

import json

import pytest

from webapp.integrations import secret_store

pytestmark = pytest.mark.unit

KEY = "hw-0123456789abcdef-XYZW"


def test_put_reads_the_value_from_stdin_and_keeps_the_other_fields(app, runner):
    secret_store().put("global/hostwinds", {"account": "acme-ops"})
    result = runner.invoke(args=["secrets", "put", "global/hostwinds", "api_key"], input=KEY + "\n")
    assert result.exit_code == 0, result.output
    assert result.output == "global/hostwinds: api_key written (version 2)\n"
    assert secret_store().get("global/hostwinds") == {"account": "acme-ops", "api_key": KEY}


def test_get_masks_every_value(app, runner):
    secret_store().put("global/cloudflare", {"api_token": KEY, "zone": "short"})
    result = runner.invoke(args=["secrets", "get", "global/cloudflare"])
    assert result.exit_code == 0, result.output
    assert result.output == "api_token: ********XYZW (24 characters)\nzone: ******** (5 characters)\n"
    assert KEY not in result.output


def test_list_and_an_unknown_path(app, runner):
    secret_store().put("global/tsig", {"secret": KEY})
    assert "global/tsig" in runner.invoke(args=["secrets", "list", "global"]).output.splitlines()
    missing = runner.invoke(args=["secrets", "get", "global/nothing"])
    assert missing.exit_code == 1 and "global/nothing" in missing.output


def test_import_writes_every_entry(app, runner, tmp_path):
    source = tmp_path / "secrets.json"
    source.write_text(
        json.dumps({"global/hostwinds": {"api_key": KEY}, "global/tsig": {"secret": "c2VjcmV0"}})
    )
    result = runner.invoke(args=["secrets", "import", str(source)])
    assert result.exit_code == 0, result.output
    assert secret_store().get_field("global/tsig", "secret") == "c2VjcmV0"
    assert KEY not in result.output


def test_import_with_one_bad_entry_writes_nothing(app, runner, tmp_path):
    source = tmp_path / "secrets.json"
    source.write_text(json.dumps({"global/hostwinds": {"api_key": KEY}, "global/tsig": {"bad field!": "x"}}))
    result = runner.invoke(args=["secrets", "import", str(source)])
    assert result.exit_code == 1
    assert "invalid field name 'bad field!'" in result.output
    assert not secret_store().exists("global/hostwinds")


def test_an_empty_value_is_refused(app, runner):
    result = runner.invoke(args=["secrets", "put", "global/hostwinds", "api_key"], input="\n")
    assert result.exit_code == 1 and "nothing was written" in result.output
    assert not secret_store().exists("global/hostwinds")
