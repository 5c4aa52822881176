#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, seeded with the committed captures.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP lets the stable toolchain
# accept the sanitizer flags cargo-fuzz passes. Optional further arguments name the targets to
# run (default: all four). FUZZ_FLAGS adds libFuzzer flags (e.g. FUZZ_FLAGS=-jobs=1).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(capture_reader decode pipeline cli)
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  if [ "$target" = cli ]; then
    # Arguments, then a committed capture: byte 0 is the argument count, each argument ends
    # with NUL, the rest is the capture written to @IN (see fuzz_targets/cli.rs).
    seed() {
      local name=$1 capture=$2; shift 2
      { printf "\\x$(printf %02x $#)"; for a in "$@"; do printf '%s\0' "$a"; done
        cat "$capture"; } > "corpus/cli/seed-$name"
    }
    plain=../captures/plain
    seed table "$plain/ha-2b8cf5e0-b1.pcap" @IN @IN2
    seed json-out "$plain/ha-2b8cf5e0-b1.pcap" --format json -o @OUT1 @IN @IN2
    seed html-junit "$plain/ha-2b8cf5e0-b1.pcap" --html @OUT2 --junit @OLD --expect loss=0 @IN @IN2
    seed out-is-in "$plain/vm1-eth0.pcap" -o @IN @IN2
    seed out-is-link "$plain/vm1-eth0.pcap" --html @LINK --point a=@IN @IN2
    seed out-is-hard "$plain/vm1-eth0.pcap" --format csv -o @HARD @IN
    seed same-twice "$plain/dest-eth1.pcap" --html @OUT1 --junit @OUT1 @IN
    seed ladder "$plain/dest-eth1.pcap" --ladder 1 --html @OUT2 -o @OUT1 @IN2 @IN
    seed rules-file "$plain/eth2.106.pcap" --expect-file @OLD --format jsonl -o @DIR/r @IN
    seed missing-dir "$plain/eth2.106.pcap" --format mermaid -o @MISSING @IN
  else
    find ../captures -name '*.pcap' -o -name '*.pcapng' | while read -r f; do
      cp -n "$f" "corpus/$target/$(echo "$f" | tr '/' '_')"
    done
  fi
  echo "== $target: $secs s"
  cargo fuzz run -O "$target" "corpus/$target" -- -max_total_time="$secs" -max_len=65536 -print_final_stats=1 ${FUZZ_FLAGS:-}
done
