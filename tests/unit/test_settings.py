"""The declared settings: one rule for secrets and their `_FILE`, typed values with clear errors, the
README's table generated from the declarations, and nobody else reading the environment."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

from mailfleet.monitoring import notification_router
from mailfleet.secrets import SecretsConfigError, get_store
from mailfleet.settings import SETTINGS, Settings, SettingsError, setting
from webapp.config import load_config
from webapp.errors import ConfigError

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
# The only product modules that may touch os.environ besides mailfleet/settings.py: the bridge hands
# the worker's environment, allow-listed, to ansible-playbook, and the control plane's backup hands it
# to pg_dump/pg_restore with the libpq connection added; neither reads a setting from it.
PASSES_ENVIRONMENT_ON = {"jobs/bridge.py", "webapp/services/control_backup.py"}


def _load_table_script():  # scripts/ is not a package; its scripts import each other
    sys.path.insert(0, str(REPO / "scripts"))
    spec = importlib.util.spec_from_file_location("settings_table", REPO / "scripts" / "settings_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_secret_value_wins_over_its_file_and_the_file_fills_in_when_unset(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("from-the-file\n")
    assert Settings({"REDIS_URL": "redis://env", "REDIS_URL_FILE": str(key_file)})["REDIS_URL"] == "redis://env"
    assert Settings({"REDIS_URL_FILE": str(key_file)})["REDIS_URL"] == "from-the-file"
    assert Settings({"REDIS_URL": "", "REDIS_URL_FILE": str(key_file)})["REDIS_URL"] == "from-the-file"


def test_the_same_rule_holds_in_the_app_the_monitoring_and_the_secrets_store(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-the-file-, long enough")
    env = {"MAILFLEET_DATA_DIR": str(tmp_path), "MAILFLEET_SECRET_KEY": "from-env",
           "MAILFLEET_SECRET_KEY_FILE": str(secret_file)}
    assert load_config(env)["SECRET_KEY"] == "from-env"
    router = notification_router({"MAILFLEET_ALERT_WEBHOOK_URL": "https://hooks.invalid/a",
                                  "MAILFLEET_ALERT_WEBHOOK_SECRET": "from-env, long enough",
                                  "MAILFLEET_ALERT_WEBHOOK_SECRET_FILE": str(secret_file)})
    assert router.primary[0].secret == b"from-env, long enough"


def test_only_secrets_take_a_file():
    assert Settings({"MAILFLEET_QUEUE_FILE": "/etc/passwd"})["MAILFLEET_QUEUE"] == "mailfleet"
    # The master key's _FILE is a setting of its own (a key file created on first use).
    assert Settings({"MAILFLEET_MASTER_KEY_FILE": "/etc/hostname"})["MAILFLEET_MASTER_KEY"] is None


def test_an_unreadable_secret_file_names_the_variable(tmp_path):
    with pytest.raises(SettingsError, match=r"VAULT_TOKEN_FILE=.*nope: cannot read it"):
        Settings({"VAULT_TOKEN_FILE": str(tmp_path / "nope")})["VAULT_TOKEN"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MAILFLEET_RUN_TIMEOUT": "soon"}, "MAILFLEET_RUN_TIMEOUT='soon' is not a whole number"),
        ({"MAILFLEET_RUN_TIMEOUT": "3"}, "MAILFLEET_RUN_TIMEOUT=3 must be at least 10"),
        ({"MAILFLEET_MAILU_VERIFY": "maybe"}, "MAILFLEET_MAILU_VERIFY='maybe' is not a boolean"),
    ],
)
def test_a_malformed_value_is_refused_in_the_callers_terms(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"MAILFLEET_DATA_DIR": str(tmp_path), **env})


def test_the_secrets_store_reports_its_settings_as_its_own_errors():
    with pytest.raises(SecretsConfigError, match="MAILFLEET_VAULT_TIMEOUT='slow' is not a number"):
        get_store({"MAILFLEET_SECRETS_BACKEND": "vault", "VAULT_ADDR": "https://vault.invalid",
                   "VAULT_TOKEN": "t", "MAILFLEET_VAULT_TIMEOUT": "slow"})


def test_typed_values_and_defaults():
    settings = Settings({"MAILFLEET_ALERT_TO": " a@x.test, b@x.test ,", "MAILFLEET_INSECURE_COOKIES": "yes",
                         "MAILFLEET_HEALTH_FACTS_DIR": "/srv/facts", "MAILFLEET_VAULT_PREFIX": ""})
    assert settings["MAILFLEET_ALERT_TO"] == ("a@x.test", "b@x.test")
    assert settings["MAILFLEET_INSECURE_COOKIES"] is True
    assert settings["MAILFLEET_HEALTH_FACTS_DIR"] == Path("/srv/facts")
    assert settings["MAILFLEET_VAULT_PREFIX"] == ""  # empty means the mount's root, not the default
    assert Settings({})["MAILFLEET_VAULT_PREFIX"] == "mailfleet"
    assert Settings({})["MAILFLEET_ALERT_SMTP_PORT"] == 25


def test_an_undeclared_variable_cannot_be_read():
    with pytest.raises(KeyError):
        Settings({"MAILFLEET_SOMETHING_NEW": "1"})["MAILFLEET_SOMETHING_NEW"]


def test_every_declaration_parses_its_own_default_type():
    for declared in SETTINGS:
        assert declared is setting(declared.name)
        if declared.default not in (None, ()) and declared.type in ("int", "float", "bool"):
            assert declared.parse(str(declared.default).lower()) == declared.default, declared.name


def test_the_readme_table_is_generated_from_the_declarations():
    script = _load_table_script()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert script.render_readme(readme, script.settings_table(), script.BEGIN, script.END) == readme, (
        "README.md's settings table is stale: run python scripts/settings_table.py"
    )
    for declared in SETTINGS:
        assert f"`{declared.name}`" in readme


def _reads_environment(source: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "os" and any(
            alias.name in ("environ", "getenv") for alias in node.names
        ):
            return True
    return False


def test_nothing_but_the_settings_module_reads_the_environment():
    offenders = []
    for package in ("mailfleet", "webapp", "jobs", "collections"):
        for path in sorted((REPO / package).rglob("*.py")):
            name = str(path.relative_to(REPO))
            if name in {"mailfleet/settings.py", *PASSES_ENVIRONMENT_ON}:
                continue
            if _reads_environment(path.read_text(encoding="utf-8")):
                offenders.append(name)
    assert offenders == []
