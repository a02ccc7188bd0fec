"""What every mailfleet.fleet module has in common: where it runs, check mode, how it fails."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Returns details on what has changed (or would change in check_mode) in diff mode.
    support: partial
    details: Modules that update fields of an existing object show those fields.
notes:
  - "Runs on the controller, where the mailfleet package is installed: use C(delegate_to: localhost)
    and set C(ansible_python_interpreter) to C({{ ansible_playbook_python }})."
  - "A failure returns C(msg), C(error) (the kind, for example C(MailuAuthError) or C(ValidationError))
    and C(status) (the HTTP status of the answer, null when there was none). Invalid input changes nothing."
requirements:
  - mailfleet (this repository, installed with pip -e)
"""
