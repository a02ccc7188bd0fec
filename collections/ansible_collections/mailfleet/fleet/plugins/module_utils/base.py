"""The one base of every mailfleet.fleet module: how it is built, how it fails, how it diffs.

Every module runs on the controller in mailfleet's Python (``delegate_to: localhost`` with
``ansible_python_interpreter: "{{ ansible_playbook_python }}"``), so this imports the installed
mailfleet package, where the clients and the provider logic live.

- Built one way: ``run_module(argument_spec, run)``; check mode is always supported and ``run``
  honours ``module.check_mode`` by planning without calling anything that changes state.
- Fails one way: ``msg``, ``error`` (the kind, the exception's class name, e.g. ``MailuAuthError``)
  and ``status`` (the HTTP status of the answer, None where there was none); bad input says that
  nothing was changed.
- Diffs one way: ``changed_fields`` picks what differs, ``diff`` shows it (secrets left out).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from mailfleet.validation import ValidationError


class ModuleFailure(Exception):
    """A failure that carries result data besides its cause (what was done before it, a report)."""

    def __init__(self, cause: Exception, msg: str | None = None, **result: Any) -> None:
        super().__init__(msg or str(cause))
        self.cause = cause
        self.msg = msg
        self.result = result


def is_mailfleet_error(exc: Exception) -> bool:
    """Raised on purpose by mailfleet (a provider's answer, bad input): its message is for the user.

    Judged by where the class is defined, so a module never imports a family it does not use (the
    Cloudflare SDK alone takes seconds to import).
    """
    return type(exc).__module__.partition(".")[0] == "mailfleet"


def failure(exc: Exception, msg: str | None = None) -> dict[str, Any]:
    """The failure keys every module returns: msg, error (kind) and status (HTTP or None)."""
    text = msg or str(exc)
    if isinstance(exc, ValidationError):
        text = f"Invalid input: {text}. Nothing was changed."
    return {"msg": text, "error": type(exc).__name__, "status": getattr(exc, "status", None)}


def run_module(
    argument_spec: dict[str, Any], run: Callable[[AnsibleModule], dict[str, Any]], **module_args: Any
) -> None:
    """Build the module (check mode supported), exit with what ``run`` returns, or fail cleanly."""
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **module_args)
    try:
        result = run(module)
    except ModuleFailure as exc:
        module.fail_json(**exc.result, **failure(exc.cause, exc.msg))
    except Exception as exc:
        if not is_mailfleet_error(exc):
            raise  # a bug: Ansible shows the traceback
        module.fail_json(**failure(exc))
    module.exit_json(**result)


def changed_fields(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The wanted values (None = not managed) that differ from ``current``; lists compare as sets."""
    changes = {}
    for key, value in wanted.items():
        if value is None:
            continue
        have = current.get(key)
        if isinstance(value, list | tuple) and isinstance(have, list | tuple):
            if sorted(map(str, value)) == sorted(map(str, have)):
                continue
        elif have == value:
            continue
        changes[key] = list(value) if isinstance(value, tuple) else value
    return changes


def diff(
    current: Mapping[str, Any], changes: Mapping[str, Any], hidden: Iterable[str] = ()
) -> dict[str, Any]:
    """Ansible's diff of ``changes`` against ``current``; ``hidden`` keys (secrets) are left out."""
    shown = sorted(set(changes) - set(hidden))
    return {"before": {k: current.get(k) for k in shown}, "after": {k: changes[k] for k in shown}}


def ensure_present(
    module: AnsibleModule,
    key: str,
    current: Mapping[str, Any] | None,
    *,
    create: Callable[[], Any],
    changes: Mapping[str, Any],
    update: Callable[[Mapping[str, Any]], Any],
    get: Callable[[], Mapping[str, Any]],
    hidden: Iterable[str] = (),
) -> dict[str, Any]:
    """state=present: create what is missing, else apply ``changes`` (nothing but the plan in check
    mode). The result has changed, the diff of an update, and under ``key`` the object afterwards
    (left out when it is only planned)."""
    if current is None:
        if module.check_mode:
            return {"changed": True}
        create()
        return {"changed": True, key: get()}
    if not changes:
        return {"changed": False, key: current}
    result = {"changed": True, "diff": diff(current, changes, hidden)}
    if not module.check_mode:
        update(changes)
        current = get()
    return {**result, key: current}


def ensure_absent(
    current: Mapping[str, Any] | None, delete: Callable[[], Any], check_mode: bool
) -> dict[str, Any]:
    """state=absent: delete what exists (not in check mode) and say whether anything changed."""
    if current is not None and not check_mode:
        delete()
    return {"changed": current is not None}
