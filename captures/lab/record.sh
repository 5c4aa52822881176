#!/usr/bin/env bash
# record.sh OUTDIR [SCENARIO...|all]
# record.sh OUTDIR dumps [SCENARIO...|all]      (or: record.sh --dumps-only OUTDIR ...)
#
# Rebuilds the OpenStack Neutron path from the engineer's notes
# (VM -> qrouter SNAT -> l3agent MASQUERADE -> destination) in throw-away
# network namespaces, sends ICMP/TCP/UDP through it and captures every interface at once
# with one tcpdump per interface. Writes OUTDIR/<scenario>/<point>.pcap plus the rule and
# address dumps (<ns>.iptables-save, <ns>.ip6tables-save, <ns>.nft.json, <ns>.ip-addr.txt)
# and checks the packet counts per point. The dumps mode builds each scenario, writes only
# the dumps (no traffic, no pcaps touched) and tears down. See captures/lab/README.md.
#
# Exit: 0 ok, 1 failure, 2 usage, 77 SKIP (no root / netns / iptables / tools).
set -euo pipefail

BASE_SCENARIOS=(plain same-id drop any)
EXTRA_SCENARIOS=(nft dnat ipv6 traceroute constant-payload bigping vxlan fragloss tcp same-port udp-drop dnat-tcp tcp-fail unreversed)

usage() {
  cat >&2 <<EOF
usage: $0 OUTDIR [SCENARIO...]
       $0 OUTDIR dumps [SCENARIO...]     (same as: $0 --dumps-only OUTDIR [SCENARIO...])
  scenarios: ${BASE_SCENARIOS[*]} ${EXTRA_SCENARIOS[*]}
  default:   ${BASE_SCENARIOS[*]}   ('all' = every scenario)
  writes OUTDIR/<scenario>/<point>.pcap (old *.pcap there are replaced) and the dumps
  <ns>.iptables-save, <ns>.ip6tables-save (ipv6), <ns>.nft.json (native nft rules),
  <ns>.ip-addr.txt; 'dumps' writes only the dumps and leaves the pcaps alone
EOF
  exit 2
}

log()  { echo "record.sh: $*" >&2; }
die()  { echo "record.sh: ERROR: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }

# ---------------------------------------------------------------- arguments
DUMPS_ONLY=0
if [[ ${1:-} == --dumps-only ]]; then DUMPS_ONLY=1; shift; fi
[[ $# -ge 1 && $1 != -* ]] || usage
OUTDIR=$1; shift
if [[ ${1:-} == dumps || ${1:-} == --dumps-only ]]; then DUMPS_ONLY=1; shift; fi
SCENARIOS=("$@")
[[ ${#SCENARIOS[@]} -gt 0 ]] || SCENARIOS=("${BASE_SCENARIOS[@]}")
if [[ ${SCENARIOS[*]} == all ]]; then SCENARIOS=("${BASE_SCENARIOS[@]}" "${EXTRA_SCENARIOS[@]}"); fi
for s in "${SCENARIOS[@]}"; do
  [[ " ${BASE_SCENARIOS[*]} ${EXTRA_SCENARIOS[*]} " == *" $s "* ]] || { echo "unknown scenario: $s" >&2; usage; }
done

# ---------------------------------------------------------------- preflight
[[ $EUID -eq 0 ]] || skip "must run as root (network namespaces, iptables, tcpdump)"
for tool in ip tcpdump ping iptables ip6tables iptables-save ip6tables-save sysctl awk; do
  command -v "$tool" >/dev/null || skip "missing tool: $tool"
done
# python3 runs the servers and clients of the tcp/udp scenarios (checked there). The system
# interpreter is preferred: a pyenv shim in PATH would add a slow wrapper in front of it.
PY=/usr/bin/python3; [[ -x $PY ]] || PY=$(command -v python3 || true)
# -e IDENT is needed for same-id and for fixed ids elsewhere (iputils >= 20210202).
ping -V 2>&1 | grep -q iputils || skip "ping is not iputils ping (need -e IDENT)"

# ---------------------------------------------------------------- constants
# Interface names are the capture-point names natcorr derives from file names.
HA="ha-2b8cf5e0-b1"     # qrouter, VM-facing port
QG="qg-0aeca8b7-8a"     # qrouter, gateway port (SNAT out of here)
EX="ex-l3dngw"          # l3agent, towards the qrouters
UP="eth2.106"           # l3agent, uplink (MASQUERADE out of here)
VM1_IP=192.168.65.125 VM2_IP=192.168.65.126 HA_IP=192.168.65.124
QG_IP=169.254.43.17 EX_IP=169.254.0.1
UP_IP=198.51.100.34 DLINK_IP=198.51.100.1 DST_IP=203.0.113.234
FIP=198.51.100.50 FIP_MID=169.254.43.50     # dnat: floating IP outside / on the qg- link
V6_VM=fd00:65::125 V6_HA=fd00:65::124 V6_QG=fd00:a9fe::17 V6_EX=fd00:a9fe::1
V6_UP=2001:db8:106::34 V6_DLINK=2001:db8:106::1 V6_DST=2001:db8:feed::234
UL_L3=192.0.2.1 UL_DST=192.0.2.2            # vxlan underlay
NOREV_IP=198.51.100.200                     # unreversed: the l3agent's SNAT address (not its own)
FAR_GW=203.0.113.1                          # traceroute: dest becomes a router

P="nc-$$-"               # namespace prefix: unique per run, so parallel runs never collide
NAMESPACES=()            # namespaces of the current scenario (deleted by teardown)
PIDS=()                  # our background processes still running (killed by teardown)
CAP_PIDS=() POINTS=() PING_PIDS=() FAILS=() PING_SEQ=0 PY_PIDS=() SRV_PIDS=() CAPFILTER=
TMP=$(mktemp -d /tmp/natcorr-lab.XXXXXX)

nsx() { local n=$1; shift; ip netns exec "$P$n" "$@"; }

forget() { local i; for i in "${!PIDS[@]}"; do [[ ${PIDS[i]} != "$1" ]] || unset 'PIDS[i]'; done; }

teardown() {
  local pid ns
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  NAMESPACES=()
  # Namespaces a dumps-mode subshell made are not in this shell's list: the prefix is ours alone.
  for ns in $(ip netns list 2>/dev/null | awk -v p="$P" 'index($1, p) == 1 { print $1 }'); do
    ip netns del "$ns" 2>/dev/null || true
  done
}

on_exit() {
  local rc=$?
  teardown
  rm -rf "$TMP"
  exit "$rc"
}
trap on_exit EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# Probe once in a scratch namespace so a missing kernel feature is a SKIP, not a failure.
probe() {
  local ns=${P}probe
  ip netns add "$ns" 2>/dev/null || skip "cannot create network namespaces (ip netns add)"
  NAMESPACES+=("$ns")
  ip -n "$ns" link add name p0 type veth peer name p1 2>/dev/null || skip "no veth support"
  ip -n "$ns" link add name b0 type bridge 2>/dev/null || skip "no bridge support"
  ip netns exec "$ns" iptables -t nat -A POSTROUTING -o p0 -j MASQUERADE 2>/dev/null \
    || skip "iptables nat (MASQUERADE) not usable in a namespace"
  ip -n "$ns" link set lo up
  ip netns exec "$ns" ping -n -q -c 1 -W 1 -e 4242 127.0.0.1 >/dev/null 2>&1 \
    || skip "ping -e IDENT does not work inside a namespace"
  teardown
}

# ---------------------------------------------------------------- topology
# mkns NAME [v4]: fresh namespace; IPv6 off (no ND/MLD noise) unless the scenario is ipv6.
mkns() {
  local ns=$P$1
  ip netns add "$ns"
  NAMESPACES+=("$ns")
  ip -n "$ns" link set lo up
  if (( ! IPV6 )) || [[ ${2:-} == v4 ]]; then
    nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  else
    # No DAD: a router whose link-local is still tentative holds forwarded packets in its ND
    # queue (seen: all 5 requests stuck ~2 s in qrouter until DAD finished).
    nsx "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  fi
}

# veth NS_A IF_A MAC_A NS_B IF_B MAC_B: veth pair with fixed MACs (reproducible frames), both up.
veth() {
  ip -n "$P$1" link add name "$2" address "$3" type veth peer name "$5" address "$6" netns "$P$4"
  ip -n "$P$1" link set "$2" up
  ip -n "$P$4" link set "$5" up
}

router() { nsx "$1" sysctl -qw net.ipv4.ip_forward=1; if (( IPV6 )); then nsx "$1" sysctl -qw net.ipv6.conf.all.forwarding=1; fi; }

# point NS IF FILE: capture IF inside NS into FILE.pcap
point() { POINTS+=("$1:$2:$3"); }

# build: the path from the notes. Flags: VM2 (second VM), IPV6, VXLAN (eth2.106<->eth1 as
# VXLAN over an underlay veth), FAR (203.0.113.234 moves one router further, behind dest).
build() {
  POINTS=()
  mkns vm1; if (( VM2 )); then mkns vm2; fi
  mkns br v4; mkns qr; mkns l3; mkns dst; if (( FAR )); then mkns far; fi

  # L2 segment of the tenant network: a bridge in its own namespace, like the OVS integration bridge.
  ip -n "$P"br link add name br0 type bridge mcast_snooping 0   # no IGMP snooper reports from br0
  ip -n "$P"br link set br0 up
  veth vm1 eth0 fa:16:3e:00:00:7d br vm1 02:00:00:00:01:01
  if (( VM2 )); then veth vm2 eth0 fa:16:3e:00:00:7e br vm2 02:00:00:00:01:02; fi
  veth qr "$HA" fa:16:3e:8e:51:d7 br ha 02:00:00:00:01:03
  ip -n "$P"br link set vm1 master br0
  ip -n "$P"br link set ha master br0
  if (( VM2 )); then ip -n "$P"br link set vm2 master br0; fi

  veth qr "$QG" 00:16:3e:fe:2b:11 l3 "$EX" 00:16:3e:fe:00:01
  if (( VXLAN )); then
    veth l3 underlay 02:00:00:00:02:01 dst underlay 02:00:00:00:02:02
    ip -n "$P"l3 addr add "$UL_L3/24" dev underlay
    ip -n "$P"dst addr add "$UL_DST/24" dev underlay
    # noudpcsum: outer UDP checksum 0 (RFC 7348 style). With udpcsum the sender-side capture
    # holds only the offload pseudo-header sum, which every checker flags as bad.
    ip -n "$P"l3 link add name "$UP" address ec:f4:bb:c8:e1:0c type vxlan id 106 dstport 4789 \
      local "$UL_L3" remote "$UL_DST" dev underlay noudpcsum
    ip -n "$P"dst link add name eth1 address 00:00:5e:00:01:01 type vxlan id 106 dstport 4789 \
      local "$UL_DST" remote "$UL_L3" dev underlay noudpcsum
    ip -n "$P"l3 link set "$UP" up
    ip -n "$P"dst link set eth1 up
  else
    veth l3 "$UP" ec:f4:bb:c8:e1:0c dst eth1 00:00:5e:00:01:01
  fi

  # VMs
  ip -n "$P"vm1 addr add "$VM1_IP/23" dev eth0
  ip -n "$P"vm1 route add default via "$HA_IP"
  if (( VM2 )); then
    ip -n "$P"vm2 addr add "$VM2_IP/23" dev eth0
    ip -n "$P"vm2 route add default via "$HA_IP"
  fi

  # qrouter: tenant SNAT to its gateway-port address
  router qr
  ip -n "$P"qr addr add "$HA_IP/23" dev "$HA"
  ip -n "$P"qr addr add "$QG_IP/18" dev "$QG"
  ip -n "$P"qr route add default via "$EX_IP"
  if (( NFT )); then
    # The same SNAT as a native nftables rule (the nft scenario: explained from `nft -j`).
    nsx qr nft -f - <<EOF_NFT
table ip natcorr {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 192.168.64.0/23 oifname "$QG" snat to $QG_IP
  }
}
EOF_NFT
  else
    nsx qr iptables -t nat -A POSTROUTING -s 192.168.64.0/23 -o "$QG" -j SNAT --to-source "$QG_IP"
  fi

  # l3agent: masquerade everything from the 169.254 transfer net that leaves towards the uplink
  router l3
  ip -n "$P"l3 addr add "$EX_IP/18" dev "$EX"
  ip -n "$P"l3 addr add "$UP_IP/25" dev "$UP"
  ip -n "$P"l3 route add 203.0.113.0/24 via "$DLINK_IP"
  if (( NFT )); then
    nsx l3 nft -f - <<EOF_NFT
table ip natcorr {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 169.254.0.0/18 oifname != "$EX" masquerade
  }
}
EOF_NFT
  else
    nsx l3 iptables -t nat -A POSTROUTING -s 169.254.0.0/18 ! -o "$EX" -j MASQUERADE
  fi

  # destination
  ip -n "$P"dst addr add "$DLINK_IP/25" dev eth1
  if (( FAR )); then
    router dst
    veth dst eth2 00:00:5e:00:01:03 far eth0 52:54:00:12:34:56
    ip -n "$P"dst addr add "$FAR_GW/24" dev eth2
    ip -n "$P"far addr add "$DST_IP/24" dev eth0
    ip -n "$P"far route add default via "$FAR_GW"
  else
    ip -n "$P"dst addr add "$DST_IP/32" dev eth1
  fi

  if (( IPV6 )); then
    # nodad: addresses usable at once; NAT66 only on the l3agent hop (Neutron does not NAT v6).
    ip -n "$P"vm1 -6 addr add "$V6_VM/64" dev eth0 nodad
    ip -n "$P"vm1 -6 route add default via "$V6_HA"
    ip -n "$P"qr -6 addr add "$V6_HA/64" dev "$HA" nodad
    ip -n "$P"qr -6 addr add "$V6_QG/64" dev "$QG" nodad
    ip -n "$P"qr -6 route add default via "$V6_EX"
    ip -n "$P"l3 -6 addr add "$V6_EX/64" dev "$EX" nodad
    ip -n "$P"l3 -6 addr add "$V6_UP/64" dev "$UP" nodad
    ip -n "$P"l3 -6 route add 2001:db8:feed::/48 via "$V6_DLINK"
    ip -n "$P"l3 -6 route add fd00:65::/64 via "$V6_QG"
    nsx l3 ip6tables -t nat -A POSTROUTING -s fd00::/8 ! -o "$EX" -j MASQUERADE
    ip -n "$P"dst -6 addr add "$V6_DLINK/64" dev eth1 nodad
    ip -n "$P"dst -6 addr add "$V6_DST/128" dev eth1 nodad
  fi

  point vm1 eth0 vm1-eth0
  if (( VM2 )); then point vm2 eth0 vm2-eth0; fi
  point qr "$HA" "$HA"; point qr "$QG" "$QG"
  point l3 "$EX" "$EX"; point l3 "$UP" "$UP"
  if (( VXLAN )); then point l3 underlay underlay; fi
  point dst eth1 dest-eth1
  if (( FAR )); then point dst eth2 dest-eth2; point far eth0 far-eth0; fi
  if (( CSUM_OFF )); then csum_off; fi
}

# csum_off: no TX checksum offload on any interface of the scenario. A veth hands locally sent
# TCP/UDP on as CHECKSUM_PARTIAL (only the pseudo-header sum in the packet), the routers forward
# it so, and then every point, not only the sender's, records a wrong TCP/UDP checksum (seen:
# tshark flagged all of them). With "tx off" the sender's stack computes the full sum and the
# NATs update it. ICMP is always summed in software, so the ping scenarios do not need this.
csum_off() {
  local ns ifc
  for ns in "${NAMESPACES[@]}"; do
    for ifc in $(ip -n "$ns" -o link show | awk -F': ' '{ sub(/@.*/, "", $2); if ($2 != "lo") print $2 }'); do
      ip netns exec "$ns" ethtool -K "$ifc" tx off >/dev/null
    done
  done
}

# ---------------------------------------------------------------- rule and address dumps
# The names a person knows the namespaces by (the script's own are nc-<pid>-<short>).
dump_name() { case $1 in qr) echo qrouter ;; l3) echo l3agent ;; dst) echo dest ;; br) echo bridge ;; *) echo "$1" ;; esac; }

# native_nft NS: nft tables in NS that iptables-nft did not create ("family name" per line).
# nft warns about the tables iptables-nft manages, but only about those holding an xt
# (compat) expression: a table of rules nft can express natively (tcp-fail's l3agent filter,
# `-p tcp --syn --dport 8081 -j DROP`) gets no warning. So the tables iptables-save and
# ip6tables-save list ("*filter") are left out as well.
native_nft() {
  local managed
  managed=$(nsx "$1" nft list ruleset 2>&1 >/dev/null |
    sed -n 's/^# Warning: table \(.*\) is managed by iptables-nft.*/\1/p'
    nsx "$1" iptables-save | sed -n 's/^\*/ip /p'
    nsx "$1" ip6tables-save | sed -n 's/^\*/ip6 /p')
  nsx "$1" nft list tables | sed 's/^table //' | grep -vxF -f <(printf '%s\n' "$managed") || true
}

# write_dumps: for each namespace of the scenario, its rules and addresses beside the pcaps:
# <name>.ip-addr.txt (ip -o addr), <name>.iptables-save, <name>.ip6tables-save (ipv6 only),
# <name>.nft.json (nft -j list ruleset, only where native nft tables exist). Interface names
# are the real ones, i.e. the capture-point names (vm1's eth0 is point vm1-eth0, dest's eth1
# dest-eth1). The bridge namespace has no addresses and is dumped only when it holds rules.
# Called after every rule is in place and before any traffic, so all counters are 0.
write_dumps() {
  local ns n name native
  mkdir -p "$DIR"
  rm -f "$DIR"/*.iptables-save "$DIR"/*.ip6tables-save "$DIR"/*.nft.json "$DIR"/*.ip-addr.txt
  for ns in "${NAMESPACES[@]}"; do
    n=${ns#"$P"}
    name=$(dump_name "$n")
    native=
    if command -v nft >/dev/null; then native=$(native_nft "$n"); fi
    if [[ $n == br && -z $native && -z $(nsx br iptables-save) ]]; then continue; fi
    nsx "$n" ip -o addr >"$DIR/$name.ip-addr.txt"
    nsx "$n" iptables-save >"$DIR/$name.iptables-save"
    if (( IPV6 )); then nsx "$n" ip6tables-save >"$DIR/$name.ip6tables-save"; fi
    if [[ -n $native ]]; then nsx "$n" nft -j list ruleset >"$DIR/$name.nft.json"; fi
  done
  log "$SCN: dumps: $(cd "$DIR" && ls -- *.ip-addr.txt *.iptables-save *.ip6tables-save *.nft.json 2>/dev/null | tr '\n' ' ')"
}

# ---------------------------------------------------------------- capture
# start_captures: the scenario's rules are all in place here, so the dumps are written first.
# In dumps mode (run in a subshell) this is where the scenario ends: no captures, no traffic.
start_captures() {
  local spec ns ifc file pid deadline extra
  write_dumps
  if (( DUMPS_ONLY )); then teardown; exit 0; fi
  mkdir -p "$DIR"
  rm -f "$DIR"/*.pcap
  CAP_PIDS=()
  for spec in "${POINTS[@]}"; do
    IFS=: read -r ns ifc file <<<"$spec"
    extra=()
    # One point records nanosecond pcap so the set mixes µs and ns files.
    if [[ $ifc == "$UP" ]]; then extra=(--time-stamp-precision nano); fi
    # -Z root: Debian's tcpdump would otherwise drop to user tcpdump and chown the files to it.
    # --immediate-mode: with TPACKET_V3 frames wait up to 1 s in a ring block, and a SIGINT
    # then loses them (seen: the last request/reply of a run missing).
    # CAPFILTER: empty (no filter) for the ICMP scenarios; the tcp/udp ones set one.
    ip netns exec "$P$ns" tcpdump -i "$ifc" -n -U --immediate-mode -Z root "${extra[@]}" \
      -w "$DIR/$file.pcap" ${CAPFILTER:+"$CAPFILTER"} 2>"$TMP/$file.err" &
    pid=$!; PIDS+=("$pid"); CAP_PIDS+=("$pid:$file")
  done
  deadline=$((SECONDS + 10))
  for spec in "${CAP_PIDS[@]}"; do
    pid=${spec%%:*} file=${spec#*:}
    until grep -q 'listening on' "$TMP/$file.err"; do
      kill -0 "$pid" 2>/dev/null || die "tcpdump for $file exited: $(cat "$TMP/$file.err")"
      (( SECONDS < deadline )) || die "tcpdump for $file did not start listening"
      sleep 0.05
    done
  done
}

stop_captures() {
  local spec pid
  sleep 0.5   # let the last replies cross every point
  for spec in "${CAP_PIDS[@]}"; do kill -INT "${spec%%:*}"; done
  for spec in "${CAP_PIDS[@]}"; do
    pid=${spec%%:*}
    wait "$pid" || die "tcpdump for ${spec#*:} exited with $?: $(cat "$TMP/${spec#*:}.err")"
    forget "$pid"
  done
  CAP_PIDS=()
}

# ping_bg NS ARGS...: ping from NS in the background (output kept for error messages)
ping_bg() {
  local n=$1; shift
  local out=$TMP/ping.$n.$((++PING_SEQ))
  # ip netns exec directly (not nsx): $! must be ping itself, so teardown can kill it.
  ip netns exec "$P$n" ping -n "$@" >"$out" 2>&1 &
  PIDS+=("$!"); PING_PIDS+=("$!:$out")
}

# wait_pings: rc 1 (some/all replies missing) is expected in drop/traceroute; 2 is a real error.
wait_pings() {
  local spec pid out rc
  for spec in "${PING_PIDS[@]}"; do
    pid=${spec%%:*} out=${spec#*:}
    rc=0; wait "$pid" || rc=$?
    forget "$pid"
    (( rc <= 1 )) || die "ping failed (rc $rc): $(cat "$out")"
    log "  ping ${out##*/ping.}: $(grep -m 1 'transmitted' "$out" || echo '(no summary)')"
  done
  PING_PIDS=()
}

# ---------------------------------------------------------------- checks
# count POINT FILTER: frames in POINT's pcap matching the BPF FILTER
# (counts only lines starting with a -tt timestamp: ICMP errors and VXLAN print 2+ lines per frame)
count() {
  local out
  out=$(tcpdump -n -tt -r "$DIR/$1.pcap" "$2" 2>"$TMP/count.err") \
    || die "tcpdump -r $DIR/$1.pcap '$2' failed: $(cat "$TMP/count.err")"
  grep -cE '^[0-9]+\.[0-9]+ ' <<<"$out" || true
}

# expect POINT N FILTER: exactly N frames must match (failures are collected, reported at the end)
expect() {
  local got; got=$(count "$1" "$3")
  if (( got != $2 )); then FAILS+=("$1: expected $2 x [$3], got $got"); fi
}

# echoes POINT NREQ NREP SRC DST [ID]: IPv4 echo requests SRC->DST and replies DST->SRC
echoes() {
  local idf=${6:+ and icmp[4:2] = $6}
  expect "$1" "$2" "icmp[icmptype] = icmp-echo and src $4 and dst $5$idf"
  expect "$1" "$3" "icmp[icmptype] = icmp-echoreply and src $5 and dst $4$idf"
}

# outbound NREQ NREQ_OUT NREP ID: vm1's echoes at all six points, with the source each NAT gives
# them; NREQ requests up to ex-l3dngw, NREQ_OUT from eth2.106 on, NREP replies everywhere.
outbound() {
  echoes vm1-eth0 "$1" "$3" "$VM1_IP" "$DST_IP" "$4"; echoes "$HA" "$1" "$3" "$VM1_IP" "$DST_IP" "$4"
  echoes "$QG" "$1" "$3" "$QG_IP" "$DST_IP" "$4";    echoes "$EX" "$1" "$3" "$QG_IP" "$DST_IP" "$4"
  echoes "$UP" "$2" "$3" "$UP_IP" "$DST_IP" "$4";    echoes dest-eth1 "$2" "$3" "$UP_IP" "$DST_IP" "$4"
}

# first_id POINT FILTER: ICMP echo id of the first frame matching FILTER
first_id() { tcpdump -n -r "$DIR/$1.pcap" -c 1 "$2" 2>/dev/null | sed -n 's/.*, id \([0-9]*\), seq.*/\1/p'; }

# every capture must exist, be readable and hold frames; no ICMPv6 unless the scenario enables IPv6
check_files() {
  local spec file
  for spec in "${POINTS[@]}"; do
    file=${spec##*:}
    [[ -s $DIR/$file.pcap ]] || die "$DIR/$file.pcap is missing or empty"
    [[ $(count "$file" "") -gt 0 ]] || die "$DIR/$file.pcap holds no frames"
    if (( ! IPV6 )); then expect "$file" 0 ip6; fi
  done
}

finish() {
  local spec file
  check_files
  log "$SCN: frames per point (all / icmp+icmp6 / tcp / udp):"
  for spec in "${POINTS[@]}"; do
    file=${spec##*:}
    log "$(printf '  %-16s %4d / %4d / %4d / %4d' "$file" "$(count "$file" "")" \
      "$(count "$file" 'icmp or icmp6')" "$(count "$file" tcp)" "$(count "$file" udp)")"
  done
  if (( CSUM_OFF )); then
    # tcpdump -vv verifies TCP/UDP checksums; none may be "incorrect" (see csum_off)
    local bad
    for spec in "${POINTS[@]}"; do
      file=${spec##*:}
      bad=$(tcpdump -n -vv -r "$DIR/$file.pcap" 'tcp or udp' 2>/dev/null | grep -c 'incorrect' || true)
      (( bad == 0 )) || FAILS+=("$file: $bad TCP/UDP checksum(s) incorrect")
    done
  fi
  if (( ${#FAILS[@]} )); then
    printf 'record.sh: FAIL %s\n' "${FAILS[@]}" >&2
    die "$SCN: ${#FAILS[@]} check(s) failed; captures left in $DIR for inspection"
  fi
  log "$SCN: all checks passed -> $DIR"
}

# hexpkts POINT FILTER: one line per matching frame, the IP packet as hex
hexpkts() {
  tcpdump -n -r "$DIR/$1.pcap" -x "$2" 2>/dev/null |
    awk '/^[0-9]/ { if (h != "") print h; h = ""; next } { for (i = 2; i <= NF; i++) h = h $i } END { if (h != "") print h }'
}

# ---------------------------------------------------------------- scenarios
# Each scenario: fresh namespaces (so fresh conntrack), captures, traffic, checks, teardown.

scn_plain() {
  build; start_captures
  ping_bg vm1 -c 5 -i 0.2 -W 1 "$DST_IP"
  wait_pings; stop_captures
  local id; id=$(first_id vm1-eth0 'icmp[icmptype] = icmp-echo')
  [[ -n $id ]] || die "plain: no echo request at vm1-eth0"
  outbound 5 5 5 "$id"
  local p; for p in vm1-eth0 "$HA" "$QG" "$EX" "$UP" dest-eth1; do expect "$p" 10 icmp; done
  log "plain: echo id $id (unchanged along the path)"
}

# The plain ping with both NATs written as native nftables rules instead of iptables.
scn_nft() {
  scn_plain
}

scn_same_id() {
  build; start_captures
  # vm2 starts 0.1 s later: two *simultaneous* first packets race in conntrack, both get NATed
  # to id 4242 while unconfirmed and the loser is dropped (seen here: vm2's seq 1 lost).
  ping_bg vm1 -c 5 -i 0.2 -W 1 -e 4242 "$DST_IP"
  sleep 0.1
  ping_bg vm2 -c 5 -i 0.2 -W 1 -e 4242 "$DST_IP"
  wait_pings; stop_captures
  echoes vm1-eth0 5 5 "$VM1_IP" "$DST_IP" 4242; echoes vm2-eth0 5 5 "$VM2_IP" "$DST_IP" 4242
  echoes "$HA" 5 5 "$VM1_IP" "$DST_IP" 4242;    echoes "$HA" 5 5 "$VM2_IP" "$DST_IP" 4242
  # Both flows leave as 169.254.43.17 -> 203.0.113.234 id 4242: conntrack must move one to another id.
  local other p
  other=$(first_id "$QG" 'icmp[icmptype] = icmp-echo and icmp[4:2] != 4242')
  [[ -n $other ]] || { FAILS+=("$QG: no echo request with an id other than 4242"); finish; }
  for p in "$QG" "$EX"; do
    echoes "$p" 5 5 "$QG_IP" "$DST_IP" 4242; echoes "$p" 5 5 "$QG_IP" "$DST_IP" "$other"
  done
  for p in "$UP" dest-eth1; do
    echoes "$p" 5 5 "$UP_IP" "$DST_IP" 4242; echoes "$p" 5 5 "$UP_IP" "$DST_IP" "$other"
  done
  for p in vm1-eth0 vm2-eth0; do expect "$p" 10 icmp; done
  for p in "$HA" "$QG" "$EX" "$UP" dest-eth1; do expect "$p" 20 icmp; done
  # Which VM was rewritten: follow vm1's first request by its payload (ping's timeval) to qg-.
  local v1 id1
  v1=$(hexpkts vm1-eth0 'icmp[icmptype] = icmp-echo' | head -n 1 | cut -c57-88)
  id1=$(hexpkts "$QG" 'icmp[icmptype] = icmp-echo' | grep -m 1 "^.\{56\}$v1" | cut -c49-52 || true)
  [[ -n $id1 ]] || FAILS+=("$QG: vm1's first request (payload $v1) not found")
  if [[ -n $id1 ]] && (( 16#$id1 == 4242 )); then
    log "same-id: vm1 ($VM1_IP) keeps id 4242; vm2 ($VM2_IP) id 4242 -> $other on $HA -> $QG"
  else
    log "same-id: vm2 ($VM2_IP) keeps id 4242; vm1 ($VM1_IP) id 4242 -> $other on $HA -> $QG"
  fi
}

# any: like plain, but the qrouter is captured with `tcpdump -i any` (Linux SLL2, one file
# holding both of its ports): the same packet before and after SNAT is in one file.
scn_any() {
  build
  local kept=() spec
  for spec in "${POINTS[@]}"; do [[ $spec == qr:* ]] || kept+=("$spec"); done
  POINTS=("${kept[@]}" "qr:any:qrouter-any")
  start_captures
  ping_bg vm1 -c 5 -i 0.2 -W 1 -e 4343 "$DST_IP"
  wait_pings; stop_captures
  echoes vm1-eth0 5 5 "$VM1_IP" "$DST_IP" 4343
  echoes qrouter-any 5 5 "$VM1_IP" "$DST_IP" 4343; echoes qrouter-any 5 5 "$QG_IP" "$DST_IP" 4343
  echoes "$EX" 5 5 "$QG_IP" "$DST_IP" 4343; echoes dest-eth1 5 5 "$UP_IP" "$DST_IP" 4343
  expect qrouter-any 20 icmp
  local lt; lt=$(tcpdump -r "$DIR/qrouter-any.pcap" -c 1 2>&1 >/dev/null | sed -n 's/.*link-type \([A-Z0-9_]*\).*/\1/p')
  [[ $lt == LINUX_SLL2 ]] || FAILS+=("qrouter-any: link type $lt, expected LINUX_SLL2")
  log "any: qrouter captured with -i any as $lt"
}

# fragloss: big pings whose second fragment the tenant bridge drops (nftables, bridge family:
# no conntrack there, so fragments are not reassembled first). The qrouter never completes the
# datagram: the requests die there, and the missing fragment is lost between vm1 and ha-.
scn_fragloss() {
  command -v nft >/dev/null || skip "fragloss needs nft (nftables)"
  build
  nsx br nft add table bridge natcorr
  nsx br nft 'add chain bridge natcorr fragdrop { type filter hook forward priority 0; }'
  # 3008-byte datagrams, MTU 1500: fragments at offsets 0, 1480 (185 * 8) and 2960.
  nsx br nft "add rule bridge natcorr fragdrop ip saddr $VM1_IP ip protocol icmp ip frag-off & 0x1fff == 185 drop"
  start_captures
  ping_bg vm1 -c 3 -i 0.2 -W 1 -s 3000 -e 3100 "$DST_IP"
  wait_pings
  # One small ping that does get through, so every point has traffic.
  ping_bg vm1 -c 1 -W 1 -e 3101 "$DST_IP"
  wait_pings; stop_captures
  local frags="ip[6:2] & 0x1fff != 0 and ip[9] = 1"
  expect vm1-eth0 9 "(icmp and icmp[4:2] = 3100) or ($frags)"
  expect "$HA" 6 "(icmp and icmp[4:2] = 3100) or ($frags)"
  expect "$QG" 0 "icmp and icmp[4:2] = 3100"
  echoes "$QG" 1 1 "$QG_IP" "$DST_IP" 3101
  log "fragloss: 3 requests of 3 fragments left vm1; 2 of each reached $HA; none left the qrouter"
}

scn_drop() {
  build
  # Half the requests entering from the qrouters die in l3agent's FORWARD chain; with
  # --packet 0 the nth counter matches the 1st, 3rd, 5th request (seq 1, 3, 5 dropped).
  nsx l3 iptables -I FORWARD -i "$EX" -p icmp --icmp-type echo-request \
    -m statistic --mode nth --every 2 --packet 0 -j DROP
  start_captures
  ping_bg vm1 -c 6 -i 0.2 -W 1 "$DST_IP"
  wait_pings; stop_captures
  local id; id=$(first_id vm1-eth0 'icmp[icmptype] = icmp-echo')
  [[ -n $id ]] || die "drop: no echo request at vm1-eth0"
  outbound 6 3 3 "$id"
  local seqs; seqs=$(tcpdump -n -r "$DIR/$UP.pcap" 'icmp[icmptype] = icmp-echo' 2>/dev/null |
    sed -n 's/.*seq \([0-9]*\),.*/\1/p' | tr '\n' ' ')
  log "drop: echo id $id; requests passing $EX -> $UP: seq ${seqs% }"
}

# floating_ip: Neutron style: the address sits on the outer port, DNAT in, SNAT out (1:1).
floating_ip() {
  ip -n "$P"l3 addr add "$FIP/32" dev "$UP"
  nsx l3 iptables -t nat -A PREROUTING -d "$FIP" -j DNAT --to-destination "$FIP_MID"
  nsx l3 iptables -t nat -I POSTROUTING -s "$FIP_MID" ! -o "$EX" -j SNAT --to-source "$FIP"
  ip -n "$P"qr addr add "$FIP_MID/32" dev "$QG"
  nsx qr iptables -t nat -A PREROUTING -d "$FIP_MID" -j DNAT --to-destination "$VM1_IP"
  nsx qr iptables -t nat -I POSTROUTING -s "$VM1_IP" -o "$QG" -j SNAT --to-source "$FIP_MID"
}

scn_dnat() {
  build; floating_ip
  start_captures
  # Inbound (outside host -> floating IP) and outbound (VM -> outside) at the same time.
  ping_bg dst -c 5 -i 0.2 -W 1 -e 2050 -I "$DST_IP" "$FIP"
  ping_bg vm1 -c 5 -i 0.2 -W 1 -e 2125 "$DST_IP"
  wait_pings; stop_captures
  local p
  for p in dest-eth1 "$UP"; do
    echoes "$p" 5 5 "$DST_IP" "$FIP" 2050; echoes "$p" 5 5 "$FIP" "$DST_IP" 2125; done
  for p in "$EX" "$QG"; do
    echoes "$p" 5 5 "$DST_IP" "$FIP_MID" 2050; echoes "$p" 5 5 "$FIP_MID" "$DST_IP" 2125; done
  for p in "$HA" vm1-eth0; do
    echoes "$p" 5 5 "$DST_IP" "$VM1_IP" 2050; echoes "$p" 5 5 "$VM1_IP" "$DST_IP" 2125; done
  for p in vm1-eth0 "$HA" "$QG" "$EX" "$UP" dest-eth1; do expect "$p" 20 icmp; done
}

# unreversed: replies the NATs do not translate back (a lost conntrack entry, an asymmetric
# path). The l3agent SNATs the echoes to an address it does not own, and its raw table takes
# the replies out of connection tracking: they keep destination NOREV_IP, are routed back to
# the qrouter (whose conntrack does not know them either) and on to the VM, untranslated.
scn_unreversed() {
  build
  nsx l3 iptables -t nat -I POSTROUTING 1 -s 169.254.0.0/18 -o "$UP" -p icmp -j SNAT --to-source "$NOREV_IP"
  nsx l3 iptables -t raw -A PREROUTING -i "$UP" -p icmp --icmp-type echo-reply -j NOTRACK
  ip -n "$P"l3 route add "$NOREV_IP/32" via "$QG_IP" dev "$EX"
  ip -n "$P"qr route add "$NOREV_IP/32" via "$VM1_IP" dev "$HA"
  ip -n "$P"dst route add "$NOREV_IP/32" via "$UP_IP" dev eth1
  start_captures
  ping_bg vm1 -c 5 -i 0.2 -W 1 -e 3125 "$DST_IP"
  wait_pings; stop_captures
  local p
  echoes vm1-eth0 5 0 "$VM1_IP" "$DST_IP" 3125; echoes "$HA" 5 0 "$VM1_IP" "$DST_IP" 3125
  echoes "$QG" 5 0 "$QG_IP" "$DST_IP" 3125;    echoes "$EX" 5 0 "$QG_IP" "$DST_IP" 3125
  for p in "$UP" dest-eth1; do echoes "$p" 5 5 "$NOREV_IP" "$DST_IP" 3125; done
  for p in vm1-eth0 "$HA" "$QG" "$EX"; do
    expect "$p" 5 "icmp[icmptype] = icmp-echoreply and src $DST_IP and dst $NOREV_IP and icmp[4:2] = 3125"; done
  for p in vm1-eth0 "$HA" "$QG" "$EX" "$UP" dest-eth1; do expect "$p" 10 icmp; done
  log "unreversed: replies to $NOREV_IP at every point, none translated back"
}

scn_ipv6() {
  build; start_captures
  ping_bg vm1 -6 -c 5 -i 0.2 -W 1 -e 6125 "$V6_DST"
  wait_pings; stop_captures
  local p req='icmp6 and ip6[40] = 128 and ip6[44:2] = 6125' rep='icmp6 and ip6[40] = 129 and ip6[44:2] = 6125'
  for p in vm1-eth0 "$HA" "$QG" "$EX"; do
    expect "$p" 5 "$req and src $V6_VM and dst $V6_DST"; expect "$p" 5 "$rep and src $V6_DST and dst $V6_VM"; done
  for p in "$UP" dest-eth1; do
    expect "$p" 5 "$req and src $V6_UP and dst $V6_DST"; expect "$p" 5 "$rep and src $V6_DST and dst $V6_UP"; done
  for p in vm1-eth0 "$HA" "$QG" "$EX" "$UP" dest-eth1; do expect "$p" 0 icmp; done
}

scn_traceroute() {
  build
  # ping -t TTL -c 1 per hop (ids 7001..7004 = TTL + 7000); each router answers time-exceeded.
  start_captures
  local ttl
  for ttl in 1 2 3 4; do
    ping_bg vm1 -c 1 -W 1 -t "$ttl" -e $((7000 + ttl)) "$DST_IP"
    wait_pings
  done
  stop_captures
  local te='icmp[icmptype] = icmp-timxceed' req='icmp[icmptype] = icmp-echo' rep='icmp[icmptype] = icmp-echoreply'
  local vm=0xc0a8417d qg=0xa9fe2b11 up=0xc6336422   # inner (quoted) source: 192.168.65.125 / 169.254.43.17 / 198.51.100.34
  local p
  for p in vm1-eth0 "$HA"; do
    expect "$p" 4 "$req and src $VM1_IP"; expect "$p" 1 "$rep and dst $VM1_IP and icmp[4:2] = 7004"
    expect "$p" 1 "$te and src $HA_IP and dst $VM1_IP and icmp[20:4] = $vm and icmp[32:2] = 7001"
    expect "$p" 1 "$te and src $EX_IP and dst $VM1_IP and icmp[20:4] = $vm and icmp[32:2] = 7002"
    expect "$p" 1 "$te and src $DLINK_IP and dst $VM1_IP and icmp[20:4] = $vm and icmp[32:2] = 7003"
    expect "$p" 8 icmp
  done
  for p in "$QG" "$EX"; do
    expect "$p" 3 "$req and src $QG_IP"; expect "$p" 1 "$rep and dst $QG_IP and icmp[4:2] = 7004"
    expect "$p" 1 "$te and src $EX_IP and dst $QG_IP and icmp[20:4] = $qg and icmp[32:2] = 7002"
    expect "$p" 1 "$te and src $DLINK_IP and dst $QG_IP and icmp[20:4] = $qg and icmp[32:2] = 7003"
    expect "$p" 6 icmp
  done
  for p in "$UP" dest-eth1; do
    expect "$p" 2 "$req and src $UP_IP"; expect "$p" 1 "$rep and dst $UP_IP and icmp[4:2] = 7004"
    expect "$p" 1 "$te and src $DLINK_IP and dst $UP_IP and icmp[20:4] = $up and icmp[32:2] = 7003"
    expect "$p" 4 icmp
  done
  for p in dest-eth2 far-eth0; do
    echoes "$p" 1 1 "$UP_IP" "$DST_IP" 7004; expect "$p" 2 icmp
  done
}

scn_constant_payload() {
  build; start_captures
  # 8 data bytes, all 0xaa: no timestamp in the payload, both flows carry identical data.
  # The pattern is spelled out 8 times: iputils only writes whole patterns that fit, so with
  # "-s 8 -p aa" the payload would be aa 00 00 00 00 00 00 00.
  ping_bg vm1 -c 5 -i 0.2 -W 1 -s 8 -p aaaaaaaaaaaaaaaa -e 6001 "$DST_IP"
  ping_bg vm2 -c 5 -i 0.2 -W 1 -s 8 -p aaaaaaaaaaaaaaaa -e 6002 "$DST_IP"
  wait_pings; stop_captures
  local p aa='icmp[8:4] = 0xaaaaaaaa and icmp[12:4] = 0xaaaaaaaa and ip[2:2] = 36'
  echoes vm1-eth0 5 5 "$VM1_IP" "$DST_IP" 6001; echoes vm2-eth0 5 5 "$VM2_IP" "$DST_IP" 6002
  echoes "$HA" 5 5 "$VM1_IP" "$DST_IP" 6001;    echoes "$HA" 5 5 "$VM2_IP" "$DST_IP" 6002
  for p in "$QG" "$EX"; do echoes "$p" 5 5 "$QG_IP" "$DST_IP" 6001; echoes "$p" 5 5 "$QG_IP" "$DST_IP" 6002; done
  for p in "$UP" dest-eth1; do echoes "$p" 5 5 "$UP_IP" "$DST_IP" 6001; echoes "$p" 5 5 "$UP_IP" "$DST_IP" 6002; done
  for p in vm1-eth0 vm2-eth0; do expect "$p" 10 "$aa"; done
  for p in "$HA" "$QG" "$EX" "$UP" dest-eth1; do expect "$p" 20 "$aa"; done
}

scn_bigping() {
  build; start_captures
  # 3000 data bytes over MTU 1500: 3 IPv4 fragments (1480+1480+48) each way.
  ping_bg vm1 -c 3 -i 0.2 -W 1 -s 3000 -e 3000 "$DST_IP"
  wait_pings; stop_captures
  local p s frag='(ip[6:2] & 0x3fff) != 0'
  for p in vm1-eth0 "$HA" "$QG" "$EX" "$UP" dest-eth1; do
    case $p in
      vm1-eth0|"$HA") s=$VM1_IP ;; "$QG"|"$EX") s=$QG_IP ;; *) s=$UP_IP ;;
    esac
    echoes "$p" 3 3 "$s" "$DST_IP" 3000
    expect "$p" 9 "$frag and src $s and dst $DST_IP"
    expect "$p" 9 "$frag and src $DST_IP and dst $s"
  done
}

scn_vxlan() {
  build; start_captures
  ping_bg vm1 -c 5 -i 0.2 -W 1 -e 1060 "$DST_IP"
  wait_pings; stop_captures
  outbound 5 5 5 1060
  # Underlay: outer UDP/4789, inner ethertype IPv4 at udp[28], inner proto at udp[39], ICMP type at udp[50].
  local vx='udp port 4789 and udp[8:4] = 0x08000000 and udp[12:4] = 0x00006a00 and udp[28:2] = 0x0800 and udp[39] = 1'
  expect underlay 5 "$vx and src $UL_L3 and udp[50] = 8 and udp[54:2] = 1060"
  expect underlay 5 "$vx and src $UL_DST and udp[50] = 0 and udp[54:2] = 1060"
  expect underlay 0 icmp
  expect underlay 0 'udp port 4789 and udp[6:2] != 0'
}

# ---------------------------------------------------------------- tcp / udp: python3 programs
# Servers and clients are small python3 programs started as `ip netns exec NS python3 -c ...`
# in the background, so $! is the python process itself (ip netns exec execs it).

# HTTP/1.0 server: ADDR PORT. Fixed small text body; status, headers and body leave in one
# segment (buffered wfile), the server closes first (HTTP/1.0). server_bind skips HTTPServer's
# socket.getfqdn(): that reverse DNS query went to the host's resolver (seen in dnat-tcp, where
# the VM has a default route; the l3agent answered "net unreachable").
PY_HTTPD=$(cat <<'PYEOF'
import socketserver, sys, http.server
class S(http.server.ThreadingHTTPServer):
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
class H(http.server.BaseHTTPRequestHandler):
    wbufsize = -1
    def version_string(self): return "natcorr-lab"
    def log_message(self, *args): pass
    def do_GET(self):
        body = ("hello %s from %s\n" % (self.path, self.server.server_address[0])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
s = S((sys.argv[1], int(sys.argv[2])), H)
print("ready", flush=True)
s.serve_forever()
PYEOF
)

# HTTP/1.0 client: DST PORT SRC HOLD LABEL SPORT...: one connection per SPORT (bound to
# SRC:SPORT, 0.2 s apart), each waits HOLD s after the handshake, sends GET /LABEL/<n>, reads
# the response to EOF and closes. Exit 1 unless every answer is 200.
PY_HTTPGET=$(cat <<'PYEOF'
import socket, sys, time
dst, port, src, hold, label = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
ok = True
for n, sport in enumerate(sys.argv[6:], 1):
    if n > 1:
        time.sleep(0.2)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    s.bind((src, int(sport)))
    s.connect((dst, port))
    time.sleep(hold)
    s.sendall(("GET /%s/%d HTTP/1.0\r\nHost: %s\r\nUser-Agent: natcorr-lab\r\n\r\n" % (label, n, dst)).encode())
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n")[0].decode()
    print("sport %s: %s: %s" % (sport, status, body.decode().strip()), flush=True)
    ok = ok and " 200 " in status
sys.exit(0 if ok else 1)
PYEOF
)

# UDP echo server: ADDR PORT.
PY_UDPECHO=$(cat <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
PYEOF
)

# UDP client: DST PORT SPORT N GAP: N datagrams "natcorr-udp NN\n" (NN = 01..N) from SPORT,
# GAP s apart, then 0.3 s for late echoes; prints which seqs came back.
PY_UDPSEND=$(cat <<'PYEOF'
import select, socket, sys, time
dst, port, sport, count, gap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", sport))
got = []
def drain(until):
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return
        if select.select([s], [], [], left)[0]:
            got.append(s.recv(2048).decode().split()[-1])
t0 = time.monotonic()
for n in range(1, count + 1):
    s.sendto(b"natcorr-udp %02d\n" % n, (dst, port))
    drain(t0 + n * gap)
drain(time.monotonic() + 0.3)
print("sent %d, echoed %d: %s" % (count, len(got), " ".join(got)), flush=True)
PYEOF
)

need_python() {
  (( DUMPS_ONLY )) || [[ -n $PY ]] || skip "$SCN needs python3"
  command -v ethtool >/dev/null || skip "$SCN needs ethtool (checksum offload off, see csum_off)"
}

# server_bg NS NAME CODE ARGS...: start a python server in NS, wait until it prints "ready".
server_bg() {
  local n=$1 name=$2 code=$3; shift 3
  local out=$TMP/srv.$SCN.$name pid deadline=$((SECONDS + 10))
  # Fresh file, truncated here: the child's own redirect may happen after the first grep.
  : >"$out"
  ip netns exec "$P$n" "$PY" -c "$code" "$@" >"$out" 2>&1 &
  pid=$!; PIDS+=("$pid"); SRV_PIDS+=("$pid")
  until grep -q '^ready' "$out"; do
    kill -0 "$pid" 2>/dev/null || die "$name server in $n exited: $(cat "$out")"
    (( SECONDS < deadline )) || die "$name server in $n did not get ready"
    sleep 0.05
  done
}

# stop_servers: SIGTERM each server by its pid (they never exit on their own).
stop_servers() {
  local pid
  for pid in "${SRV_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${SRV_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; forget "$pid"; done
  SRV_PIDS=()
}

# py_bg NS NAME CODE ARGS...: a python client in NS in the background (output kept).
py_bg() {
  local n=$1 name=$2 code=$3; shift 3
  ip netns exec "$P$n" "$PY" -c "$code" "$@" >"$TMP/py.$name" 2>&1 &
  PIDS+=("$!"); PY_PIDS+=("$!:$name")
}

# wait_py: every client must exit 0 (they time out after 3 s on their own).
wait_py() {
  local spec pid name rc
  for spec in "${PY_PIDS[@]}"; do
    pid=${spec%%:*} name=${spec#*:}
    rc=0; wait "$pid" || rc=$?
    forget "$pid"
    (( rc == 0 )) || die "client $name failed (rc $rc): $(cat "$TMP/py.$name")"
    log "  client $name: $(tr '\n' ';' <"$TMP/py.$name")"
  done
  PY_PIDS=()
}

SYN='tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn'
SYNACK='tcp[tcpflags] & (tcp-syn|tcp-ack) = (tcp-syn|tcp-ack)'
FIN='tcp[tcpflags] & tcp-fin != 0'
HTTP200='tcp[((tcp[12] & 0xf0) >> 2):4] = 0x48545450'   # payload starts with "HTTP"

# sports POINT FILTER: source ports of the matching frames, sorted, space separated
sports() {
  tcpdump -n -r "$DIR/$1.pcap" "$2" 2>/dev/null |
    sed -n 's/^.* IP [0-9.]*\.\([0-9]*\) > .*/\1/p' | sort -n | tr '\n' ' ' | sed 's/ $//'
}
sorted() { tr ' ' '\n' <<<"$*" | sort -n | tr '\n' ' ' | sed 's/ $//'; }
# hexip A.B.C.D: the address as one 32-bit BPF constant (0xc0a8417d)
hexip() { local IFS=.; set -- $1; printf '0x%02x%02x%02x%02x' "$@"; }

# tcp_conns POINT CLIENT SERVER DPORT "SPORTS": one HTTP connection per client port, complete:
# SYN, SYN-ACK, one HTTP answer, a FIN each way; SYNs from exactly these source ports.
tcp_conns() {
  local p=$1 c=$2 sv=$3 dp=$4 want n got
  want=$(sorted "$5"); n=$(wc -w <<<"$want")
  expect "$p" "$n" "$SYN and src $c and dst $sv and dst port $dp"
  expect "$p" "$n" "$SYNACK and src $sv and dst $c and src port $dp"
  expect "$p" "$n" "tcp and src $sv and dst $c and src port $dp and $HTTP200"
  expect "$p" $((2 * n)) "$FIN and host $c and host $sv and port $dp"
  got=$(sports "$p" "$SYN and src $c and dst $sv and dst port $dp")
  [[ $got == "$want" ]] || FAILS+=("$p: SYN source ports $c -> $sv:$dp are [$got], expected [$want]")
}

# same_count FILTER POINT...: every point holds as many FILTER frames as the first (no loss);
# leaves that number in SAME_N (not echoed: expect must run in this shell to record FAILS).
same_count() {
  local f=$1 first=$2 p; shift 2
  SAME_N=$(count "$first" "$f")
  for p in "$@"; do expect "$p" "$SAME_N" "$f"; done
}

# syn_seq POINT FILTER: the sequence number of the first SYN matching FILTER
syn_seq() { tcpdump -n -r "$DIR/$1.pcap" -c 1 "$SYN and $2" 2>/dev/null | sed -n 's/.* seq \([0-9]*\),.*/\1/p'; }

# udp_seqs POINT FILTER: the NN of the "natcorr-udp NN" datagrams matching FILTER (IP header
# without options: the two digits are IP-packet bytes 40-41, hex characters 81-84)
udp_seqs() {
  hexpkts "$1" "$2" | cut -c81-84 | while read -r h; do printf '%b' "\\x${h:0:2}\\x${h:2:2} "; done | sed 's/ $//'
}

scn_tcp() {
  need_python
  build; start_captures
  server_bg dst http "$PY_HTTPD" "$DST_IP" 80
  py_bg vm1 vm1 "$PY_HTTPGET" "$DST_IP" 80 0.0.0.0 0 tcp 41001 41002 41003
  wait_py; stop_servers; stop_captures
  local p s
  for p in vm1-eth0 "$HA" "$QG" "$EX" "$UP" dest-eth1; do
    case $p in vm1-eth0|"$HA") s=$VM1_IP ;; "$QG"|"$EX") s=$QG_IP ;; *) s=$UP_IP ;; esac
    tcp_conns "$p" "$s" "$DST_IP" 80 "41001 41002 41003"
    expect "$p" 0 "icmp or udp"
  done
  same_count tcp vm1-eth0 "$HA" "$QG" "$EX" "$UP" dest-eth1
  log "tcp: 3 connections from $VM1_IP ports 41001-41003 to $DST_IP:80, $SAME_N TCP frames at every point; ports unchanged"
}

scn_same_port() {
  need_python
  build; start_captures
  server_bg dst http "$PY_HTTPD" "$DST_IP" 8080
  # Both VMs bind source port 40000; both connections stay open 0.4 s after the handshake, so
  # they overlap. vm2 starts 0.1 s later, so vm1's conntrack entry is confirmed by then (no
  # insert race, cf. same-id) and the qrouter SNAT must give vm2's connection another port.
  py_bg vm1 vm1 "$PY_HTTPGET" "$DST_IP" 8080 0.0.0.0 0.4 vm1 40000
  sleep 0.1
  py_bg vm2 vm2 "$PY_HTTPGET" "$DST_IP" 8080 0.0.0.0 0.4 vm2 40000
  wait_py; stop_servers; stop_captures
  tcp_conns vm1-eth0 "$VM1_IP" "$DST_IP" 8080 40000; tcp_conns vm2-eth0 "$VM2_IP" "$DST_IP" 8080 40000
  tcp_conns "$HA" "$VM1_IP" "$DST_IP" 8080 40000;    tcp_conns "$HA" "$VM2_IP" "$DST_IP" 8080 40000
  # On qg- exactly one of the two connections still has source port 40000.
  local other p n1 n2 n seq1 seq2 seqo
  other=$(sports "$QG" "$SYN and src $QG_IP and not src port 40000")
  [[ $other =~ ^[0-9]+$ ]] || { FAILS+=("$QG: expected exactly one SYN with a source port other than 40000, got [$other]"); finish; }
  expect "$QG" 1 "$SYN and src $QG_IP and src port 40000"
  for p in "$QG" "$EX"; do tcp_conns "$p" "$QG_IP" "$DST_IP" 8080 "40000 $other"; done
  for p in "$UP" dest-eth1; do tcp_conns "$p" "$UP_IP" "$DST_IP" 8080 "40000 $other"; done
  for p in vm1-eth0 vm2-eth0 "$HA" "$QG" "$EX" "$UP" dest-eth1; do expect "$p" 0 "icmp or udp"; done
  n1=$(count vm1-eth0 tcp) n2=$(count vm2-eth0 tcp)
  same_count tcp "$HA" "$QG" "$EX" "$UP" dest-eth1; n=$SAME_N
  (( n1 + n2 == n )) || FAILS+=("tcp frames: vm1-eth0 $n1 + vm2-eth0 $n2 != $n at $HA")
  # Which VM was moved: SNAT keeps the initial sequence number, so follow the SYNs by it.
  seq1=$(syn_seq vm1-eth0 "src $VM1_IP") seq2=$(syn_seq vm2-eth0 "src $VM2_IP")
  seqo=$(syn_seq "$QG" "src $QG_IP and src port $other")
  if [[ -n $seqo && $seqo == "$seq2" ]]; then
    log "same-port: vm1 ($VM1_IP) keeps sport 40000; vm2 ($VM2_IP) sport 40000 -> $other on $HA -> $QG"
  elif [[ -n $seqo && $seqo == "$seq1" ]]; then
    log "same-port: vm2 ($VM2_IP) keeps sport 40000; vm1 ($VM1_IP) sport 40000 -> $other on $HA -> $QG"
  else
    FAILS+=("$QG: the SYN from port $other (seq $seqo) matches neither VM's SYN ($seq1, $seq2)")
  fi
}

scn_udp_drop() {
  need_python
  build
  # Every 2nd datagram towards the echo server dies in l3agent's FORWARD chain; with
  # --packet 0 the nth counter matches the 1st, 3rd, ... (seq 01, 03, 05, 07, 09 dropped).
  nsx l3 iptables -I FORWARD -i "$EX" -p udp --dport 9999 \
    -m statistic --mode nth --every 2 --packet 0 -j DROP
  start_captures
  server_bg dst udpecho "$PY_UDPECHO" "$DST_IP" 9999
  py_bg vm1 vm1 "$PY_UDPSEND" "$DST_IP" 9999 40053 10 0.1
  wait_py; stop_servers; stop_captures
  local p s nq seqs want all='01 02 03 04 05 06 07 08 09 10' even='02 04 06 08 10'
  for p in vm1-eth0 "$HA" "$QG" "$EX" "$UP" dest-eth1; do
    case $p in vm1-eth0|"$HA") s=$VM1_IP nq=10 want=$all ;; "$QG"|"$EX") s=$QG_IP nq=10 want=$all ;;
      *) s=$UP_IP nq=5 want=$even ;; esac
    expect "$p" "$nq" "udp and src $s and src port 40053 and dst $DST_IP and dst port 9999"
    expect "$p" 5 "udp and src $DST_IP and src port 9999 and dst $s and dst port 40053"
    expect "$p" $((nq + 5)) udp
    expect "$p" 0 "icmp or tcp"
    seqs=$(udp_seqs "$p" "udp and dst port 9999")
    [[ $seqs == "$want" ]] || FAILS+=("$p: request seqs [$seqs], expected [$want]")
    seqs=$(udp_seqs "$p" "udp and src port 9999")
    [[ $seqs == "$even" ]] || FAILS+=("$p: echo seqs [$seqs], expected [$even]")
  done
  log "udp-drop: 10 datagrams $VM1_IP:40053 -> $DST_IP:9999; seq 01 03 05 07 09 lost on $EX -> $UP"
}

scn_dnat_tcp() {
  need_python
  build; floating_ip
  start_captures
  server_bg vm1 http "$PY_HTTPD" "$VM1_IP" 80
  # The outside host connects from 203.0.113.234 (bound, like ping -I in dnat) to the floating IP.
  py_bg dst dest "$PY_HTTPGET" "$FIP" 80 "$DST_IP" 0 dnat 42001 42002 42003
  wait_py; stop_servers; stop_captures
  local p d
  for p in dest-eth1 "$UP" "$EX" "$QG" "$HA" vm1-eth0; do
    case $p in dest-eth1|"$UP") d=$FIP ;; "$EX"|"$QG") d=$FIP_MID ;; *) d=$VM1_IP ;; esac
    tcp_conns "$p" "$DST_IP" "$d" 80 "42001 42002 42003"
    expect "$p" 0 "icmp or udp"
  done
  same_count tcp dest-eth1 "$UP" "$EX" "$QG" "$HA" vm1-eth0
  log "dnat-tcp: 3 connections $DST_IP:42001-42003 -> $FIP:80 -> $FIP_MID:80 -> $VM1_IP:80, $SAME_N TCP frames per point"
}

# Failing connections: PROTO:SPORT:DPORT:WANT:TIMEOUT per attempt, one after the other, 0.2 s
# apart, each from its own source port to DST. TCP: connect(); UDP: connect(), send
# "natcorr-udp 01\n", recv(). The outcome is "open" (TCP connected / UDP answered), "refused"
# (RST, or ICMP port unreachable on the connected UDP socket) or "timeout"; exit 1 unless each
# attempt got WANT. A TCP socket closed while still in SYN-SENT sends nothing.
PY_CONNFAIL=$(cat <<'PYEOF'
import socket, sys, time
dst, ok = sys.argv[1], True
for n, spec in enumerate(sys.argv[2:]):
    proto, sport, dport, want, timeout = spec.split(":")
    if n:
        time.sleep(0.2)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(float(timeout))
    s.bind(("", int(sport)))
    t0 = time.monotonic()
    try:
        s.connect((dst, int(dport)))
        if proto == "udp":
            s.send(b"natcorr-udp 01\n")
            s.recv(2048)
        got = "open"
    except ConnectionRefusedError:
        got = "refused"
    except socket.timeout:
        got = "timeout"
    s.close()
    print("%s %s -> %s: %s after %.2f s" % (proto, sport, dport, got, time.monotonic() - t0), flush=True)
    ok = ok and got == want
sys.exit(0 if ok else 1)
PYEOF
)

# tcp-fail: four attempts that fail in four places, each its own flow (source ports 43001-43004):
#   (a) 43001 -> :8080, closed on the destination: its kernel answers RST,ACK;
#   (b) 43002 -> :8081, the l3agent's FORWARD drops the SYN: SYN + retransmissions, timeout;
#   (c) 43003 -> :8082, the qrouter's FORWARD REJECTs with tcp-reset in the destination's name;
#   (d) 43004 -> udp :9999, closed on the destination: ICMP port unreachable.
# They run in that order, 0.2 s apart. (b) comes after (a), so eth2.106's capture has seen a
# packet before (b)'s SYNs and after them: natcorr can then count them lost there, not only
# unverified (see check_drop in tests/common/scenarios.rs). The run stays short on purpose: a
# router sends a unicast ARP probe 5 s (delay_first_probe_time) after it first used a neighbour
# entry it had only learned from an ARP request (qr: vm1, l3: qg-, dst: l3), and (a)'s RST is
# such a first use at 0 s; the captures stop at about 3.6 s.
# (b)'s timeout is 2.5 s, halfway between two SYNs. Since Linux 6.5 the first
# tcp_syn_linear_timeouts (default 4) SYN retransmissions come 1 s apart (0, 1, 2, 3 s: a 3 s
# timeout races the 4th SYN): 3 SYNs. Older kernels double the RTO (0, 1, 3 s): 2 SYNs.
scn_tcp_fail() {
  need_python
  build
  local nsyn=2 lin
  lin=$(nsx vm1 sysctl -n net.ipv4.tcp_syn_linear_timeouts 2>/dev/null || echo 0)
  if (( lin >= 2 )); then nsyn=3; fi
  nsx l3 iptables -A FORWARD -p tcp --syn --dport 8081 -j DROP
  nsx qr iptables -A FORWARD -p tcp --dport 8082 -j REJECT --reject-with tcp-reset
  start_captures
  py_bg vm1 vm1 "$PY_CONNFAIL" "$DST_IP" tcp:43001:8080:refused:3 tcp:43002:8081:timeout:2.5 \
    tcp:43003:8082:refused:3 udp:43004:9999:refused:3
  wait_py; stop_captures
  local p s nb nc nd rstack='tcp[tcpflags] & (tcp-rst|tcp-ack|tcp-syn|tcp-fin) = (tcp-rst|tcp-ack)'
  local unr='icmp[icmptype] = icmp-unreach and icmp[icmpcode] = 3 and icmp[17] = 17'
  for p in vm1-eth0 "$HA" "$QG" "$EX" "$UP" dest-eth1; do
    case $p in
      vm1-eth0|"$HA") s=$VM1_IP nb=$nsyn nc=1 ;;
      "$QG"|"$EX") s=$QG_IP nb=$nsyn nc=0 ;; *) s=$UP_IP nb=0 nc=0 ;;
    esac
    # (a) one SYN, one RST,ACK from the destination (TTL 64 when it leaves dst, 62 at the VM)
    expect "$p" 1 "$SYN and src $s and src port 43001 and dst $DST_IP and dst port 8080"
    expect "$p" 1 "$rstack and src $DST_IP and src port 8080 and dst $s and dst port 43001"
    expect "$p" 2 "tcp port 43001"
    # (b) the SYN and its retransmissions up to ex-l3dngw, nothing after; never an answer
    expect "$p" "$nb" "$SYN and src $s and src port 43002 and dst $DST_IP and dst port 8081"
    expect "$p" "$nb" "tcp port 43002"
    # (c) the SYN dies in the qrouter; its RST (TTL 64: made there) exists only on ha- and vm1
    expect "$p" "$nc" "$SYN and src $s and src port 43003 and dst $DST_IP and dst port 8082"
    expect "$p" "$nc" "$rstack and src $DST_IP and src port 8082 and dst $s and dst port 43003 and ip[8] = 64"
    expect "$p" $((2 * nc)) "tcp port 43003"
    # (d) the datagram and the port unreachable, quoting it with this point's addresses
    expect "$p" 1 "udp and src $s and src port 43004 and dst $DST_IP and dst port 9999"
    expect "$p" 1 "$unr and src $DST_IP and dst $s and icmp[20:4] = $(hexip "$s") and icmp[28:2] = 43004 and icmp[30:2] = 9999"
    expect "$p" $((2 + nb + 2 * nc)) tcp
    expect "$p" 1 udp
    expect "$p" 1 icmp
    # one ARP exchange, and no unicast probe (the run ends before one is due, see above)
    expect "$p" 2 arp
  done
  # The SYNs of (b) are one segment sent again and again: one sequence number.
  for p in vm1-eth0 "$HA" "$QG" "$EX"; do
    nd=$(tcpdump -n -r "$DIR/$p.pcap" "$SYN and src port 43002" 2>/dev/null | sed -n 's/.* seq \([0-9]*\),.*/\1/p' | sort -u | wc -l)
    (( nd == 1 )) || FAILS+=("$p: the SYNs from port 43002 carry $nd sequence numbers, expected 1")
  done
  # (a)'s reset came back through both NATs with TTL 62 at the VM; (c)'s never left the qrouter.
  expect vm1-eth0 1 "$rstack and src port 8080 and ip[8] = 62"
  log "tcp-fail: (a) :8080 RST from $DST_IP; (b) :8081 $nsyn SYNs lost on $EX -> $UP; (c) :8082 RST from the qrouter (seen on $HA); (d) udp :9999 port unreachable at every point"
}

# ---------------------------------------------------------------- main
probe
mkdir -p "$OUTDIR"
for SCN in "${SCENARIOS[@]}"; do
  DIR=$OUTDIR/$SCN FAILS=() VM2=0 IPV6=0 VXLAN=0 FAR=0 NFT=0 CAPFILTER= CSUM_OFF=0
  case $SCN in
    nft) NFT=1 ;;
    same-id|constant-payload|same-port) VM2=1 ;;
    ipv6) IPV6=1 ;;
    vxlan) VXLAN=1 ;;
    traceroute) FAR=1 ;;
  esac
  # tcp/udp scenarios: everything the lab sends, and nothing else (no IPv6/LLC/other ethertypes).
  case $SCN in tcp|same-port|udp-drop|dnat-tcp|tcp-fail) CAPFILTER='arp or icmp or tcp or udp' CSUM_OFF=1 ;; esac
  if (( DUMPS_ONLY )); then
    # The scenario runs in a subshell that ends in start_captures (after writing the dumps).
    log "$SCN: dumps only into $DIR"
    ( "scn_${SCN//-/_}" )
    teardown
    continue
  fi
  log "$SCN: recording into $DIR"
  "scn_${SCN//-/_}"
  finish
  teardown
done
log "done: ${SCENARIOS[*]}$( (( ! DUMPS_ONLY )) || echo ' (dumps only)')"
