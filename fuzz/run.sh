#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, seeded with the committed captures.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP lets the stable toolchain
# accept the sanitizer flags cargo-fuzz passes.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
for target in capture_reader decode pipeline; do
  mkdir -p "corpus/$target"
  find ../captures -name '*.pcap' -o -name '*.pcapng' | while read -r f; do
    cp -n "$f" "corpus/$target/$(echo "$f" | tr '/' '_')"
  done
  echo "== $target: $secs s"
  cargo fuzz run -O "$target" "corpus/$target" -- -max_total_time="$secs" -max_len=65536 -print_final_stats=1
done
