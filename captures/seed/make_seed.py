#!/usr/bin/env python3
"""Rebuild the engineer's original captures from his printed tcpdump output.

He captured one ping run per interface, one interface at a time, and printed
only the echo requests (4 per interface). This writes those frames as classic
pcap files (microsecond, little-endian, LINKTYPE_ETHERNET, snaplen 262144)
next to this script. Synthetic: the frames only ever exist in these files.

Usage: python3 captures/seed/make_seed.py [OUTDIR]   (default: this directory)
"""
import datetime
import os
import struct
import sys

DATE = datetime.date(2019, 3, 14)  # not printed in the notes; assumed, UTC
DST = "2.106.123.234"              # as printed (the notes' addresses, kept verbatim)

# file, src MAC, dst MAC, TTL, first IP id, src IP, ICMP id, printed send times (seq 1..4)
CAPTURES = [
    # destination host, behind a few more routers: TTL 64 - 6
    ("eth1", "00:00:5e:00:01:02", "52:54:00:12:34:56", 58, 0x3a41,
     "236.115.121.34", 21474,
     ["22:23:49.856024", "22:23:50.856840", "22:23:51.858001", "22:23:52.858985"]),
    # the VM's frame as it reaches the qrouter: not routed yet
    ("ha-2b8cf5e0-b1", "fa:16:3e:00:00:7d", "fa:16:3e:8e:51:d7", 64, 0x9c20,
     "192.168.65.125", 21972,
     ["22:34:07.158564", "22:34:08.160388", "22:34:09.161634", "22:34:10.163036"]),
    # after the qrouter (one hop, SNAT)
    ("qg-0aeca8b7-8a", "00:16:3e:fe:2b:11", "00:16:3e:fe:00:01", 63, 0x1d07,
     "169.254.43.17", 22115,
     ["22:37:25.055601", "22:37:26.057475", "22:37:27.058381", "22:37:28.059661"]),
    # same link as qg-, seen from the l3agent side
    ("ex-l3dngw", "00:16:3e:fe:2b:11", "00:16:3e:fe:00:01", 63, 0x6b52,
     "169.254.43.17", 23916,
     ["23:16:55.604382", "23:16:56.606226", "23:16:57.607478", "23:16:58.608955"]),
    # after the l3agent (second hop, MASQUERADE)
    ("eth2.106", "ec:f4:bb:c8:e1:0c", "00:00:5e:00:01:01", 62, 0xe3a8,
     "236.115.121.34", 24014,
     ["23:18:49.841721", "23:18:50.850721", "23:18:51.839906", "23:18:52.840890"]),
]

PCAP_MAGIC_US = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144


def checksum(data: bytes) -> int:
    """RFC 1071 internet checksum."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(text: str) -> bytes:
    return bytes(int(x, 16) for x in text.split(":"))


def ipv4(text: str) -> bytes:
    return bytes(int(x) for x in text.split("."))


def timestamp(hms: str) -> tuple[int, int]:
    """'HH:MM:SS.ffffff' on DATE (UTC) -> (seconds, microseconds)."""
    t = datetime.datetime.strptime(hms, "%H:%M:%S.%f").time()
    dt = datetime.datetime.combine(DATE, t, tzinfo=datetime.timezone.utc)
    return int(dt.timestamp()), t.microsecond


def echo_request(ident: int, seq: int, sec: int, usec: int) -> bytes:
    """64-byte ICMP echo request with Linux ping's 56-byte payload."""
    # struct timeval (two little-endian 64-bit fields) = send time, then 0x10..0x37
    data = struct.pack("<QQ", sec, usec) + bytes(range(0x10, 0x38))
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    csum = checksum(hdr + data)
    return struct.pack("!BBHHH", 8, 0, csum, ident, seq) + data


def ip_packet(src: str, dst: str, ttl: int, ip_id: int, payload: bytes) -> bytes:
    """IPv4 header (no options, DF set, proto ICMP) + payload."""
    total = 20 + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ip_id, 0x4000, ttl, 1, 0,
                      ipv4(src), ipv4(dst))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + payload


def write_pcap(path: str, frames: list[tuple[int, int, bytes]]) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
        for sec, usec, frame in frames:
            f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
            f.write(frame)


def main() -> int:
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(outdir, exist_ok=True)
    for name, src_mac, dst_mac, ttl, first_ip_id, src, ident, times in CAPTURES:
        frames = []
        for seq, hms in enumerate(times, start=1):
            sec, usec = timestamp(hms)
            icmp = echo_request(ident, seq, sec, usec)
            ip = ip_packet(src, DST, ttl, (first_ip_id + seq - 1) & 0xFFFF, icmp)
            eth = mac(dst_mac) + mac(src_mac) + struct.pack("!H", 0x0800)
            frames.append((sec, usec, eth + ip))
        path = os.path.join(outdir, name + ".pcap")
        write_pcap(path, frames)
        print(f"wrote {path} ({len(frames)} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
