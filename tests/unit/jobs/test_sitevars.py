"""Site variables and the mapping of the control plane's words to the roles' variables: what a
run's inventory gives each server, and site files the worker refuses (the run fails, says why)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from jobs.sitevars import SITE_VARS_ENV, SiteVarsError, load_site_vars, run_group_vars
from webapp.extensions import db
from webapp.models import RunEvent, RunStatus, Server, ServerStatus
from webapp.services import fleet

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
LOOKUP = "{{ lookup('mailfleet.fleet.secret', 'global/dns_tsig', field='secret') }}"
SITE = f"""
dns_provider: rfc2136
dns_rfc2136_key_secret: "{LOOKUP}"
mailu_api_url: "http://127.77.20.6:8083/{{{{ mailu_hostnames | first }}}}/api/v1"
"""


@pytest.fixture
def playbook_flavour() -> str:
    return "sitevars"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site-vars.yml"
    path.write_text(text)
    return path


def test_site_file_is_copied_after_the_mapping(tmp_path):
    files = run_group_vars(REPO, {SITE_VARS_ENV: str(write(tmp_path, SITE))})
    assert list(files) == ["10-mailfleet.yml", "20-site.yml"]
    assert files["20-site.yml"] == SITE
    assert run_group_vars(REPO, {}).keys() == {"10-mailfleet.yml"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dns_rfc2136_key_secret: c2VjcmV0\n", "looks secret; put the value in the secrets store"),
        ("mailu_api_token: abc\n", "mailu_api_token looks secret"),
        ("mailfleet_tenant: other\n", "mailfleet_tenant is set by the control plane per run"),
        ("ansible_host: 10.0.0.1\n", "ansible_host is set by the control plane per run"),
        ("- a\n- b\n", "must be a mapping"),
        ("Bad-Name: 1\n", "is not a variable name"),
        ("a: [\n", "not valid YAML"),
        # Backup storage per region: checked before any run starts.
        ("mailfleet_backup_regions: {mars: {type: sftp, host: b.example}}\n", "unknown region 'mars'"),
        ("mailfleet_backup_regions: {eu: {type: s3, endpoint: e, bucket: b}}\n",
         "mailfleet_backup_regions.eu: s3 storage without credentials access_key_id, secret_access_key"),
    ],
)
def test_bad_site_files_are_refused(tmp_path, text, message):
    with pytest.raises(SiteVarsError, match=re.escape(message)):
        load_site_vars(write(tmp_path, text))


def test_missing_site_file_is_a_clear_error(tmp_path):
    with pytest.raises(SiteVarsError, match="cannot read it"):
        run_group_vars(REPO, {SITE_VARS_ENV: str(tmp_path / "nope.yml")})


def _server(acme) -> Server:
    server = Server(
        tenant_id=acme.id,
        name="mf-acme-1",
        public_ipv4="198.18.20.10",
        status=ServerStatus.ACTIVE,
        mail_hostname="mail.acme.test",
    )
    db.session.add(server)
    db.session.commit()
    return server


def test_add_a_domain_reaches_the_roles_variables(scope, acme, work, tmp_path, monkeypatch):
    monkeypatch.setenv(SITE_VARS_ENV, str(write(tmp_path, SITE)))
    server = _server(acme)
    fleet.add_domain(scope, acme, server.id, "shop.test")
    run = fleet.add_domain(scope, acme, server.id, "Acme.Test")
    # The server's domains reach the roles from the run's inventory (jobs.inventory), not extra variables.
    assert run.extravars == {} and run.limit == "mf-acme-1"
    work()
    assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
    stdout = "\n".join(db.session.execute(select(RunEvent.stdout).where(RunEvent.run_id == run.id)).scalars())
    found = re.search(r"mapped=(\{.*?\})'", stdout, re.S)
    assert found, stdout
    mapped = json.loads(" ".join(found.group(1).split()))
    assert mapped == {
        "mailu_tenant": "acme",
        "backup_tenant": "acme",
        "letsencrypt_tenant": "acme",
        "mailu_domain": "acme.test",
        "mailu_hostnames": ["mail.acme.test"],
        "mailu_domains": [{"name": "acme.test"}, {"name": "shop.test"}],
        "dns_mail_host": "mail.acme.test",
        "mailu_api_url": "http://127.77.20.6:8083/mail.acme.test/api/v1",
        "dns_provider": "rfc2136",
    }


def test_a_run_with_a_bad_site_file_fails_and_says_why(scope, acme, work, tmp_path, monkeypatch):
    monkeypatch.setenv(SITE_VARS_ENV, str(write(tmp_path, "dns_rfc2136_key_secret: c2VjcmV0\n")))
    run = fleet.add_domain(scope, acme, _server(acme).id, "acme.test")
    work()
    assert run.status == RunStatus.FAILED
    assert "dns_rfc2136_key_secret looks secret" in run.failure_reason
    assert run.event_count == 0 and "c2VjcmV0" not in run.failure_reason
