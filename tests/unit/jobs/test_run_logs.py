"""MAILFLEET_LOG_FORMAT=json: one JSON object a line, with the run id and tenant on every line
logged while a run is worked on (by any logger), and none on the others."""

from __future__ import annotations

import json
import logging

import pytest

from mailfleet import logs
from webapp.models import RunStatus
from webapp.services import runs

pytestmark = pytest.mark.unit


@pytest.fixture
def configure():
    """logs.configure for one test: the handler and the root level are put back afterwards."""
    root = logging.getLogger()
    level = root.level
    yield logs.configure
    for handler in [h for h in root.handlers if h.get_name() == "mailfleet"]:
        root.removeHandler(handler)
    root.setLevel(level)




def test_every_line_of_a_run_carries_its_id_and_tenant(scope, acme, work, monkeypatch, configure, capsys):
    import jobs.execute

    configure("json")  # here, not in a fixture: the handler writes to the stderr of the test's call

    def logging_run(run):
        logging.getLogger("jobs.bridge").warning("ansible started")
        logging.getLogger("mailfleet.secrets").info("secret read")
        return RunStatus.SUCCESSFUL, 0, None

    monkeypatch.setattr(jobs.execute, "_execute", logging_run)
    run = runs.submit_run(scope, acme, "site")
    logging.getLogger("jobs.worker").warning("before the run")
    work()
    err = capsys.readouterr().err.splitlines()
    lines = {line["message"]: line for line in map(json.loads, err)}
    for message, logger in (("ansible started", "jobs.bridge"), ("secret read", "mailfleet.secrets")):
        assert lines[message]["run_id"] == run.id and lines[message]["tenant"] == "acme"
        assert lines[message]["logger"] == logger and lines[message]["time"].endswith("+00:00")
    assert lines["before the run"]["run_id"] is None and lines["before the run"]["tenant"] is None


def test_text_lines_show_the_run_too(configure, capsys):
    configure("text")
    with logs.run_context(42, "globex"):
        logging.getLogger("jobs.bridge").warning("killed 2 leftover processes")
    assert "jobs.bridge [run 42 tenant globex]: killed 2 leftover processes" in capsys.readouterr().err


def test_an_unknown_format_is_refused(tmp_path):
    from webapp.config import load_config
    from webapp.errors import ConfigError

    with pytest.raises(ConfigError, match="MAILFLEET_LOG_FORMAT='xml' must be text or json"):
        load_config({"MAILFLEET_DATA_DIR": str(tmp_path), "MAILFLEET_LOG_FORMAT": "xml"})
