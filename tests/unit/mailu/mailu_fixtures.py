"""Constants shared by the Mailu unit tests (the double's test server)."""

from __future__ import annotations

MAIL_HOST = "mail.acme.test"
TOKEN = "t0ken-for-tests-0123456789abcdef"
ADMIN_PW = "initial-Admin-pw-42"
