#!/usr/bin/env python3
"""Writes a decompression bomb for benches/hostile_memory.sh and tests/hostile.rs: a pcap of N
ICMP echo requests to OUT (gzip when OUT ends in .gz, else plain; pipe plain output through zstd).

Default: 256 requests (seq 0..255) repeated, one every millisecond. Every record is a packet
natcorr must keep (it counts byte-identical frames within 0.5 ms as one packet captured twice),
and the file still compresses well (zstd about 120:1, gzip about 23:1). With --identical: one
request repeated at one instant, which natcorr counts as duplicates of the first.
Usage: mkbomb.py OUT N [--identical]"""
import gzip
import struct
import sys

out, n = sys.argv[1], int(sys.argv[2])
identical = "--identical" in sys.argv[3:]
eth = bytes.fromhex("00163efe2b11fa163e8e51d70800")


def frame(seq):
    icmp = bytes([8, 0, 0, 0, 0x12, 0x34, seq >> 8, seq & 0xFF]) + b"x" * 56
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0,
                     bytes([192, 168, 65, 125]), bytes([203, 0, 113, 234]))
    return eth + ip + icmp


frames = [frame(1)] if identical else [frame(s) for s in range(256)]
with (gzip.open(out, "wb", compresslevel=9) if out.endswith(".gz")
      else open(out, "wb", buffering=1 << 20)) as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    for i in range(n):
        ms = 0 if identical else i
        fr = frames[i % len(frames)]
        f.write(struct.pack("<IIII", 1 + ms // 1000, ms % 1000 * 1000, len(fr), len(fr)) + fr)
