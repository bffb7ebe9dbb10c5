#!/usr/bin/env bash
# Downloads the pinned, unmodified production builds of React, ReactDOM and GraphiQL that the
# server embeds for its offline GraphiQL page (src/http/graphiql.rs), with their licences, from
# the npm registry, and checks every tarball and every file against the sums below.
# Run from anywhere; it rewrites the files next to it. Needs curl, tar and sha256sum.
set -euo pipefail
cd "$(dirname "$0")"

# name version sha256-of-the-registry-tarball
PACKAGES=(
  "react 18.3.1 8d9bed01a672e7eaf387942d781ad47c6a43089a30a0306060f9fd5ac7870347"
  "react-dom 18.3.1 031d4427a99f2f3f6cac18bbbf308594a67e4f47d10f4896fdec446505b040e0"
  "graphiql 3.8.3 1cadb1c2ca0dc51ea71fb4bb2680e6185e83fe400c9a62ca5fb9dfb922472bbd"
)
# tarball-path local-name
FILES=(
  "react package/umd/react.production.min.js react.production.min.js"
  "react package/LICENSE LICENSE.react"
  "react-dom package/umd/react-dom.production.min.js react-dom.production.min.js"
  "react-dom package/LICENSE LICENSE.react-dom"
  "graphiql package/graphiql.min.js graphiql.min.js"
  "graphiql package/graphiql.min.css graphiql.min.css"
  "graphiql package/LICENSE LICENSE.graphiql"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for entry in "${PACKAGES[@]}"; do
  read -r name version sum <<<"$entry"
  url="https://registry.npmjs.org/${name}/-/${name}-${version}.tgz"
  curl -fsSL "$url" -o "$work/$name.tgz"
  echo "$sum  $work/$name.tgz" | sha256sum -c --quiet -
  mkdir -p "$work/$name"
  tar -xzf "$work/$name.tgz" -C "$work/$name"
done
for entry in "${FILES[@]}"; do
  read -r name path local <<<"$entry"
  cp "$work/$name/$path" "$local"
done
sha256sum -c --quiet SHA256SUMS
echo "assets/graphiql: every file matches SHA256SUMS"
