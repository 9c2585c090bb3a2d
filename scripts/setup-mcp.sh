#!/usr/bin/env bash
# Installs the pinned MCP servers that the catalog is imported from, and that
# tests/mcp_import.rs runs:
#   @gongrzhe/server-gmail-autoauth-mcp 1.1.11, @playwright/mcp 0.0.83,
#   @modelcontextprotocol/server-github 2025.4.8 (the issue tracker's tools)
#   and @cocal/google-calendar-mcp 2.6.3 (the calendar's tools),
# from scripts/mcp/package.json and its package-lock.json, with `npm ci` into
# $TRACEPIPE_MCP_DIR (default $HOME/.cache/tracepipe/mcp). Safe to run again:
# nothing is reinstalled while the installed tree matches the lock file.
#
# Then, for example:
#   node "$dir/node_modules/@gongrzhe/server-gmail-autoauth-mcp/dist/index.js"
#   node "$dir/node_modules/@playwright/mcp/cli.js" --headless --executable-path /usr/bin/chromium
#   node "$dir/node_modules/@modelcontextprotocol/server-github/dist/index.js"
#   GOOGLE_OAUTH_CREDENTIALS=dummy-keys.json node "$dir/node_modules/@cocal/google-calendar-mcp/build/index.js"
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$repo/scripts/mcp"
dir="${TRACEPIPE_MCP_DIR:-$HOME/.cache/tracepipe/mcp}"

command -v npm >/dev/null || { echo "setup-mcp: npm is not installed (apt-get install nodejs npm)" >&2; exit 1; }

mkdir -p "$dir"
stamp="$dir/node_modules/.package-lock.json"
if [[ -f "$stamp" ]] && cmp -s "$src/package.json" "$dir/package.json" \
    && cmp -s "$src/package-lock.json" "$dir/package-lock.json" \
    && [[ -f "$dir/node_modules/@gongrzhe/server-gmail-autoauth-mcp/dist/index.js" ]] \
    && [[ -f "$dir/node_modules/@playwright/mcp/cli.js" ]] \
    && [[ -f "$dir/node_modules/@modelcontextprotocol/server-github/dist/index.js" ]] \
    && [[ -f "$dir/node_modules/@cocal/google-calendar-mcp/build/index.js" ]]; then
    echo "setup-mcp: $dir is up to date"
    exit 0
fi

cp "$src/package.json" "$src/package-lock.json" "$dir/"
# playwright-core never downloads a browser here; the servers drive Debian's
# Chromium (scripts/setup-browser.sh).
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
(cd "$dir" && npm ci --no-audit --no-fund --cache "$HOME/.cache/tracepipe/npm")
echo "setup-mcp: installed into $dir"
