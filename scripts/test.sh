#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run it.
# Used by the README's test command and by .ci/run.  Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- system packages: Chromium for display-page tests, Xvfb + xcb libs for Qt, PostgreSQL for sync tests
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v Xvfb >/dev/null || need+=(xvfb)
dpkg -s libxcb-icccm4 >/dev/null 2>&1 || need+=(libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libegl1)
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing system packages: ${need[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- PostgreSQL on 127.0.0.1:5432 (started if installed but not running)
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    echo "== starting PostgreSQL"
    ver="$(ls /etc/postgresql | sort -V | tail -1)"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

# --- Python packages (the packaging extra brings PyInstaller for tests/test_packaging.py)
echo "== installing race-control with test and packaging extras"
python3 -m pip install -q --disable-pip-version-check -e '.[test,packaging]' 2>&1 | grep -v "Running pip as the 'root' user" || true

# --- the PyInstaller bundle for tests/test_packaging.py (~3 minutes of one core, with QtWebEngine)
# builds in the background from here on, beside the static checks and the suite, instead of at
# the end of some worker's share; that test waits for it (RACE_CONTROL_PACKAGING_BUILD names the
# file the build's exit code lands in)
export RACE_CONTROL_PACKAGING_TEST="${RACE_CONTROL_PACKAGING_TEST:-1}"
export RACE_CONTROL_PACKAGING_REBUILD="${RACE_CONTROL_PACKAGING_REBUILD:-1}"
build_pid=""
if [ "$RACE_CONTROL_PACKAGING_TEST" = 1 ] && [ "$RACE_CONTROL_PACKAGING_REBUILD" = 1 ]; then
    mkdir -p packaging/dist
    export RACE_CONTROL_PACKAGING_BUILD="$PWD/packaging/dist/build-status"
    rm -f "$RACE_CONTROL_PACKAGING_BUILD" packaging/dist/build.log
    # its own process group (setsid), so that leaving early (a failed check, a -k run) stops it all
    setsid bash -c 'bash packaging/build.sh >packaging/dist/build.log 2>&1; echo $? >"$0.tmp" && mv "$0.tmp" "$0"' \
        "$RACE_CONTROL_PACKAGING_BUILD" &
    build_pid=$!
    export RACE_CONTROL_PACKAGING_REBUILD=0  # the test uses this build, it does not start another
    trap 'kill -- "-$build_pid" 2>/dev/null || true' EXIT
fi

# --- static checks
echo "== ruff"
python3 -m ruff check race_control tests bench scripts
python3 -m ruff format --check --quiet race_control tests bench scripts
echo "== import-linter (Qt only in race_control.ui)"
lint-imports

# --- a non-editable install: wheel → fresh venv outside the checkout → `race-control demo` serves
echo "== wheel smoke test"
bash scripts/wheel_smoke.sh

# --- the suite
echo "== pytest"
export QT_QPA_PLATFORM=offscreen
# the PyInstaller smoke test (tests/test_packaging.py) runs here too, on the fresh build of this
# checkout started above; RACE_CONTROL_PACKAGING_TEST=0 skips it, RACE_CONTROL_PACKAGING_REBUILD=0
# reuses a bundle already built
set +e
# three workers (pytest-xdist; a file's tests stay together on one worker, for module fixtures such
# as the private PostgreSQL cluster): most tests wait on sockets, browsers and subprocesses (the
# cores were idle half of a two-worker run: 13.5 CPU-minutes in 14 minutes on 2 cores), so a third
# worker fills that time on these 2-core machines; RACE_CONTROL_TEST_WORKERS=0 runs it serially.
# pytest-benchmark, if installed, is switched off (unused, and it warns under xdist).
python3 -m pytest -p no:benchmark -n "${RACE_CONTROL_TEST_WORKERS:-3}" --dist loadfile "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then echo "pytest collected no tests"; exit 1; fi
exit "$rc"
