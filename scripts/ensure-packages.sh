#!/usr/bin/env bash
# Debian packages the tests use, installed when missing, all in one apt-get run.
# Arguments: COMMAND=PACKAGE pairs, e.g. /usr/bin/chromium=chromium nginx=nginx.
# A COMMAND is a path or a name looked up on PATH (and in /usr/sbin). Needs root or
# password-less sudo when something is missing; the packages' services are never used.
set -euo pipefail
missing=()
for pair in "$@"; do
    command=${pair%%=*} package=${pair#*=}
    if [ -x "$command" ] || command -v "$command" >/dev/null 2>&1 || [ -x "/usr/sbin/$command" ]; then
        continue
    fi
    missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "error: missing Debian packages: ${missing[*]}; install them as root" >&2
    exit 1
fi
echo "installing Debian's ${missing[*]} for the tests (once)"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
