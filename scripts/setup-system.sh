#!/usr/bin/env bash
# Install the Debian packages the project runs on, only those that are missing.
# Checks are by command (or file), so a second run installs nothing and says so.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1; }

# mosquitto: the MQTT broker (Debian installs it in /usr/sbin)
have mosquitto || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
# postgresql: server binaries for the tests' own clusters (kept in /usr/lib/postgresql/<v>/bin)
have initdb || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
# python3-venv: Debian splits venv/ensurepip out of python3
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
# runuser (util-linux) runs PostgreSQL as the postgres user when the tests run as root
have runuser || missing+=(util-linux)
# PyAudio builds from source on Linux: PortAudio headers, a C compiler, Python's headers
[ -f /usr/include/portaudio.h ] || missing+=(portaudio19-dev)
have gcc || missing+=(gcc)
# chromium: the officer web UI's end-to-end tests drive Debian's browser headless (never a download)
have chromium || [ -x /usr/bin/chromium ] || missing+=(chromium)
# Xvfb + xauth (xvfb-run): the kiosk's Kivy UI runs headless in tests and in the demo without a display
have Xvfb || missing+=(xvfb)
have xauth || missing+=(xauth)
# CJK font for the kiosk UI and the browser (Noto Sans CJK)
compgen -G "/usr/share/fonts/opentype/noto/NotoSansCJK*" >/dev/null || missing+=(fonts-noto-cjk)
# espeak-ng and sox: speech synthesised for the Vosk tests, audio conversion
have espeak-ng || missing+=(espeak-ng)
have sox || missing+=(sox)
python3 -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    2>/dev/null || missing+=(python3-dev)

if [ ${#missing[@]} -eq 0 ]; then
    echo "system packages: all present"
    exit 0
fi

echo "system packages missing: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif have sudo && sudo -n true 2>/dev/null; then
    SUDO="sudo"
else
    echo "cannot install them: not root and no password-less sudo." >&2
    echo "run this once as root, then run make again:" >&2
    echo "    apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts a system-wide broker on 1883 after installing it; the project starts its own.
if [[ " ${missing[*]} " == *" mosquitto "* ]] && have systemctl; then
    $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
echo "system packages installed: ${missing[*]}"
