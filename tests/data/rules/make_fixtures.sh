#!/bin/bash
# Records the live fixtures: nat rules like the seed's (neutron router) in a namespace of our own.
# Needs root, ip, iptables, ip6tables, nft. Sends no packets: interfaces are veth pairs inside the namespace.
set -euo pipefail
NS=nc-rules-test
OUT=$(cd "$(dirname "$0")" && pwd)
. "$OUT/netns.sh"

x ip link add ha-live type veth peer name ha-live-p
x ip link add qg-live type veth peer name qg-live-p
x ip link add eth9 type veth peer name eth9-p
x ip addr add 192.168.65.124/23 dev ha-live
x ip addr add 192.168.64.1/23 dev ha-live
x ip addr add 169.254.43.17/18 dev qg-live
x ip addr add 203.0.113.5/24 dev eth9
x ip addr add 203.0.113.6/24 dev eth9
x ip addr add 2001:db8:1::1/64 dev eth9 nodad
x ip link set ha-live up
x ip link set qg-live up
x ip link set eth9 up
for p in ha-live-p qg-live-p eth9-p; do x ip link set "$p" up; done

# iptables: the neutron chains of the seed, and a few more targets and matches
x iptables -t nat -N neutron-postrouting-bottom
x iptables -t nat -N neutron-vpn-agen-POSTROUTING
x iptables -t nat -N neutron-vpn-agen-PREROUTING
x iptables -t nat -N neutron-vpn-agen-float-snat
x iptables -t nat -N neutron-vpn-agen-snat
x iptables -t nat -A PREROUTING -j neutron-vpn-agen-PREROUTING
x iptables -t nat -A POSTROUTING -j neutron-vpn-agen-POSTROUTING
x iptables -t nat -A POSTROUTING -j neutron-postrouting-bottom
x iptables -t nat -A neutron-postrouting-bottom -j neutron-vpn-agen-snat
x iptables -t nat -A neutron-vpn-agen-POSTROUTING ! -i qg-live ! -o qg-live -m conntrack ! --ctstate DNAT -j ACCEPT
x iptables -t nat -A neutron-vpn-agen-PREROUTING -d 169.254.169.254/32 -i ha-+ -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 9697
x iptables -t nat -A neutron-vpn-agen-PREROUTING -d 169.254.43.17/32 -p tcp -m multiport --dports 22,8000:8010 -j DNAT --to-destination 192.168.65.200:2222
x iptables -t nat -A neutron-vpn-agen-PREROUTING -d 169.254.43.18/32 -m mark --mark 0x1 -j DNAT --to-destination 192.168.65.201
x iptables -t nat -A neutron-vpn-agen-float-snat -s 192.168.65.201/32 -m comment --comment "floating ip" -j SNAT --to-source 169.254.43.18
x iptables -t nat -A neutron-vpn-agen-snat -j neutron-vpn-agen-float-snat
x iptables -t nat -A neutron-vpn-agen-snat -s 192.168.64.0/23 -j SNAT --to-source 169.254.43.17
x iptables -t nat -A POSTROUTING -s 10.9.0.0/16 -o eth9 -p udp --sport 1000:2000 -j SNAT --to-source 203.0.113.7-203.0.113.9:40000-40100
x iptables -t nat -A POSTROUTING -s 10.8.0.0/16 -o eth9 -j MASQUERADE
x ip6tables -t nat -A POSTROUTING -s fd00::/64 -o eth9 -j SNAT --to-source 2001:db8:1::1

# nft: a table of our own beside the iptables-nft ones
x nft -f - <<'NFT'
table inet natcorr {
  set blocked { type ipv4_addr; elements = { 198.51.100.7, 198.51.100.8 } }
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "eth9" ip daddr 203.0.113.5 tcp dport 8080 counter dnat ip to 192.168.65.210:80
    iifname "eth9" ip saddr @blocked return
    iifname "eth9" ip daddr 203.0.113.6 meta l4proto udp dnat ip to 192.168.65.211
    ip daddr 203.0.113.99 meta mark 0x2 dnat ip to 192.168.65.212
  }
  chain post {
    type nat hook postrouting priority srcnat - 10; policy accept;
    ct state new oifname "eth9" ip saddr 172.16.0.0/12 jump masq
    oifname "eth9*" ip saddr 10.7.0.0/16 snat ip to 203.0.113.10-203.0.113.12
  }
  chain masq {
    ip saddr 172.16.5.0/24 return
    masquerade
  }
}
NFT

x iptables-save > "$OUT/live.iptables-save"
x ip6tables-save > "$OUT/live6.ip6tables-save"
x iptables -t nat -S > "$OUT/live.iptables-nat-S.txt"
x nft -j list ruleset > "$OUT/live.nft.json"
x nft -j list table inet natcorr > "$OUT/livenft.nft.json"
x ip -o addr > "$OUT/live.ip-o-addr.txt"
x ip addr > "$OUT/live.ip-addr.txt"
cp "$OUT/live.ip-o-addr.txt" "$OUT/livenft.ip-o-addr.txt"
cp "$OUT/live.ip-addr.txt" "$OUT/live6.ip-addr.txt"
echo "fixtures written to $OUT"
