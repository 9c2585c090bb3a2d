#!/usr/bin/env bash
# Prepares what the capture tooling needs: Debian's Chromium at /usr/bin/chromium
# and capture/'s npm dependencies (playwright-core only drives that Chromium; it
# never downloads a browser of its own). Safe to run again: each step is skipped
# when its result is already in place.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The fonts are for screenshots: Latin text in the demo app's font, and CJK
# text (the recordings type 東京) as glyphs rather than empty boxes.
if [[ ! -x /usr/bin/chromium || ! -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]]; then
    sudo=""
    [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends \
        chromium fonts-liberation fonts-wqy-microhei
fi

capture="$repo/capture"
lock="$capture/package-lock.json"
stamp="$capture/node_modules/.package-lock.json"
# npm ci wipes and reinstalls node_modules; skip it while the installed tree
# still matches the lock file.
if [[ ! -f "$stamp" || "$lock" -nt "$stamp" ]]; then
    export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
    (cd "$capture" && npm ci --no-audit --no-fund --cache "$HOME/.cache/tracepipe/npm")
fi
