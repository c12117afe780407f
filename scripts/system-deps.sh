#!/usr/bin/env bash
# The Debian packages a make target needs, installed when missing; the one place that knows them.
#
#   scripts/system-deps.sh test    Mosquitto and its clients, Chromium (the map's browser test),
#                                  a CJK font (fonts-noto-cjk: the Chinese map's screenshots
#                                  show characters, not empty boxes),
#                                  LibreOffice Calc (the workbook test reads the xlsx back),
#                                  PostgreSQL (the lake's catalog), iproute2 (network
#                                  namespaces: the lake's processes on several "hosts")
#   scripts/system-deps.sh demo    Mosquitto and its clients, PostgreSQL
#
# Installs with apt-get (through sudo when not root). Where that cannot run (no apt-get, or no
# root and no password-less sudo), stops at once with the exact command to run.
# GRIDPATROL_SKIP_SYSTEM_DEPS=1 skips the check (a machine managed otherwise).
set -euo pipefail

target="${1:-test}"
[ "${GRIDPATROL_SKIP_SYSTEM_DEPS:-0}" = "1" ] && exit 0

have_mosquitto() { command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; }
have_clients() { command -v mosquitto_pub >/dev/null 2>&1; }
have_chromium() { [ -x "${GRIDPATROL_CHROMIUM:-/usr/bin/chromium}" ]; }
have_calc() { command -v soffice >/dev/null 2>&1; }
# a font fontconfig knows for Chinese (fc-list comes with fontconfig, which Chromium needs)
have_cjk_font() { command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh family 2>/dev/null)" ]; }
have_ip() { command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ]; }
have_postgresql() {
    command -v postgres >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 \
        || compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}

missing=()
have_mosquitto || missing+=(mosquitto)
have_clients || missing+=(mosquitto-clients)
case "$target" in
    test)
        have_chromium || missing+=(chromium)
        have_cjk_font || missing+=(fonts-noto-cjk)
        have_calc || missing+=(libreoffice-calc-nogui)
        have_ip || missing+=(iproute2)
        ;;
    demo) ;;
    *) echo "usage: $0 test|demo" >&2; exit 2 ;;
esac
have_postgresql || missing+=(postgresql)
[ "${#missing[@]}" -eq 0 ] && exit 0

command_line="apt-get install -y ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "make $target needs: ${missing[*]} (Debian package names)." >&2
    echo "This machine has no apt-get; install them with its package manager, then run make $target again." >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo"
    else
        echo "make $target needs Debian packages that are missing: ${missing[*]}. Run:" >&2
        echo "    sudo apt-get update && sudo $command_line" >&2
        exit 1
    fi
fi
echo "installing Debian packages for make $target: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
