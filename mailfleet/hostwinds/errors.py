"""Exceptions raised by the Hostwinds client. Every message says what the user should do next.

No exception carries the API key, a password or a configkey: the client builds messages from
redacted data only.
"""

from __future__ import annotations

from mailfleet.providers.base import ProviderError


class HostwindsError(ProviderError):
    """Base class. `action` is the API action involved (if any), `api_message` the API's words."""

    def __init__(self, message: str, *, action: str | None = None, api_message: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.action = action
        self.api_message = api_message
        self.code = code


class ConfigurationError(HostwindsError):
    """The client was set up wrongly (empty key, bad URL); nothing was sent."""


class NotAuthorizedError(HostwindsError):
    """`Not Authorized!`: the key is wrong, or this machine's IPv4 address is not allowed for it.

    The API gives the same answer for both; the message tells the user how to tell them apart.
    """


class InvalidServiceIdError(HostwindsError):
    """`A valid serviceid is required.`: no instance with that id on this account."""


class UnknownActionError(HostwindsError):
    """`Invalid Action.`: the API does not know the action (the contract may be out of date)."""


class ApiError(HostwindsError):
    """Any other error envelope from the API."""


class UpgradeInProgressError(ApiError):
    """An upgrade order is already open for the instance (only one at a time)."""


class CooldownError(HostwindsError):
    """A main IP change was reported as done but the IP did not change (silent cooldown)."""


class TransportError(HostwindsError):
    """No usable answer after the allowed attempts (timeouts, 5xx, HTML or other non-JSON bodies)."""


class AmbiguousResultError(HostwindsError):
    """A call that must not be repeated lost its answer; it may or may not have taken effect."""


class ContractError(HostwindsError):
    """The API answered in a shape mailfleet does not know (see mailfleet/hostwinds/contract.py)."""


class InstanceNotFoundError(HostwindsError):
    """No instance with the given srvrname (or id) exists."""


class InstanceExistsError(HostwindsError):
    """An instance with that srvrname exists already; creating another would make two servers."""


class TimeoutWaitingError(HostwindsError):
    """An instance did not reach the wanted state in time."""
