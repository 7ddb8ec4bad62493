#!/usr/bin/env bash
# The browser tests drive Debian's chromium (never a browser a tool downloads itself).
# Installs it from Debian's packages when it is missing; needs root or password-less sudo.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "error: /usr/bin/chromium is missing; install Debian's 'chromium' package as root" >&2
    exit 1
fi
echo "installing Debian's chromium for the browser tests (once)"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version
