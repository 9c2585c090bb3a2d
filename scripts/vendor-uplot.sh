#!/usr/bin/env bash
# Fetches uPlot, the usage page's charting library, from the npm registry at a
# pinned version, checks the tarball's integrity and copies the minified
# browser bundle, its stylesheet and its licence into assets/vendor/uplot/.
# The files are committed and compiled into the binary (src/web/usage_chart.rs),
# so building Tracepipe needs no Node step; run this only to change the
# version, then update it here, in assets/vendor/README.md and in
# src/web/usage_chart.rs (the asset URLs carry it).
#
#   scripts/vendor-uplot.sh          # from anywhere; needs npm
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor="$root/assets/vendor/uplot"
version=1.6.32
integrity='sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=='

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tarball="$(cd "$work" && npm pack --silent "uplot@$version")"
actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
if [[ "$actual" != "$integrity" ]]; then
    echo "uplot@$version: integrity $actual, expected $integrity" >&2
    exit 1
fi
tar -xzf "$work/$tarball" -C "$work"
rm -rf "$vendor"
mkdir -p "$vendor"
cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" "$work/package/LICENSE" "$vendor/"
(cd "$vendor" && sha256sum ./*)
