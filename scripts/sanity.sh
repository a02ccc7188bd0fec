#!/usr/bin/env bash
# `ansible-test sanity` on the collection mailfleet.fleet: the tests that run on this machine (no
# docker, no PowerShell). ansible-test needs the collection at ansible_collections/<ns>/<name>
# inside a git tree, so it runs from the collection's folder.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$repo/.venv/bin

# ansible-test installs pip into each of its virtual environments with a bootstrap script it
# downloads from ci-files.testing.ansible.com. Where that host cannot be reached, a stand-in
# script does the same from the pip wheel of the same version, fetched from the package index.
pip_version=$("$venv/python" -c \
  "from ansible_test._internal.python_requirements import get_venv_packages as g; print(g(None)['pip'])" \
  2>/dev/null || echo 24.2)
cache=$HOME/.ansible/test/cache
bootstrap=$cache/get_pip_${pip_version//./_}.py
if [ ! -f "$bootstrap" ] && ! curl -fsS -o /dev/null --max-time 10 https://ci-files.testing.ansible.com/ 2>/dev/null; then
  mkdir -p "$cache/pip-wheel"
  "$venv/pip" download -q --no-deps -d "$cache/pip-wheel" "pip==$pip_version"
  cat > "$bootstrap" <<PY
# Stand-in for get-pip.py ($pip_version): runs pip from its wheel to install pip itself.
import glob, sys
wheel = glob.glob("$cache/pip-wheel/pip-$pip_version-*.whl")[0]
sys.path.insert(0, wheel)
from pip._internal.cli.main import main
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--upgrade", "--force-reinstall", "--find-links", "$cache/pip-wheel", *args]))
PY
fi

cd "$repo/collections/ansible_collections/mailfleet/fleet"
# The plugins run on the controller with the mailfleet package (and its dependencies) importable;
# validate-modules imports each module to compare its argument spec with its documentation, so
# its virtual environment gets this environment's packages too, after its own.
"$venv/ansible-test" sanity --prime-venvs --python 3.11 --color no --test validate-modules >/dev/null
for site in "$HOME"/.ansible/test/venv/sanity.validate-modules/3.11/*/lib/python3.11/site-packages; do
  echo "import site; site.addsitedir('$repo/.venv/lib/python3.11/site-packages')" > "$site/mailfleet-controller.pth"
done
# Skipped: pslint (PowerShell), shellcheck (not installed), changelog (no changelog fragments), and
# import, which imports each plugin with nothing but ansible-core: every plugin here needs the
# controller's mailfleet package by design (validate-modules imports them with it).
exec "$venv/ansible-test" sanity --python 3.11 --color no \
  --skip-test pslint --skip-test shellcheck --skip-test changelog --skip-test import "$@"
