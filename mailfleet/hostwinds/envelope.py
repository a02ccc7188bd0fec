"""Turn every Hostwinds response envelope into data or a typed exception.

Envelopes (as the Hostwinds API answers): `{"success": <data>}` for reads and boolean checks,
a bare list for get_instances on some accounts, `[{"result": "success", ...}]` for mutations and
`[{"result": "error", ...}]` (or the bare dict) for errors. The body must already be redacted.
"""

from __future__ import annotations

from typing import Any

from mailfleet.hostwinds import contract as c
from mailfleet.hostwinds.errors import (
    ApiError,
    ContractError,
    HostwindsError,
    InvalidServiceIdError,
    NotAuthorizedError,
    UnknownActionError,
    UpgradeInProgressError,
)


def _norm(message: str) -> str:
    return message.strip().rstrip(".!").strip().lower()


def _is(message: str, expected: str) -> bool:
    return _norm(message) == _norm(expected)


def not_authorized_error(action: str, api_message: str = c.MSG_NOT_AUTHORIZED) -> NotAuthorizedError:
    return NotAuthorizedError(
        f"Hostwinds answered {api_message!r} to {action!r}. Either the API key is wrong (compare "
        "HOSTWINDS_API_KEY / the secret global/hostwinds with Hostwinds portal > Cloud > API), or "
        "this machine's public IPv4 address is not on the key's allow-list (add it in the portal; "
        "mailfleet always connects over IPv4, so the IPv4 address is the one that counts). If the "
        "same key works from another machine, it is the address.",
        action=action, api_message=api_message,
    )


def error_from_entry(action: str, entry: dict[str, Any], params: dict[str, Any]) -> HostwindsError:
    """Map one error entry to the exception a user can act on."""
    message = str(entry.get("message", "")).strip() or "(no message)"
    code = entry.get(c.ERROR_CODE_KEY)
    code = None if code is None else str(code)
    entry_action = str(entry.get("action", ""))
    # "Not Authorized!" with or without more words after it: always the key or its allow-list.
    if _norm(c.MSG_NOT_AUTHORIZED) in message.lower() or _norm(entry_action) == _norm(c.ACTION_AUTHORIZATION):
        return not_authorized_error(action, message)
    if _is(message, c.MSG_INVALID_ACTION) or code == c.CODE_INVALID_ACTION:
        return UnknownActionError(
            f"Hostwinds does not know the action {action!r} ({message}, code {code}). The API may have "
            "changed: check the assumptions in mailfleet/hostwinds/contract.py.",
            action=action, api_message=message, code=code,
        )
    if _is(message, c.MSG_INVALID_SERVICEID):
        sid = params.get(c.PARAM_SERVICEID)
        return InvalidServiceIdError(
            f"Hostwinds has no instance with serviceid {sid!r} on this account ({action}: {message}). "
            "List the instances (ansible-inventory or hostwinds_instance_info) to find the right id; "
            "a terminated instance's id is no longer valid.",
            action=action, api_message=message, code=code,
        )
    if c.MSG_UPGRADE_PENDING_FRAGMENT in message.lower():
        return UpgradeInProgressError(
            f"Hostwinds refused {action!r}: {message}. Only one upgrade order can be open at a time: "
            "confirm or revert the open one (or wait for it to finish), then run again.",
            action=action, api_message=message, code=code,
        )
    suffix = f" (code {code})" if code else ""
    return ApiError(f"Hostwinds refused {action!r}: {message}{suffix}.", action=action,
                    api_message=message, code=code)


def _is_result_entry(item: object) -> bool:
    return isinstance(item, dict) and c.RESULT_KEY in item


def parse(action: str, body: Any, params: dict[str, Any] | None = None) -> Any:
    """Return the data of a redacted response body, or raise the matching HostwindsError.

    Reads give their `success` payload (object, list or bool); mutations give a dict with
    `result`, `action` and `message`; a bare list (get_instances on some accounts) is the data.
    """
    params = params or {}
    if isinstance(body, dict):
        if c.SUCCESS_KEY in body and c.RESULT_KEY not in body:
            return body[c.SUCCESS_KEY]
        if c.RESULT_KEY in body:
            return _parse_results(action, [body], params)
    elif isinstance(body, list):
        if body and all(_is_result_entry(item) for item in body):
            return _parse_results(action, body, params)
        if not any(_is_result_entry(item) for item in body):
            return body
    raise ContractError(
        f"Hostwinds answered {action!r} in a shape mailfleet does not know ({type(body).__name__} "
        f"with {_describe(body)}). Check mailfleet/hostwinds/contract.py against the API.",
        action=action,
    )


def _describe(body: Any) -> str:
    if isinstance(body, dict):
        return "keys " + ", ".join(sorted(map(str, body))[:8])
    if isinstance(body, list):
        return f"{len(body)} items"
    return "a scalar"


def _parse_results(action: str, entries: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    for entry in entries:
        if str(entry.get(c.RESULT_KEY, "")).lower() != c.RESULT_OK:
            raise error_from_entry(action, entry, params)
    first = entries[0]
    return {
        "result": c.RESULT_OK,
        "action": str(first.get("action", "")),
        "message": str(first.get("message", "")),
    }
