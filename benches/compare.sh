#!/usr/bin/env bash
# natcorr against the tools an engineer uses today, measured in one run on this machine:
# natcorr's whole analysis (default: ICMP echo, TCP and UDP; and `--protocol icmp`) vs
# `tcpdump -r` filtering the same protocols vs `cat` (page-cache speed), and tshark on a smaller
# file; peak memory from /usr/bin/time; correlation and inference times for four points with
# growing echo counts; a flows axis (four points, 1k to 100k flows, natcorr vs `tcpdump -r` over
# the same four files); a TCP/UDP connections axis (1k to 100k connections through both SNATs);
# the crafted shapes of issue 12 at n, 2n, 4n; parallel reading on 1 and 2 threads. tcpdump
# writes its packets to standard output (`-w -`), which the script discards; its -w is never
# given a device path (as root tcpdump chowns its output file).
# Usage: benches/compare.sh [WORKDIR] [SIZE]   (defaults: a temp dir, 1G). Prints markdown.
# FLOWS="1000 10000 100000" (add 1000000 for the million-flow row: 2M echoes per point, ~4 GB
# RAM), CONNECTIONS="1000 10000 100000" and SHAPES_N=10000 choose the axes.
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
filter_all='(icmp or icmp6 or tcp or udp) or (vlan and (icmp or icmp6 or tcp or udp))'
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
mb() { echo $(( $1 * 1024 / 1000000 )); } # time's KiB as MB (10^6 bytes), the unit of the bounds
peak() { # peak resident set size in MB
  /usr/bin/time -f '%M' -o "$measured" "$@" >/dev/null 2>&1 || true
  mb "$(tail -1 "$measured")"
}
stages() { # one natcorr run with --timings, its JSON written to $1: stage times in $out, peak RSS (MB) in $rss
  local json=$1
  shift
  out=$(/usr/bin/time -f '%M' -o "$measured" "$bin" --timings --format json -o "$json" "$@" 2>&1)
  rss=$(mb "$(tail -1 "$measured")")
}
ms() { grep "$1" <<<"$out" | awk '{print $(NF-1)}'; } # one stage's milliseconds from $out
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
tcpdump_all=$work/.tcpdump-all # tcpdump -r over every pcap of a folder, one after another
printf '#!/usr/bin/env bash\nfor f in "$1"/*.pcap; do tcpdump -r "$f" -w - "$2" 2>/dev/null; done\n' > "$tcpdump_all"
chmod +x "$tcpdump_all"
gbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.2f", b / s / 1e9 }'; }

echo "## natcorr vs tcpdump vs cat ($(nproc) cores, $(uname -r), $(date -u +%F))"
echo
echo "Each row compares natcorr's complete analysis of some protocols with tcpdump filtering the"
echo "same protocols out of the same file (tcpdump ÷ natcorr above 1 means natcorr is faster)."
echo
echo "| file | protocols | natcorr s (best of 3) | GB/s | peak RSS | tcpdump -r -w - s | peak RSS | tcpdump ÷ natcorr | cat s |"
echo "|---|---|---|---|---|---|---|---|---|"
row() { # file label protocols-label natcorr-protocol-arg tcpdump-filter cat-seconds
  local f=$1 label=$2 what=$3 proto=$4 filt=$5 c=$6 n t
  n=$(best "$bin" --format json --protocol "$proto" "$f")
  t=$(best tcpdump -r "$f" -w - "$filt")
  echo "| $label | $what | $n | $(gbps "$bytes" "$n") | $(peak "$bin" --format json --protocol "$proto" "$f") MB | $t | $(peak tcpdump -r "$f" -w - "$filt") MB | $(ratio "$t" "$n") | $c |"
}
# pcap and pcapng with 1,000 echo flows in random background, pcap whose echoes come from 100,000
# sources, and pcap whose background is 10,000 TCP/UDP connections crossing both SNATs.
for kind in pcap pcapng manyflows connections; do
  fmt=pcap flows=1000 extra=() label_extra=
  case $kind in
    pcapng) fmt=pcapng ;;
    manyflows) flows=100000 label_extra=", 100k echo sources" ;;
    connections) extra=(--connections 10000) label_extra=", 10k TCP/UDP connections" ;;
  esac
  dir=$work/single-$kind
  [[ -f $dir/ha-2b8cf5e0-b1.$fmt ]] || $gen --out "$dir" --size "$size" --points 1 --format "$fmt" --flows "$flows" "${extra[@]}" 2>/dev/null
  f=$dir/ha-2b8cf5e0-b1.$fmt
  cat "$f" > /dev/null; cat "$f" > /dev/null
  c=$(best cat "$f")
  bytes=$(stat -c %s "$f")
  label="$(numfmt --to=si "$bytes") $fmt$label_extra"
  row "$f" "$label" "ICMP echo (\`--protocol icmp\`)" icmp "$filter" "$c"
  row "$f" "$label" "ICMP, TCP, UDP (default)" icmp,tcp,udp "$filter_all" "$c"
done
small=$work/small
[[ -f $small/ha-2b8cf5e0-b1.pcap ]] || $gen --out "$small" --size 100M --points 1 2>/dev/null
sf=$small/ha-2b8cf5e0-b1.pcap
sb=$(stat -c %s "$sf")
ts=$(best tshark -r "$sf" -Y icmp)
ns=$(best "$bin" --format json --protocol icmp "$sf")
echo
echo "| file | tool | seconds (best of 3) | GB/s | tshark ÷ natcorr | peak RSS |"
echo "|---|---|---|---|---|---|"
echo "| $(numfmt --to=si "$sb") pcap | tshark -r -Y icmp | $ts | $(gbps "$sb" "$ts") | $(ratio "$ts" "$ns") | $(peak tshark -r "$sf" -Y icmp) MB |"
echo "| $(numfmt --to=si "$sb") pcap | natcorr --protocol icmp | $ns | $(gbps "$sb" "$ns") | 1.00 | $(peak "$bin" --format json --protocol icmp "$sf") MB |"

echo
echo "## Memory against file size (one capture point, 5% echoes in random TCP/UDP background)"
echo
echo "| file | echo observations | TCP/UDP observations | peak RSS, \`--protocol icmp\` | bound (64 MB + 200 B per echo observation) | peak RSS, default | 64 MB + 200 B per observation |"
echo "|---|---|---|---|---|---|---|"
for s in 1G 4G; do
  dir=$work/mem-$s
  [[ -f $dir/ha-2b8cf5e0-b1.pcap ]] || $gen --out "$dir" --size "$s" --points 1 2>/dev/null
  f=$dir/ha-2b8cf5e0-b1.pcap
  cat "$f" > /dev/null
  stages "$work/mem-$s.json" "$f"
  read -r echoes others < <(python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["points"]; print(sum(x["echo_packets"] for x in p), sum(x["tcp_packets"] + x["udp_packets"] for x in p))' "$work/mem-$s.json")
  echo "| $(numfmt --to=si "$(stat -c %s "$f")") | $echoes | $others | $(peak "$bin" --format json --protocol icmp "$f") MB | $(( 64 + echoes * 200 / 1000000 )) MB | $rss MB | $(( 64 + (echoes + others) * 200 / 1000000 )) MB |"
done

echo
echo "## Correlation and inference, four points (echo packets only: \`gencap --echoes\` writes no background, so the default and \`--protocol icmp\` analyse the same packets)"
echo
echo "| echoes per point | read and decode | correlate | clock offsets | infer | correlate + clocks + infer | peak RSS |"
echo "|---|---|---|---|---|---|---|"
for e in 250K 1M 4M; do
  dir=$work/four-$e
  [[ -f $dir/eth2.106.pcap ]] || $gen --out "$dir" --echoes "$e" --points 4 2>/dev/null
  cat "$dir"/*.pcap > /dev/null
  stages "$work/four-$e.json" "$dir"/*.pcap
  sum=$(awk -v a="$(ms correlate)" -v b="$(ms 'clock offsets')" -v c="$(ms infer)" 'BEGIN{printf "%.0f", a+b+c}')
  echo "| $e | $(ms 'read and decode') ms | $(ms correlate) ms | $(ms 'clock offsets') ms | $(ms infer) ms | $sum ms | $rss MB |"
done

echo
echo "## Flows axis: four points, 400K echo packets per point (no background; natcorr analyses all protocols, tcpdump filters ICMP)"
echo
echo "| flows asked | flows found | read and decode | correlate | clocks | infer | report (JSON) | natcorr total | peak RSS | tcpdump -r, four files | natcorr / tcpdump |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for fl in ${FLOWS:-1000 10000 100000}; do
  echoes=400K
  [[ $fl -ge 1000000 ]] && echoes=2M
  dir=$work/flows-$fl
  [[ -f $dir/eth2.106.pcap ]] || $gen --out "$dir" --echoes "$echoes" --flows "$fl" --points 4 2>/dev/null
  cat "$dir"/*.pcap > /dev/null
  stages "$work/flows-$fl.json" "$dir"/*.pcap
  found=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["flows"]))' "$work/flows-$fl.json")
  n=$(best "$bin" --format json "$dir"/*.pcap)
  t=$(best "$tcpdump_all" "$dir" "$filter")
  echo "| $fl | $found | $(ms 'read and decode') ms | $(ms correlate) ms | $(ms 'clock offsets') ms | $(ms infer) ms | $(ms report) ms | $n s | $rss MB | $t s | $(awk -v a="$n" -v b="$t" 'BEGIN{printf "%.0f", a/b}')x |"
done

echo
echo "## TCP/UDP connections axis: the background is N concurrent TCP/UDP connections through both SNATs (\`gencap --connections N\`), 1,000 echo flows, 5% echoes"
echo
echo "natcorr's stages are those of the default analysis (all protocols); tcpdump filters ICMP, TCP and UDP over the same files one after another."
echo
echo "| capture | connections asked | TCP/UDP flows found | read and decode | correlate | clocks | infer | report (JSON) | natcorr default | peak RSS | \`--protocol tcp,udp\` | \`--protocol icmp\` | peak RSS | tcpdump -r (icmp, tcp, udp) | tcpdump ÷ natcorr default |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for layout in "1 $size" "4 250M"; do
  read -r pts psize <<<"$layout"
  for cn in ${CONNECTIONS:-1000 10000 100000}; do
    dir=$work/conns-$pts-$cn
    [[ -f $dir/ha-2b8cf5e0-b1.pcap ]] || $gen --out "$dir" --size "$psize" --points "$pts" --connections "$cn" --flows 1000 2>/dev/null
    cat "$dir"/*.pcap > /dev/null
    stages "$work/conns-$pts-$cn.json" "$dir"/*.pcap
    found=$(python3 -c 'import json,sys; print(sum(f["origin"]["protocol"] != "icmp" for f in json.load(open(sys.argv[1]))["flows"]))' "$work/conns-$pts-$cn.json")
    n=$(best "$bin" --format json "$dir"/*.pcap)
    nt=$(best "$bin" --format json --protocol tcp,udp "$dir"/*.pcap)
    ni=$(best "$bin" --format json --protocol icmp "$dir"/*.pcap)
    t=$(best "$tcpdump_all" "$dir" "$filter_all")
    label="$pts × $psize"
    echo "| $label | $cn | $found | $(ms 'read and decode') ms | $(ms correlate) ms | $(ms 'clock offsets') ms | $(ms infer) ms | $(ms report) ms | $n s | $rss MB | $nt s | $ni s | $(peak "$bin" --format json --protocol icmp "$dir"/*.pcap) MB | $t s | $(ratio "$t" "$n") |"
  done
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
    rss=$(peak "$bin" --format json "$dir"/*)
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
