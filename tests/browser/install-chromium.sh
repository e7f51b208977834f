#!/usr/bin/env bash
# Installs Debian's Chromium and a colour emoji font for the browser test,
# when missing (no browser download: the distribution's package).
set -euo pipefail
have_chromium() { command -v chromium >/dev/null; }
have_emoji() { [ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; }
if have_chromium && have_emoji; then
    exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "chromium is missing and this user cannot install it: apt-get install chromium fonts-noto-color-emoji"; exit 1; }
    sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-noto-color-emoji >/dev/null
have_chromium || { echo "chromium did not install"; exit 1; }
