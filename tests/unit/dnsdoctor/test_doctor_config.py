"""What the DNS doctor job takes from the deployment: CAA must allow the CA of the ACME directory the
letsencrypt role uses (the site file's letsencrypt_directory, the role's default when unset)."""

from __future__ import annotations

import pytest

from jobs.dnsdoctor import doctor_config
from jobs.sitevars import SITE_VARS_ENV
from mailfleet.dnsdoctor import caa_identity
from webapp.testing import make_app

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("site", "ca"), [
    ("dns_provider: rfc2136\n", "letsencrypt.org"),  # the role's default: Let's Encrypt's staging
    ("letsencrypt_directory: letsencrypt\n", "letsencrypt.org"),
    ("letsencrypt_directory: pebble\n", None),  # Pebble checks no CAA: none is checked
])
def test_the_ca_caa_must_allow_is_the_one_of_the_site_acme_directory(tmp_path, monkeypatch, site, ca):
    monkeypatch.setenv("MAILFLEET_MONITORING_RESOLVER", "127.0.0.53")
    app = make_app(tmp_path)
    (tmp_path / "site.yml").write_text(site)
    app.config[SITE_VARS_ENV] = str(tmp_path / "site.yml")
    with app.app_context():
        assert doctor_config(app).acme_ca == ca


def test_an_unknown_acme_directory_is_refused_by_name():
    with pytest.raises(ValueError, match="'zerossl' is not one of letsencrypt, letsencrypt_staging, pebble"):
        caa_identity("zerossl")
