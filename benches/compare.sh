#!/usr/bin/env bash
# natcorr against the tools an engineer uses today, measured in one run on this machine:
# natcorr's whole analysis vs `tcpdump -r` filtering the echoes vs `cat` (page-cache speed), and
# tshark on a smaller file; peak memory from /usr/bin/time; correlation and inference times for
# four points with growing echo counts; a flows axis (four points, 1k to 100k flows, natcorr vs
# `tcpdump -r` over the same four files); the crafted shapes of issue 12 at n, 2n, 4n; parallel
# reading on 1 and 2 threads. tcpdump writes its packets to standard output (`-w -`), which the
# script discards; its -w is never given a device path (as root tcpdump chowns its output file).
# Usage: benches/compare.sh [WORKDIR] [SIZE]   (defaults: a temp dir, 1G). Prints markdown.
# FLOWS="1000 10000 100000" (add 1000000 for the million-flow row: 2M echoes per point, ~4 GB
# RAM) and SHAPES_N=10000 choose the axes.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
size=${2:-1G}
mkdir -p "$work"
cargo build --release --quiet --bin natcorr --example gencap --example shapes
bin=target/release/natcorr
gen=target/release/examples/gencap
shapes=target/release/examples/shapes
for tool in tcpdump tshark /usr/bin/time; do command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }; done

filter='(icmp or icmp6) or (vlan and (icmp or icmp6))'
measured=$work/.time
best() { # best of 3 wall-clock seconds of a command (its output discarded)
  local b=999 t
  for _ in 1 2 3; do
    /usr/bin/time -f '%e' -o "$measured" "$@" >/dev/null 2>&1 || true
    t=$(tail -1 "$measured")
    b=$(awk -v a="$b" -v c="$t" 'BEGIN { print (c < a ? c : a) }')
  done
  echo "$b"
}
peak() { # peak resident set size in kB
  /usr/bin/time -f '%M' -o "$measured" "$@" >/dev/null 2>&1 || true
  tail -1 "$measured"
}
tcpdump_all=$work/.tcpdump-all # tcpdump -r over every pcap of a folder, one after another
printf '#!/usr/bin/env bash\nfor f in "$1"/*.pcap; do tcpdump -r "$f" -w - "$2" 2>/dev/null; done\n' > "$tcpdump_all"
chmod +x "$tcpdump_all"
gbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.2f", b / s / 1e9 }'; }

echo "## natcorr vs tcpdump vs cat ($(nproc) cores, $(uname -r), $(date -u +%F))"
echo
echo "| file | tool | seconds (best of 3) | GB/s | vs natcorr | peak RSS |"
echo "|---|---|---|---|---|---|"
# pcap and pcapng with 1,000 flows, and pcap whose echoes come from 100,000 sources.
for kind in pcap pcapng manyflows; do
  fmt=$kind flows=1000 label_extra=
  [[ $kind == manyflows ]] && fmt=pcap flows=100000 label_extra=", 100k sources"
  dir=$work/single-$kind
  [[ -f $dir/ha-2b8cf5e0-b1.$fmt ]] || $gen --out "$dir" --size "$size" --points 1 --format "$fmt" --flows "$flows" 2>/dev/null
  f=$dir/ha-2b8cf5e0-b1.$fmt
  bytes=$(stat -c %s "$f")
  cat "$f" > /dev/null; cat "$f" > /dev/null
  n=$(best "$bin" --format json "$f")
  t=$(best tcpdump -r "$f" -w - "$filter")
  c=$(best cat "$f")
  label="$(numfmt --to=si "$bytes") $fmt$label_extra"
  echo "| $label | natcorr (complete analysis) | $n | $(gbps "$bytes" "$n") | 1.00 | $(( $(peak "$bin" --format json "$f") / 1024 )) MB |"
  echo "| $label | tcpdump -r -w - (filter only) | $t | $(gbps "$bytes" "$t") | $(awk -v a="$t" -v b="$n" 'BEGIN{printf "%.2f", a/b}') | $(( $(peak tcpdump -r "$f" -w - "$filter") / 1024 )) MB |"
  echo "| $label | cat > /dev/null | $c | $(gbps "$bytes" "$c") | $(awk -v a="$c" -v b="$n" 'BEGIN{printf "%.2f", a/b}') | - |"
done
small=$work/small
[[ -f $small/ha-2b8cf5e0-b1.pcap ]] || $gen --out "$small" --size 100M --points 1 2>/dev/null
sb=$(stat -c %s "$small/ha-2b8cf5e0-b1.pcap")
ts=$(best tshark -r "$small/ha-2b8cf5e0-b1.pcap" -Y icmp)
ns=$(best "$bin" --format json "$small/ha-2b8cf5e0-b1.pcap")
echo "| $(numfmt --to=si "$sb") pcap | tshark -r -Y icmp | $ts | $(gbps "$sb" "$ts") | $(awk -v a="$ts" -v b="$ns" 'BEGIN{printf "%.1f", a/b}') | $(( $(peak tshark -r "$small/ha-2b8cf5e0-b1.pcap" -Y icmp) / 1024 )) MB |"
echo "| $(numfmt --to=si "$sb") pcap | natcorr | $ns | $(gbps "$sb" "$ns") | 1.00 | $(( $(peak "$bin" --format json "$small/ha-2b8cf5e0-b1.pcap") / 1024 )) MB |"

echo
echo "## Memory against file size (one capture point, 5% echoes)"
echo
echo "| file | echo observations | peak RSS | bound (64 MB + 200 B per observation) |"
echo "|---|---|---|---|"
for s in 1G 4G; do
  dir=$work/mem-$s
  [[ -f $dir/ha-2b8cf5e0-b1.pcap ]] || $gen --out "$dir" --size "$s" --points 1 2>/dev/null
  f=$dir/ha-2b8cf5e0-b1.pcap
  cat "$f" > /dev/null
  echoes=$("$bin" --format json "$f" | python3 -c 'import json,sys; print(sum(p["echo_packets"] for p in json.load(sys.stdin)["points"]))')
  echo "| $(numfmt --to=si "$(stat -c %s "$f")") | $echoes | $(( $(peak "$bin" --format json "$f") / 1024 )) MB | $(( 64 + echoes * 200 / 1000000 )) MB |"
done

echo
echo "## Correlation and inference, four points (echo packets only)"
echo
echo "| echoes per point | read and decode | correlate | clock offsets | infer | correlate + clocks + infer | peak RSS |"
echo "|---|---|---|---|---|---|---|"
for e in 250K 1M 4M; do
  dir=$work/four-$e
  [[ -f $dir/eth2.106.pcap ]] || $gen --out "$dir" --echoes "$e" --points 4 2>/dev/null
  cat "$dir"/*.pcap > /dev/null
  out=$("$bin" --timings --format json "$dir"/*.pcap 2>&1 >/dev/null)
  ms() { grep "$1" <<<"$out" | awk '{print $(NF-1)}'; }
  sum=$(awk -v a="$(ms correlate)" -v b="$(ms 'clock offsets')" -v c="$(ms infer)" 'BEGIN{printf "%.0f", a+b+c}')
  echo "| $e | $(ms 'read and decode') ms | $(ms correlate) ms | $(ms 'clock offsets') ms | $(ms infer) ms | $sum ms | $(( $(peak "$bin" --format json "$dir"/*.pcap) / 1024 )) MB |"
done

echo
echo "## Flows axis: four points, 400K echo packets per point"
echo
echo "| flows asked | flows found | read and decode | correlate | clocks | infer | report (JSON) | natcorr total | peak RSS | tcpdump -r, four files | natcorr / tcpdump |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for fl in ${FLOWS:-1000 10000 100000}; do
  echoes=400K
  [[ $fl -ge 1000000 ]] && echoes=2M
  dir=$work/flows-$fl
  [[ -f $dir/eth2.106.pcap ]] || $gen --out "$dir" --echoes "$echoes" --flows "$fl" --points 4 2>/dev/null
  cat "$dir"/*.pcap > /dev/null
  out=$("$bin" --timings --format json -o "$work/flows-$fl.json" "$dir"/*.pcap 2>&1)
  found=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["flows"]))' "$work/flows-$fl.json")
  ms() { grep "$1" <<<"$out" | awk '{print $(NF-1)}'; }
  n=$(best "$bin" --format json "$dir"/*.pcap)
  t=$(best "$tcpdump_all" "$dir" "$filter")
  rss=$(( $(peak "$bin" --format json "$dir"/*.pcap) / 1024 ))
  echo "| $fl | $found | $(ms 'read and decode') ms | $(ms correlate) ms | $(ms 'clock offsets') ms | $(ms infer) ms | $(ms report) ms | $n s | $rss MB | $t s | $(awk -v a="$n" -v b="$t" 'BEGIN{printf "%.0f", a/b}')x |"
done

echo
echo "## Crafted shapes of issue 12 (benches/shapes.rs) at n, 2n, 4n: seconds (best of 3) and peak RSS"
echo
n1=${SHAPES_N:-10000}
echo "| shape | n = $n1 | 2n | 4n | time 4n / n |"
echo "|---|---|---|---|---|"
for shape in points any-interfaces split-run errors ip-ids one-point-flows; do
  row="| $shape |"
  first=
  for m in 1 2 4; do
    k=$(( n1 * m ))
    dir=$work/shape-$shape-$k
    [[ -d $dir ]] || $shapes "$shape" "$k" "$dir"
    secs=$(best "$bin" --format json "$dir"/*)
    rss=$(( $(peak "$bin" --format json "$dir"/*) / 1024 ))
    first=${first:-$secs}
    row="$row $secs s, $rss MB |"
    last=$secs
  done
  echo "$row $(awk -v a="$last" -v b="$first" 'BEGIN{ if (b > 0) printf "%.1f", a/b; else print "-" }') |"
done

echo
echo "## Reading four files in parallel (rayon), 1M echoes per point"
echo
echo "| threads | read and decode |"
echo "|---|---|"
for th in 1 2; do
  r=$(RAYON_NUM_THREADS=$th "$bin" --timings --format json "$work"/four-1M/*.pcap 2>&1 >/dev/null | grep 'read and decode' | awk '{print $(NF-1)}')
  echo "| $th | $r ms |"
done
