# Secrets from mailfleet's secrets store in playbooks (mailfleet.fleet.secret).
from __future__ import annotations

DOCUMENTATION = r"""
name: secret
author: mailfleet (!UNKNOWN)
version_added: "0.1.0"
short_description: Read a secret from mailfleet's secrets store (local encrypted file or Vault KV v2)
description:
  - Returns the secret stored at each path given, from whichever backend the controller is
    configured to use (C(MAILFLEET_SECRETS_BACKEND=local) or C(vault)), so switching backend is a
    change of environment, not of playbooks.
  - Runs on the controller and imports the installed C(mailfleet) package, like every mailfleet plugin.
  - Values are marked unsafe, so a secret containing C({{) is never templated.
  - Paths follow mailfleet's layout, for example C(tenants/<tenant>/mailu) with fields
    C(secret_key), C(api_token), C(admin_password); see C(mailfleet/secrets/README.md).
options:
  _terms:
    description: Secret paths, such as C(tenants/acme/mailu) or C(global/cloudflare).
    required: true
    type: list
    elements: str
  field:
    description:
      - Return only this field of each secret, as a string.
      - Without it each secret is returned whole, as a dictionary of field names to strings.
    type: str
  version:
    description: Read this version instead of the latest (versions are kept like Vault's KV v2).
    type: int
  generate:
    description:
      - When the path does not exist yet, create it first with this generator, then return it.
        Creation is check-and-set, so hosts or processes racing to create it all get the same value.
      - One of C(ssh_key), C(mailu), C(mailu_api_token), C(restic), C(acme_account), C(controller).
        An SSH key at C(tenants/<tenant>/...) gets the comment C(mailfleet-<tenant>).
    type: str
notes:
  - The backend is configured only through the controller's environment, the same variables the
    web app and the workers read. Local store - C(MAILFLEET_SECRETS_FILE), C(MAILFLEET_MASTER_KEY_FILE)
    or C(MAILFLEET_MASTER_KEY). Vault - C(VAULT_ADDR), C(VAULT_TOKEN)/C(VAULT_TOKEN_FILE) or
    C(VAULT_ROLE_ID)/C(VAULT_SECRET_ID) (each with a C(_FILE) variant), C(VAULT_NAMESPACE),
    C(VAULT_CACERT), C(MAILFLEET_VAULT_MOUNT) (default C(secret)), C(MAILFLEET_VAULT_PREFIX)
    (default C(mailfleet)).
  - In a run started by the control plane, that environment names credentials of the run's own,
    limited to its tenant's paths and the global secrets a run reads (see
    C(mailfleet/secrets/scope.py)); another tenant's path fails as not found or permission denied.
  - A missing path, Vault sealed or unreachable, a refused token or a tampered local store fail
    the task with a clear message; there is never a fallback to another store.
  - Use C(no_log=true) on tasks that show or pass on what this lookup returns.
  - Vault users may read the same secrets with M(community.hashi_vault.vault_kv2_get) or the
    P(community.hashi_vault.vault_kv2_get#lookup) lookup, with C(engine_mount_point=secret) and
    C(path=mailfleet/tenants/acme/mailu) (the prefix in front of mailfleet's path). This lookup
    stays the one that works with both backends.
seealso:
  - plugin: community.hashi_vault.vault_kv2_get
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Template mailu.env with the tenant's Mailu secrets
  ansible.builtin.template:
    src: mailu.env.j2
    dest: /srv/mailu/mailu.env
    mode: "0600"
  vars:
    mailu_secret: "{{ lookup('mailfleet.fleet.secret', 'tenants/' ~ tenant ~ '/mailu') }}"
  no_log: true

- name: One field, created on first use
  ansible.builtin.set_fact:
    backup_restic_password: >-
      {{ lookup('mailfleet.fleet.secret', 'tenants/acme/restic', field='password', generate='restic') }}
  no_log: true

- name: The previous SSH public key (version before the latest)
  ansible.builtin.debug:
    msg: "{{ lookup('mailfleet.fleet.secret', 'tenants/acme/ssh_key', field='public_key', version=1) }}"
"""

RETURN = r"""
_raw:
  description:
    - One item per path - the field's value (a string) when O(field) is given, else the whole
      secret as a dictionary of field names to strings. Values are marked unsafe.
  type: list
  elements: raw
"""


from ansible.errors import AnsibleLookupError  # noqa: E402
from ansible.plugins.lookup import LookupBase  # noqa: E402
from ansible.utils.unsafe_proxy import wrap_var  # noqa: E402

try:
    from mailfleet.secrets import SecretsError, get_store
    from mailfleet.secrets.tenant import generator_for_path
    from mailfleet.settings import SECRETS_STORE, Settings
except ImportError as exc:  # pragma: no cover - reported to the user below
    MAILFLEET_IMPORT_ERROR: ImportError | None = exc
else:
    MAILFLEET_IMPORT_ERROR = None

# One store per configuration for the life of this process (an Ansible worker runs one task on one
# host), so the lookups of a task share one connection and, with AppRole, one login.
_STORES: dict = {}


def _store():  # type: ignore[no-untyped-def]
    config = Settings().fingerprint(SECRETS_STORE)
    if config not in _STORES:
        _STORES[config] = get_store()
    return _STORES[config]


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):  # type: ignore[no-untyped-def]
        if MAILFLEET_IMPORT_ERROR is not None:
            raise AnsibleLookupError(
                "mailfleet.fleet.secret needs the mailfleet package in the controller's Python "
                f"(pip install -e .): {MAILFLEET_IMPORT_ERROR}"
            )
        self.set_options(var_options=variables, direct=kwargs)
        field = self.get_option("field")
        version = self.get_option("version")
        generate = self.get_option("generate")
        try:
            store = _store()
            results = []
            for path in terms:
                if generate:
                    store.create_if_missing(path, generator_for_path(generate, path))
                if field:
                    results.append(store.get_field(path, field, version=version))
                else:
                    results.append(store.get(path, version=version))
        except SecretsError as exc:
            # mailfleet's messages name the path and the cause, never a value
            raise AnsibleLookupError(f"mailfleet.fleet.secret: {exc}") from None
        return [wrap_var(value) for value in results]
