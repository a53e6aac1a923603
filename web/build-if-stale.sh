#!/usr/bin/env bash
# Rebuilds web/dist when the dashboard's sources changed since it was built.
# The sources' hash is kept in web/dist.sha256 (committed with dist), so a
# fresh clone — whose file times say nothing — builds only if it must.
set -euo pipefail
cd "$(dirname "$0")"
hash=$(find src index.html vite.config.ts tsconfig.json package.json package-lock.json -type f -print0 |
  sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [ "${1:-}" != "--force" ] && [ -f dist/index.html ] && [ "$(cat dist.sha256 2>/dev/null)" = "$hash" ]; then
  exit 0
fi
echo "building the dashboard (web/dist)"
[ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
npm run build
echo "$hash" > dist.sha256
