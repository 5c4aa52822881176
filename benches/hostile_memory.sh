#!/usr/bin/env bash
# Peak memory of natcorr on hostile inputs: length fields that claim 4 GiB, and 1 GB of random
# bytes (raw, and behind a valid pcap header), decompression bombs (gzip and zstd of distinct echoes,
# and of one frame repeated: small files that decompress to gigabytes) and a rule file that is one endless line.
# natcorr must reject or cut them with a message and stay under its memory budget (the bombs run
# with --max-memory 256M). Prints a markdown table. Usage: benches/hostile_memory.sh [NATCORR] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/natcorr}
work=${2:-$(mktemp -d)}
[[ -x $bin ]] || cargo build --release --quiet
mkdir -p "$work"
trap 'rm -f "$work"/hostile-*' EXIT

le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))\\x$(printf %02x $((($1 >> 16) & 255)))\\x$(printf %02x $((($1 >> 24) & 255)))"; }
pcap_header() { printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00'; le32 0; le32 0; le32 262144; le32 1; }

# A record header claiming 4 GiB - 1 of captured data, then a little data.
{ pcap_header; le32 1; le32 0; le32 4294967295; le32 4294967295; head -c 4096 /dev/zero; } > "$work/hostile-4gib-record.pcap"
# A pcapng section header, then a block claiming 4 GiB - 4.
{ printf '\x0a\x0d\x0d\x0a'; le32 28; printf '\x4d\x3c\x2b\x1a\x01\x00\x00\x00'; printf '\xff\xff\xff\xff\xff\xff\xff\xff'; le32 28;
  le32 6; le32 4294967292; head -c 4096 /dev/zero; } > "$work/hostile-4gib-block.pcapng"
head -c 1000000000 /dev/urandom > "$work/hostile-random.bin"
{ pcap_header; head -c 1000000000 /dev/urandom; } > "$work/hostile-random-after-header.pcap"
# Decompression bombs: 1.1 GB (gzip) and 9.1 GB (zstd) of distinct echoes, and 9.1 GB (zstd) of
# one frame repeated (duplicates: counted, not kept).
python3 benches/mkbomb.py "$work/hostile-bomb.pcap.gz" 10000000
python3 benches/mkbomb.py /dev/stdout 80000000 | zstd -q -9 -o "$work/hostile-bomb.pcap.zst"
python3 benches/mkbomb.py /dev/stdout 80000000 --identical | zstd -q -9 -o "$work/hostile-bomb-identical.pcap.zst"
head -c 1000000000 /dev/zero > "$work/hostile-rules.txt"

echo "| input | size | exit | peak RSS | message |"
echo "|---|---|---|---|---|"
for f in "$work"/hostile-*; do
  case $f in
    *rules.txt) args=(--expect-file "$f" captures/plain/vm1-eth0.pcap) ;;
    *) args=(--max-memory 256M "$f") ;;
  esac
  out=$( { /usr/bin/time -f '%M' "$bin" --format json "${args[@]}" >/dev/null 2>"$work/err"; echo "exit $?"; } 2>&1 ) || true
  code=$(grep -o 'exit [0-9]*' <<<"$out" | tail -1 | cut -d' ' -f2)
  kb=$(tail -1 "$work/err")
  msg=$(grep -m1 natcorr: "$work/err" | sed 's/^natcorr: //; s/|/\\|/g' | cut -c1-150)
  printf '| %s | %s | %s | %s MB | %s |\n' "$(basename "$f")" "$(du -h "$f" | cut -f1)" "$code" "$((kb / 1024))" "$msg"
done
