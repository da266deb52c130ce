#!/usr/bin/env bash
# Everything the test suite needs on a fresh machine: the project itself (editable), the pinned packages, the test
# packages and a headless Chromium for tests/test_browser.py. Safe to rerun: what is there already is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install -q -r requirements.txt -r requirements-test.txt -e .

# A system Chromium ($CHROMIUM, chromium, chromium-browser or google-chrome) is used as it is. Otherwise Debian's
# `chromium` package where apt-get can install it (as root), else Playwright's own build (into ~/.cache/ms-playwright).
has_chromium() {
    python -c "import sys; from dashboard.browser import system_chromium; sys.exit(system_chromium() is None)"
}
install_debian_chromium() {
    command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] || return 1
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends chromium
}
if ! has_chromium && ! install_debian_chromium; then
    echo "no system Chromium and apt-get cannot install one here: installing Playwright's Chromium" >&2
    python -m playwright install chromium
fi
