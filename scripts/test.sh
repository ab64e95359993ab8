#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian machine and runs it.
# Used by the README's test command and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
# A real Alertmanager and blackbox exporter: receiver integration tests and the latency bench.
command -v prometheus-alertmanager >/dev/null || need_apt+=(prometheus-alertmanager)
command -v redis-server >/dev/null || need_apt+=(redis-server)
# A real headless browser for the console pages (tests/web/test_console_browser.py).
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
# Page images of the stakeholder report's PDF (tests/report/test_report_cli.py).
command -v pdftoppm >/dev/null || need_apt+=(poppler-utils)
# The real PHP interpreter: tests/moodle/test_php_differential.py checks the config.php reader against it.
command -v php >/dev/null || need_apt+=(php-cli)
# npm fetches axe-core for the accessibility probe's tests (tests/a11y/).
command -v npm >/dev/null || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# axe-core from the npm registry into a cache git ignores (checks/a11y/spec.py looks there).
[ -f .cache/axe-core/node_modules/axe-core/axe.min.js ] || \
  npm install --silent --no-audit --no-fund --prefix .cache/axe-core axe-core@4 >/dev/null

# PostgreSQL, MariaDB and Redis on loopback (this machine kind starts them; a fresh
# Debian machine does not).
bash scripts/test_services.sh

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
# Static checks first: layer contracts (pyproject.toml [tool.importlinter]; the
# architecture test runs them too), ruff, and mypy (strict on the kernel).
.venv/bin/lint-imports >/dev/null || { .venv/bin/lint-imports; exit 1; }
.venv/bin/ruff check -q monitor checks alerts grafana scripts bench tests
.venv/bin/mypy --no-error-summary monitor checks alerts
.venv/bin/mypy --no-error-summary --strict monitor/kernel
exec .venv/bin/python -m pytest "$@"
