# mailfleet's entry points. Every target installs what it needs first (scripts/setup.sh is fast
# when nothing changed) and is safe to run again.
VENV := .venv/bin
PYTEST_ARGS ?=
# Test files spread over this many pytest-xdist workers, each with its own testbed instance.
PYTEST_WORKERS ?= 3

.PHONY: setup demo down docs test test-unit lint bench clean-testbed

setup:
	bash scripts/setup.sh

## The stack on the local testbed: web, workers, one rq cron, Redis, database, doubles, an admin.
demo: setup docs
	$(VENV)/python -m testbed.demo up

## Stop everything `make demo` started (by recorded PID) and remove its interfaces.
down:
	@if [ -x $(VENV)/python ]; then $(VENV)/python -m testbed.demo down; fi

## The user guide (docs/, mkdocs.yml) into site/, which the app serves under /help/; strict:
## a warning (a broken link, a missing anchor, a page left out of the navigation) fails it.
docs: setup
	$(VENV)/mkdocs build --strict --clean

## The whole suite: unit, testbed and browser tiers (the guide is built first: a broken guide fails;
## and again after the suite, so that it shows the screenshots the browser journeys just took).
test: setup docs
	$(VENV)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	$(VENV)/mkdocs build --strict --clean

test-unit: setup
	$(VENV)/pytest -m unit $(PYTEST_ARGS)

## Ruff, mypy over the product code ([tool.mypy]), bandit, vulture (dead code; [tool.vulture] in
## pyproject.toml), ansible-lint, ansible-test sanity on
## the collection mailfleet.fleet (the tests that run here), the generated tables (settings, role
## variables) against their sources, and the import layers (tests/unit/test_layers.py).
lint: setup
	$(VENV)/ruff check mailfleet webapp jobs testbed collections tests bench
	$(VENV)/mypy
	$(VENV)/bandit -q -r mailfleet webapp jobs collections --severity-level medium
	$(VENV)/vulture
	$(VENV)/ansible-lint --profile production roles playbooks
	bash scripts/sanity.sh
	$(VENV)/python scripts/settings_table.py --check
	$(VENV)/python scripts/role_vars_table.py --check roles/*/
	$(VENV)/pytest -p no:cacheprovider -q tests/unit/test_layers.py

## Benchmarks: each prints its figure beside its goal or baseline.
bench: setup
	@for script in bench/*_bench.py; do echo "== $$script"; $(VENV)/python $$script || exit 1; done
