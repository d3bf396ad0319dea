#!/usr/bin/env bash
# Makes sure headless Chromium, its WebDriver and fonts for Khmer script are installed (the
# browser tests drive them). Installs Debian's packages when missing; fails loudly otherwise.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
fc-list 2>/dev/null | grep -qi "khmer" || missing+=(fonts-khmeros)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "ensure-chromium: installing ${missing[*]}" >&2
sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may be running its own apt at boot: wait for its lock instead of failing.
$sudo_cmd apt-get -o DPkg::Lock::Timeout=300 update -qq
$sudo_cmd apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null
