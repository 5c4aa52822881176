#!/bin/bash
# Records the NOTRACK fixtures: raw-table rules that keep echo replies out of conntrack, as
# iptables (`*raw`) and as native nft (a filter chain at priority raw), in a namespace of our
# own. Needs root, ip, iptables, nft. Sends no packets: the interfaces are veth pairs inside it.
set -euo pipefail
NS=nc-notrack-test
OUT=$(cd "$(dirname "$0")" && pwd)
. "$OUT/netns.sh"

x ip link add ex-live type veth peer name ex-live-p
x ip link add up-live type veth peer name up-live-p
x ip addr add 169.254.0.1/18 dev ex-live
x ip addr add 198.51.100.34/25 dev up-live
for p in ex-live ex-live-p up-live up-live-p; do x ip link set "$p" up; done

# iptables: SNAT out of up-live, replies coming back on it untracked (type 0), and a user chain
# in raw that untracks UDP from port 53.
x iptables -t nat -A POSTROUTING -s 169.254.0.0/18 -o up-live -j SNAT --to-source 198.51.100.200
x iptables -t raw -N untrack-dns
x iptables -t raw -A PREROUTING -i up-live -p icmp --icmp-type echo-reply -j NOTRACK
x iptables -t raw -A PREROUTING -i up-live -p udp -j untrack-dns
x iptables -t raw -A untrack-dns -p udp --sport 53 -j CT --notrack
x iptables-save > "$OUT/notrack.iptables-save"
x iptables -t raw -F; x iptables -t raw -X; x iptables -t nat -F

# nft: the same as native rules
x nft -f - <<'NFT'
table ip natcorr {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 169.254.0.0/18 oifname "up-live" snat to 198.51.100.200
  }
  chain raw {
    type filter hook prerouting priority raw; policy accept;
    iifname "up-live" icmp type echo-reply notrack
  }
}
NFT
x nft -j list table ip natcorr > "$OUT/notracknft.nft.json"
x ip -o addr > "$OUT/notrack.ip-o-addr.txt"
cp "$OUT/notrack.ip-o-addr.txt" "$OUT/notracknft.ip-o-addr.txt"
echo "fixtures written to $OUT"
