"""The alert channels the settings name: e-mail through an SMTP relay and signed webhooks, each
for alerts (primary) and escalations.

The webhook secret is MAILFLEET_ALERT_WEBHOOK_SECRET(_FILE), else the field ``webhook_secret`` of
``global/monitoring`` in the secrets store (read only when a webhook is configured).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from mailfleet.secrets import SecretsError, SecretStore
from mailfleet.settings import Settings

from .errors import MonitoringConfigError
from .notify import EmailNotifier, NotificationRouter, WebhookNotifier

log = logging.getLogger(__name__)

WEBHOOK_SECRET_PATH = "global/monitoring"  # noqa: S105 - a store path (field webhook_secret), not a secret
_HOOKS = (
    ("MAILFLEET_ALERT_WEBHOOK_URL", "primary", "webhook"),
    ("MAILFLEET_ALERT_ESCALATION_WEBHOOK_URL", "escalation", "webhook-escalation"),
)


def notification_router(
    env: Mapping[str, str] | None = None, secrets: Callable[[], SecretStore] | None = None
) -> NotificationRouter:
    """The configured channels; ``secrets`` gives the store to read the webhook secret from."""
    settings = Settings(env, error=MonitoringConfigError)
    channels: dict[str, list[Any]] = {"primary": [], "escalation": []}
    host, sender = settings["MAILFLEET_ALERT_SMTP_HOST"], settings["MAILFLEET_ALERT_FROM"]
    port = settings["MAILFLEET_ALERT_SMTP_PORT"]
    if host and sender and settings["MAILFLEET_ALERT_TO"]:
        channels["primary"].append(EmailNotifier(host, sender, settings["MAILFLEET_ALERT_TO"], port=port))
    if host and sender and settings["MAILFLEET_ALERT_ESCALATION_TO"]:
        channels["escalation"].append(
            EmailNotifier(host, sender, settings["MAILFLEET_ALERT_ESCALATION_TO"], port=port,
                          name="email-escalation")
        )
    hooks = [(settings[key], key, channel, name) for key, channel, name in _HOOKS if settings[key]]
    secret = settings["MAILFLEET_ALERT_WEBHOOK_SECRET"]
    if hooks and not secret and secrets is not None:
        secret = _stored_webhook_secret(secrets)
    for url, key, channel, name in hooks:
        if not secret:
            raise MonitoringConfigError(
                f"{key} needs MAILFLEET_ALERT_WEBHOOK_SECRET(_FILE) or {WEBHOOK_SECRET_PATH} "
                "webhook_secret in the secrets store"
            )
        channels[channel].append(WebhookNotifier(url, secret.encode(), name=name))
    return NotificationRouter(tuple(channels["primary"]), tuple(channels["escalation"]))


def _stored_webhook_secret(secrets: Callable[[], SecretStore]) -> str | None:
    try:
        return secrets().get_field(WEBHOOK_SECRET_PATH, "webhook_secret") or None
    except SecretsError as exc:
        log.warning("no webhook secret in the secrets store: %s", type(exc).__name__)
        return None
