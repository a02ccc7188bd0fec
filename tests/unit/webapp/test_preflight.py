"""mailfleet-preflight: a service refuses to start with one line naming what is wrong."""

from __future__ import annotations

import pytest

from webapp.preflight import PreflightError, check

pytestmark = pytest.mark.unit

# Nothing listens on port 1 of the loopback.
DEAD_POSTGRES = "postgresql+psycopg://mailfleet:hunter2-secret@127.0.0.1:1/mailfleet"


def _refusal(env: dict[str, str]) -> str:
    with pytest.raises(PreflightError) as refused:
        check(env)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_a_missing_database_url_is_refused(tmp_path):
    assert _refusal({"MAILFLEET_DATA_DIR": str(tmp_path)}) == (
        "DATABASE_URL (or DATABASE_URL_FILE) is not set: the services need the production database"
    )


def test_a_secret_file_that_does_not_exist_is_refused(tmp_path):
    missing = tmp_path / "secrets" / "DATABASE_URL"
    env = {"MAILFLEET_DATA_DIR": str(tmp_path), "DATABASE_URL_FILE": str(missing)}
    assert _refusal(env) == f"DATABASE_URL_FILE={missing}: cannot read it (No such file or directory)"


def test_a_malformed_setting_is_refused(tmp_path):
    env = {"MAILFLEET_DATA_DIR": str(tmp_path), "MAILFLEET_TRUSTED_PROXIES": "one"}
    assert _refusal(env) == "MAILFLEET_TRUSTED_PROXIES='one' is not a whole number"


def test_a_database_that_does_not_answer_is_refused_without_its_password(tmp_path):
    url_file = tmp_path / "DATABASE_URL"
    url_file.write_text(DEAD_POSTGRES + "\n")
    message = _refusal({"MAILFLEET_DATA_DIR": str(tmp_path), "DATABASE_URL_FILE": str(url_file)})
    assert message.startswith("DATABASE_URL: the database does not answer (")
    assert "hunter2" not in message


def test_a_redis_that_does_not_answer_is_refused(tmp_path):
    env = {
        "MAILFLEET_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'mailfleet.db'}",
        "REDIS_URL": "redis://:hunter2-secret@127.0.0.1:1/0",
    }
    message = _refusal(env)
    assert message.startswith("REDIS_URL: Redis does not answer (")
    assert "hunter2" not in message
