#!/usr/bin/env bash
# Wheel smoke test: a NON-editable install works on its own, outside the checkout.
#   bash scripts/wheel_smoke.sh
# 1. builds a wheel of the checkout (from a copy of its git-tracked and untracked-but-not-ignored
#    files, so a stale build/ folder cannot leak into the wheel and the checkout stays untouched);
# 2. installs it, with its dependencies, into a fresh venv in a temp dir (no system site-packages);
# 3. from another temp dir (the checkout is not importable) runs `race-control demo` on free ports,
#    checks the printed display URL serves the display page and its script, /api/health answers 200,
#    and that SIGINT stops the demo cleanly.
# Exits non-zero with a message naming the step that failed.  Called by scripts/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rc-wheel-smoke.XXXXXX")"
DEMO_LOG="$WORK/demo.log"
demo_pid=""

cleanup() {
    if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
        kill -INT "$demo_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$demo_pid" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
    echo "wheel smoke test FAILED: $*" >&2
    if [ -s "$DEMO_LOG" ]; then sed 's/^/  demo| /' "$DEMO_LOG" >&2; fi
    exit 1
}
t0=$SECONDS
step() { echo "  [$((SECONDS - t0)) s] $*"; }

# --- 1. wheel
step "building the wheel"
SRC="$WORK/src"
mkdir -p "$SRC"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -xf - -C "$SRC"
else  # not a git checkout: copy it whole, minus build output
    tar -C "$ROOT" --exclude=./build --exclude=./dist --exclude='*.egg-info' --exclude=.venv -cf - . \
        | tar -xf - -C "$SRC"
fi
"$PY" -m pip wheel -q --no-deps --disable-pip-version-check -w "$WORK/wheels" "$SRC" >"$WORK/build.log" 2>&1 \
    || { cat "$WORK/build.log" >&2; fail "pip wheel could not build the checkout"; }
wheel=("$WORK"/wheels/race_control-*.whl)
[ -f "${wheel[0]}" ] || fail "no race_control wheel in $WORK/wheels"
"$PY" - "${wheel[0]}" <<'EOF' || fail "the wheel does not carry race_control/resources"
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = ["race_control/resources/display/page.html", "race_control/resources/openapi.json",
        "race_control/resources/demo/roster.csv", "race_control/store/migrations/script.py.mako"]
missing = [n for n in need if n not in names]
if missing or not any(n.startswith("race_control/resources/demo/chronotrack-2021/") for n in names):
    sys.exit(f"missing from the wheel: {missing or 'the chronotrack-2021 demo race'}")
EOF

# --- 2. fresh venv outside the checkout
step "installing $(basename "${wheel[0]}") and its dependencies into a fresh venv"
VENV="$WORK/venv"
"$PY" -m venv "$VENV" || fail "python3 -m venv failed"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${wheel[0]}" >"$WORK/install.log" 2>&1 \
    || { grep -v "^WARNING: Location" "$WORK/install.log" >&2; fail "pip install of the wheel failed"; }

RUN="$WORK/run"
mkdir -p "$RUN"
cd "$RUN"
unset PYTHONPATH PYTHONHOME
for v in $(env | sed -n 's/^\(RACE_CONTROL_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" XDG_DATA_HOME="$WORK/home/.local/share"
where="$("$VENV/bin/python" -c 'import race_control; print(race_control.__file__)')" \
    || fail "race_control is not importable from the venv"
case "$where" in
    "$VENV"/*) ;;
    *) fail "race_control was imported from $where, not from the venv" ;;
esac

# --- 3. the demo, served from the installed wheel
step "running race-control demo from $RUN"
"$VENV/bin/race-control" demo --data-dir "$WORK/data" --host 127.0.0.1 --public-host 127.0.0.1 \
    --http-port 0 --timing-port 0 --duration 120 >"$DEMO_LOG" 2>&1 &
demo_pid=$!
url=""
for _ in $(seq 1 150); do  # up to 30 s for the URLs
    url="$(grep -o 'http://[^ ]*/display/[A-Za-z0-9_-]*' "$DEMO_LOG" | head -1 || true)"
    [ -n "$url" ] && break
    kill -0 "$demo_pid" 2>/dev/null || fail "race-control demo exited before printing a display URL"
    sleep 0.2
done
[ -n "$url" ] || fail "race-control demo printed no display URL within 30 s"
step "checking $url"
"$VENV/bin/python" - "$url" <<'EOF' || fail "the demo does not serve its display page / health check"
import sys, urllib.error, urllib.request

url = sys.argv[1]
base = url.split("/display/")[0]

def get(u):
    try:
        with urllib.request.urlopen(u, timeout=10) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError as e:
        sys.exit(f"GET {u}: {e}")

status, page = get(url)
if status != 200 or "<html" not in page.lower() or 'id="rc-config"' not in page:
    sys.exit(f"GET {url}: HTTP {status}, not the display page")
status, js = get(base + "/display/static/display.js")
if status != 200 or not js.strip():
    sys.exit(f"GET {base}/display/static/display.js: HTTP {status}")
status, _ = get(base + "/api/health")
if status != 200:
    sys.exit(f"GET {base}/api/health: HTTP {status}")
print(f"  display page, display.js and /api/health served by {base}")
EOF

step "stopping the demo (SIGINT)"
kill -INT "$demo_pid"
rc=0
for _ in $(seq 1 150); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$demo_pid" 2>/dev/null && fail "race-control demo did not stop within 30 s of SIGINT"
wait "$demo_pid" || rc=$?
demo_pid=""
[ "$rc" = 0 ] || fail "race-control demo exited with status $rc after SIGINT"
grep -q "all reads stored" "$DEMO_LOG" || fail "race-control demo did not report a clean shutdown"
step "wheel smoke test passed"
