#!/usr/bin/env python3
"""Writes a decompression bomb for benches/hostile_memory.sh: a pcap of one ICMP echo request
repeated N times, to OUT (gzip when OUT ends in .gz, else plain; pipe plain output through zstd).
Usage: mkbomb.py OUT N"""
import sys, struct, gzip

n = int(sys.argv[2]); out = sys.argv[1]
eth = bytes.fromhex('00163efe2b11fa163e8e51d70800')
icmp = bytes([8,0,0,0, 0x12,0x34, 0,1]) + b'x'*56
ip = bytes([0x45,0,0,20+len(icmp)>>8&0xff]) 
ip = struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(icmp),1,0,64,1,0,bytes([192,168,65,125]),bytes([203,0,113,234]))
frame = eth+ip+icmp
rec = struct.pack('<IIII',1,0,len(frame),len(frame))+frame
with (gzip.open(out,'wb',compresslevel=9) if out.endswith('.gz') else open(out,'wb', buffering=1 << 20)) as f:
    f.write(struct.pack('<IHHiIII',0xa1b2c3d4,2,4,0,0,262144,1))
    chunk = rec*10000
    for _ in range(n//10000): f.write(chunk)
