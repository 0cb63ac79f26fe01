#!/usr/bin/env bash
# One command: build the desktop app's one-folder bundle into packaging/dist/race-control/.
#   bash packaging/build.sh
# Run it on the oldest Linux you support (a bundle carries no glibc).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m PyInstaller --version >/dev/null 2>&1 || python3 -m pip install -q 'pyinstaller>=6.0'
start=$(date +%s)
python3 -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath packaging/dist --workpath packaging/build packaging/race-control.spec
echo "built packaging/dist/race-control/race-control in $(( $(date +%s) - start )) s;" \
     "bundle size $(du -sh packaging/dist/race-control | cut -f1)"
