#!/usr/bin/env bash
# Fetches the browser bundles behind GET /v1/docs (Swagger UI) and GET /v1/redoc
# (ReDoc) from the npm registry at pinned versions and copies the files the
# pages load, with their licences, into assets/vendor/. The files are committed
# and compiled into the binary (api/src/api_docs.rs), so building Tracepipe needs no
# Node step; run this only to change a version, then update the versions and
# integrity strings below and in assets/vendor/README.md.
#
#   scripts/vendor-api-docs.sh          # from anywhere; needs npm
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor="$root/assets/vendor"

# name, version, the registry's integrity for that tarball.
swagger=(swagger-ui-dist 5.35.0 'sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==')
redoc=(redoc 2.5.4 'sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==')

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# unpack NAME VERSION INTEGRITY: the package's tarball, checked, unpacked into $work/NAME.
unpack() {
    local name="$1" version="$2" integrity="$3" tarball
    tarball="$(cd "$work" && npm pack --silent "$name@$version")"
    local actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
    if [[ "$actual" != "$integrity" ]]; then
        echo "$name@$version: integrity $actual, expected $integrity" >&2
        return 1
    fi
    mkdir -p "$work/$name"
    tar -xzf "$work/$tarball" -C "$work/$name" --strip-components=1
}

unpack "${swagger[@]}"
unpack "${redoc[@]}"

rm -rf "$vendor/swagger-ui-dist" "$vendor/redoc"
mkdir -p "$vendor/swagger-ui-dist" "$vendor/redoc"
# The bundle carries Swagger UI's dependencies; the standalone preset (a top
# bar with a URL box) is not used.
for file in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css LICENSE NOTICE; do
    cp "$work/swagger-ui-dist/$file" "$vendor/swagger-ui-dist/"
done
for file in bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt LICENSE; do
    cp "$work/redoc/$file" "$vendor/redoc/"
done
# ReDoc's one change: the sidebar's "API docs by Redocly" link shows a logo
# from cdn.redoc.ly, which the pages may not load. An empty src fails without
# a request, and ReDoc then leaves the logo out (the link and its text stay).
logo='src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'
if [[ "$(grep -o -F "$logo" "$vendor/redoc/redoc.standalone.js" | wc -l)" != 1 ]]; then
    echo "redoc.standalone.js: the logo URL to remove is not there once; check the patch" >&2
    exit 1
fi
sed -i "s|$logo|src:\"\"|" "$vendor/redoc/redoc.standalone.js"
(cd "$vendor" && sha256sum swagger-ui-dist/* redoc/*)
du -sh "$vendor"
