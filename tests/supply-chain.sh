#!/usr/bin/env bash
# The supply chain, checked against the policy in deny.toml and the RustSec advisory
# database bundled in ../shared/advisory-db (these machines cannot fetch it):
# - `cargo deny check`: advisories (a vulnerability fails), licenses, banned crates
#   (OpenSSL, native-tls), sources (crates.io only);
# - the release binary is built once with `cargo auditable`, so it carries its dependency
#   list, and `cargo audit bin` reads that list back from the binary and checks it.
# Run by .ci/run; installs cargo-deny, cargo-auditable and cargo-audit if they are missing.
# A refreshed bundle needs no change here: it is cloned afresh on every run.
set -euo pipefail
cd "$(dirname "$0")/.."

# The bundle beside the checkout (../shared), wherever the checkout is; ADVISORY_BUNDLE overrides.
bundle=${ADVISORY_BUNDLE:-}
for candidate in ../shared/advisory-db/advisory-db.bundle /work/shared/advisory-db/advisory-db.bundle; do
  [ -n "$bundle" ] || { [ -f "$candidate" ] && bundle=$candidate; }
done
cargo_home=${CARGO_HOME:-$HOME/.cargo}
# Where cargo-deny looks for the default database (the name derives from its URL).
db=$cargo_home/advisory-dbs/advisory-db-3157b0e258782691

for tool in cargo-deny cargo-auditable cargo-audit; do
  command -v "$tool" >/dev/null 2>&1 || cargo install --quiet --locked "$tool"
done

if [ ! -f "$bundle" ]; then
  echo "FAILED: no advisory database bundle (../shared/advisory-db/advisory-db.bundle); set ADVISORY_BUNDLE" >&2
  exit 1
fi
rm -rf "$db"
mkdir -p "$(dirname "$db")"
git -c advice.detachedHead=false clone --quiet "$bundle" "$db"
# cargo-deny takes a database whose FETCH_HEAD is fresh as current; --offline uses it as is.
touch "$db/.git/FETCH_HEAD"
echo "advisory database: $(git -C "$db" log -1 --format='%h of %cs')"

mkdir -p target
cargo metadata --format-version 1 --locked > target/metadata.json
cargo deny --offline --metadata-path target/metadata.json check --hide-inclusion-graph

# The release binary, with its dependency list embedded (section .dep-v0).
cargo auditable build --quiet --release --locked --bin memories-reaper
bin=target/release/memories-reaper
# One known false report, ignored only while it stays false: `cargo metadata` (which
# cargo-auditable reads) lists sqlx's optional MySQL driver, and with it rsa
# (RUSTSEC-2023-0071), because of how Cargo reports weak optional features; neither is
# compiled in. cargo deny, which prunes the graph to the enabled features, does not see
# it, and neither does `cargo tree`. The moment either is really built, this fails.
for crate in sqlx-mysql rsa; do
  if [ -n "$(cargo tree --locked --target all -e normal,build -i "$crate" 2>/dev/null)" ]; then
    echo "FAILED: $crate is now in the build; RUSTSEC-2023-0071 can no longer be ignored" >&2
    exit 1
  fi
done
out=$(cargo audit --no-fetch --db "$db" --stale --ignore RUSTSEC-2023-0071 bin "$bin" 2>&1) || {
  echo "$out"
  echo "FAILED: cargo audit bin $bin" >&2
  exit 1
}
echo "$out" | grep -E "Loaded|Found|warning" || true
if echo "$out" | grep -qi "not built with cargo auditable\|approximate"; then
  echo "$out"
  echo "FAILED: $bin carries no dependency list (was it built with cargo auditable?)" >&2
  exit 1
fi
echo "ok: supply chain (deny.toml) and $bin audited"
