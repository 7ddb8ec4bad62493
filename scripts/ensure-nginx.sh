#!/usr/bin/env bash
# The reverse-proxy test (tests/station/test_proxy.py) runs a station behind Debian's nginx.
# Installs it from Debian's packages when it is missing; needs root or password-less sudo.
# The test starts its own nginx with its own config; the package's service is never used.
set -euo pipefail
if [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "error: nginx is missing; install Debian's 'nginx' package as root" >&2
    exit 1
fi
echo "installing Debian's nginx for the reverse-proxy test (once)"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq nginx >/dev/null
/usr/sbin/nginx -v
