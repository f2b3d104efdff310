#!/usr/bin/env bash
# Create .venv with Python 3.11 and install the project editable with every extra.
# Make calls this only when pyproject.toml is newer than the last install.
set -euo pipefail

py=""
for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        py=$candidate
        break
    fi
done
if [ -z "$py" ]; then
    echo "Python 3.11 not found (Debian 12 ships it as python3)." >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    "$py" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[central,kiosk,edge,dev]"
# insightface (face alignment, buffalo packs) without its dependency on the GUI build of OpenCV,
# which would overwrite opencv-python-headless; its other requirements are in the extras.
.venv/bin/python -m pip install --quiet --no-deps "insightface==2.1"
echo "virtualenv ready: .venv ($(.venv/bin/python --version))"
