#!/usr/bin/env python3
"""natcorr vs tshark, capture point by capture point.

usage: python3 scripts/compare_tshark.py BINARY [--corpus DIR] [--captures DIR] [--only SUBSTR] [--strict] [--summary]

For every file of the corpus (each file analysed alone) and every lab scenario under
captures/*/ (all *.pcap of the folder analysed together, as natcorr is used), compares per
capture point (per file; per pcapng interface / per SLL2 ifindex where natcorr makes several
points of one file):

  * echo requests / replies: tshark (IP reassembly off, so a fragmented echo counts once, on its
    first fragment, as natcorr counts it; ICMP errors are classified by their OUTER type, so the
    echo header they quote is not counted) vs natcorr (sum over flows of flows[].points[].requests
    / replies at that point, and the --format csv rows of that point);
  * RTTs: tshark icmp(v6).resp_to pairs, RTT recomputed in ns from frame.time_epoch (first
    fragment to first fragment) vs natcorr flows[].points[].rtt_ns (count, min, median, max;
    nearest-rank median as natcorr computes it). tshark's own resptime count with default
    reassembly is shown too;
  * first/last timestamp of all frames of the point vs points[].first_ns / last_ns.

Prints a markdown report (--summary: one table row per file, counts shown once where equal and
as tshark / natcorr where not). The corpus defaults to /work/shared/corpus, the captures to this
repository's captures/. Every difference is looked up in EXPLAIN (keyed by file, then by aspect);
exit 1 when a difference in a COUNT (requests, replies, RTT count, frames) has no explanation
(--strict: any difference). An explanation whose difference has disappeared is listed as
"no longer differs" (a fix landed; drop the explanation).
"""
import csv
import glob
import io
import json
import math
import os
import subprocess
import sys
from decimal import Decimal

COUNT_ASPECTS = ("frames", "requests", "replies", "echo_packets", "rtt_count")
ALL_ASPECTS = COUNT_ASPECTS + ("packet_times", "rtt_values", "first", "last", "readable")

# ---------------------------------------------------------------------------------------------
# Explanations of known differences, keyed by file (corpus: file name; lab: "scenario/file").
# Per aspect: frames, requests, replies, rtt_count, rtt_values, first, last, readable.
# Wording: what the packets show (frame numbers are tshark's, 1-based).
# ---------------------------------------------------------------------------------------------
EXPLAIN = {
    "mgajda-pcapng__dhcp_big_endian.pcapng": {
        "first": "natcorr represents time as i64 nanoseconds. Big-endian pcapng, IDB without if_tsresol (so µs). EPB 1 "
        "timestamp high=0x41b35e88 low=0x12ebf2c8 = 4734231571822539464 µs = 4734231571822.539464 s "
        "since 1970 = 151991-10-29 21:30:22.539464 UTC (tshark, capinfos). In ns that is 4.7e21, "
        "beyond i64 (max 9223372036854775807 ns = 2262-04-11 23:47:16.854775807): natcorr shows "
        "first_ns/last_ns as i64::MAX and warns that the timestamp is beyond 2262-04-11. (The writer probably put seconds in the high "
        "word: 0x41b35e88 = 2004-12-05 19:16:24, but per the spec the 64-bit value is in if_tsresol "
        "units and tshark's reading is the correct one.) No echoes in this file.",
        "last": "same saturation as first (last EPB = 151991-10-29 21:31:32.884464).",
    },
    "nDPI__fuzz-2021-10-13.pcap": {
        "frames": "corrupt fuzzer file. Record 1 (byte 24) claims caplen 524501 (> origlen 197, > "
        "262144) with only 199 bytes left and a ns fraction >= 1e9 (tshark prints "
        "980658802.1882137472). tshark shows it as frame 1 (199 bytes, 'null:data') then stops "
        "('cut short in the middle of a packet'); natcorr rejects record 1 ('record claims 524501 "
        "captured bytes, more than the 262144-byte limit: the file is corrupt from here on', exit 2) "
        "and its point has packets 0. Neither sees an echo. natcorr's rejection is the intended "
        "behaviour (README: never allocate from a length field beyond 256 KiB).",
        "first": "no frame accepted by natcorr (first_ns null); tshark's only frame is the corrupt record.",
        "last": "as first.",
    },
    "suricata-verify__bug-6875-01_fuzz.pcap": {
        "frames": "corrupt fuzzer file. Record 1 is a valid 188-byte Ethernet frame (both agree). "
        "Record 2 claims caplen 1409179648; tshark still emits a bogus frame 2 (time "
        "-1409179648.083690296, 1 byte) before 'damaged or corrupt'; natcorr stops at record 2 "
        "with a warning ('record claims 1409179648 captured bytes ... corrupt from here on') and "
        "keeps only record 1. No echoes in either.",
        "first": "tshark's min includes bogus frame 2 (negative time); natcorr's first = record 1 "
        "= tshark frame 1 (1508525002.992213).",
    },
    "zeek__icmp-header-trunc.pcap": {
        "requests": "snaplen 40 < 98: the ICMP header is cut after 6 of 8 bytes (type, code, "
        "checksum, identifier 27103; no sequence number). tshark still classifies frame 1 as echo "
        "request and frame 2 as echo reply ('ICMP truncated', no resp_to since seq is missing). "
        "natcorr counts both in points[].echo_packets (2, equal to tshark) but puts them in no "
        "flow, so the flow request/reply counts and the CSV rows are 0: an echo cut before its "
        "seq is matched only through its IP header to the one packet seen whole at another point "
        "(how editcap -s 40 on one lab point keeps its answer, tests/messy.rs), and this file is a "
        "single point. natcorr warns '2 echo(es) at zeek__icmp-header-trunc not used: the snaplen "
        "cut the ICMP echo header before the sequence number ... too short to be sure (first at "
        "record 1)'.",
        "replies": "see requests.",
        "packet_times": "the 2 cut echoes are not CSV rows in natcorr (see requests).",
    },
}

# One row per file for --summary: (file, {aspect: [tshark, natcorr]}, differing aspects,
# unexplained ones, what else to say).
SUMMARY = []


def run(cmd, stdin=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


TSHARK_FIELDS = [
    "frame.number", "frame.time_epoch", "frame.interface_id", "sll.ifindex",
    "icmp.type", "icmp.code", "icmp.ident", "icmp.seq", "icmp.resp_to", "icmp.resptime",
    "icmpv6.type", "icmpv6.code", "icmpv6.echo.identifier", "icmpv6.echo.sequence_number",
    "icmpv6.resp_to", "icmpv6.resptime",
    "ip.frag_offset", "ip.flags.mf", "ipv6.fraghdr.offset", "ipv6.fraghdr.more",
    "frame.len", "frame.cap_len",
]


def tshark_rows(path, reassemble):
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
           "-E", "separator=/t"]
    if not reassemble:
        cmd += ["-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    rc, out, err = run(cmd)
    rows = []
    for line in out.splitlines():
        parts = line.split("\t")
        parts += [""] * (len(TSHARK_FIELDS) - len(parts))
        r = {k: (v.split(",") if v else []) for k, v in zip(TSHARK_FIELDS, parts)}
        rows.append(r)
    err = "\n".join(l for l in err.splitlines() if "Running as user" not in l and l.strip())
    return rc, rows, err


def ns_of(epoch):
    d = Decimal(epoch)
    return int(d * 1_000_000_000)


def classify(r):
    """outer ICMP type: 'request', 'reply', 'error', 'other' or None (not ICMP / non-first fragment)."""
    if r["icmp.type"]:
        t = int(r["icmp.type"][0])
        return {8: "request", 0: "reply"}.get(t, "error" if t in (3, 4, 5, 11, 12) else "other")
    if r["icmpv6.type"]:
        t = int(r["icmpv6.type"][0])
        return {128: "request", 129: "reply"}.get(t, "error" if t in (1, 2, 3, 4) else "other")
    return None


def nearest_rank(vals, p):
    s = sorted(vals)
    k = max(1, math.ceil(p * len(s)))
    return s[k - 1]


def tshark_points(path):
    """-> (rc, err, {key: {...}}) key = interface id (pcapng) / sll ifindex / None."""
    rc, rows, err = tshark_rows(path, reassemble=False)
    rc2, rows_def, _ = tshark_rows(path, reassemble=True)
    times = {}
    for r in rows:
        times[r["frame.number"][0]] = ns_of(r["frame.time_epoch"][0])
    pts = {}

    def key_of(r):
        return (r["frame.interface_id"][0] if r["frame.interface_id"] else "0",
                r["sll.ifindex"][0] if r["sll.ifindex"] else None)

    for r in rows:
        k = key_of(r)
        p = pts.setdefault(k, {"frames": 0, "requests": 0, "replies": 0, "errors": 0, "rtts": [],
                               "first": None, "last": None, "min": None, "max": None,
                               "resptime_default": 0, "truncated_echo": 0, "echo_times": []})
        t = times[r["frame.number"][0]]
        p["frames"] += 1
        if p["first"] is None:
            p["first"] = t
        p["last"] = t
        p["min"] = t if p["min"] is None else min(p["min"], t)
        p["max"] = t if p["max"] is None else max(p["max"], t)
        c = classify(r)
        if c in ("request", "reply"):
            p["echo_times"].append((t, c))
        if c == "request":
            p["requests"] += 1
        elif c == "reply":
            p["replies"] += 1
            to = (r["icmp.resp_to"] or r["icmpv6.resp_to"])
            if to:
                p["rtts"].append(t - times[to[0]])
        elif c == "error":
            p["errors"] += 1
        if c in ("request", "reply") and r["frame.cap_len"] and r["frame.len"] and \
                int(r["frame.cap_len"][0]) < int(r["frame.len"][0]):
            p["truncated_echo"] += 1
    for r in rows_def:
        c = classify(r)
        if c == "reply" and (r["icmp.resptime"] or r["icmpv6.resptime"]):
            pts[key_of(r)]["resptime_default"] += 1
    return rc, err, pts


def natcorr(binary, files):
    rc, out, err = run([binary, "--format", "json"] + files)
    try:
        doc = json.loads(out) if out.strip() else None
    except json.JSONDecodeError:
        doc = None
    rc2, out2, _ = run([binary, "--format", "csv"] + files)
    rows = list(csv.DictReader(io.StringIO(out2))) if rc2 in (0, 1) and out2.strip() else []
    return rc, doc, rows, err


def natcorr_points(doc, csvrows):
    res = {}
    if not doc:
        return res
    for p in doc["points"]:
        res[p["name"]] = {"meta": p, "requests": 0, "replies": 0, "rtt": [], "flows": 0,
                          "csv_req": 0, "csv_rep": 0, "csv_times": []}
    for f in doc["flows"]:
        for fp in f["points"]:
            n = res.get(fp["point"])
            if n is None:
                continue
            n["requests"] += fp["requests"]
            n["replies"] += fp["replies"]
            n["flows"] += 1
            if fp.get("rtt_ns"):
                n["rtt"].append(fp["rtt_ns"])
    for r in csvrows:
        n = res.get(r["point"])
        if n is None:
            continue
        n["csv_times"].append((int(r["time_ns"]), r["direction"]))
        if r["direction"] == "request":
            n["csv_req"] += 1
        elif r["direction"] == "reply":
            n["csv_rep"] += 1
    return res


def fmt_ns(v):
    return "-" if v is None else str(v)


def fmt_rtt(count, mn, med, mx):
    if not count:
        return "0"
    return f"{count}: {mn/1e3:.3f} / {med if isinstance(med, str) else f'{med/1e3:.3f}'} / {mx/1e3:.3f} µs"


def compare_unit(binary, label, files, unit_key):
    """files analysed together by natcorr; label per file for EXPLAIN. Returns (md, problems)."""
    rc, doc, csvrows, nerr = natcorr(binary, files)
    npts = natcorr_points(doc, csvrows)
    offsets = {o["point"]: o["offset_ns"] for o in (doc or {}).get("clock_offsets", [])}
    md = []
    problems = []  # (file, aspect, counts?, text)
    explained_used = []
    for path in files:
        fkey = unit_key(path)
        ex = EXPLAIN.get(fkey, {})
        trc, terr, tpts = tshark_points(path)
        mine = [n for n in npts.values() if n["meta"]["file"] == path]
        md.append(f"\n### {fkey}\n")
        diffs = {}
        if not mine:
            wmsg = "; ".join(w["message"] for w in (doc or {}).get("warnings", [])
                             if w.get("file") == path)[:300]
            tfr = sum(p["frames"] for p in tpts.values())
            md.append(f"natcorr: no capture point (exit {rc}: {wmsg or nerr.strip()[:300]}); "
                      f"tshark: exit {trc}, {tfr} frames{(' — ' + terr[:200]) if terr else ''}\n")
            techo = sum(p["requests"] + p["replies"] for p in tpts.values())
            if techo:
                diffs["readable"] = f"tshark reads {techo} echoes, natcorr no point"
            before = len(problems)
            _judge(fkey, ex, diffs, problems, md)
            totals = {"frames": [tfr, 0], "requests": [sum(p["requests"] for p in tpts.values()), 0],
                      "replies": [sum(p["replies"] for p in tpts.values()), 0],
                      "rtt_count": [sum(len(p["rtts"]) for p in tpts.values()), 0]}
            SUMMARY.append((fkey, totals, sorted(diffs), [p[1] for p in problems[before:]],
                            f"natcorr: no point (exit {rc}); tshark: exit {trc}"))
            continue
        # map natcorr points to tshark keys
        pairs = []
        if len(mine) == 1:
            agg = _merge_tpts(list(tpts.values()))
            pairs.append((mine[0], agg, "all frames"))
        else:
            for n in mine:
                i = n["meta"].get("interface")
                cand = [v for (iid, ifx), v in tpts.items()
                        if (ifx is not None and str(i) == ifx) or (ifx is None and str(i) == iid)]
                pairs.append((n, _merge_tpts(cand), f"interface {i}"))
        md.append("| point | what | tshark | natcorr | |\n|---|---|---|---|---|\n")
        totals = {k: [0, 0] for k in ("frames", "requests", "replies", "rtt_count")}
        for n, t, sel in pairs:
            for k, tv, nv in (("frames", t["frames"], n["meta"]["packets"]),
                              ("requests", t["requests"], n["requests"]),
                              ("replies", t["replies"], n["replies"]),
                              ("rtt_count", len(t["rtts"]), sum(x["count"] for x in n["rtt"]))):
                totals[k][0] += tv
                totals[k][1] += nv
            name = n["meta"]["name"]
            off = offsets.get(name, 0)
            rows = []

            def row(what, tv, nv, aspect, same=None):
                ok = (tv == nv) if same is None else same
                if not ok:
                    diffs.setdefault(aspect, []).append(f"{name}: {what} tshark {tv} vs natcorr {nv}")
                rows.append(f"| {name} | {what} | {tv} | {nv} | {'' if ok else '**≠**'} |")

            row("frames", t["frames"], n["meta"]["packets"], "frames")
            row("echo requests", t["requests"], n["requests"], "requests")
            row("echo replies", t["replies"], n["replies"], "replies")
            row("echo packets (points[].echo_packets)", t["requests"] + t["replies"],
                n["meta"]["echo_packets"], "echo_packets")
            tt = sorted(t["echo_times"])
            nt = sorted((tm + off, d) for tm, d in n["csv_times"])
            if tt != nt:
                only_t = _multiset_minus(tt, nt)
                only_n = _multiset_minus(nt, tt)
                row("per-packet (time, direction) of echoes", f"{len(only_t)} only in tshark",
                    f"{len(only_n)} only in natcorr csv", "packet_times", same=False)
                rows.append(f"| {name} | e.g. | {only_t[:2]} | {only_n[:2]} | |")
            else:
                rows.append(f"| {name} | per-packet (time, direction) of echoes | {len(tt)} | {len(nt)} (csv rows, same) | |")
            if (n["csv_req"], n["csv_rep"]) != (n["requests"], n["replies"]):
                rows.append(f"| {name} | csv rows req/rep | | {n['csv_req']}/{n['csv_rep']} | (csv rows ≠ flow counts) |")
            if t["errors"]:
                rows.append(f"| {name} | ICMP errors (outer type) | {t['errors']} | (not echoes) | |")
            if t["truncated_echo"]:
                rows.append(f"| {name} | echoes cut by snaplen | {t['truncated_echo']} | | |")
            # RTT
            tr = t["rtts"]
            ncount = sum(s["count"] for s in n["rtt"])
            row("RTT count (resp_to pairs)", len(tr), ncount, "rtt_count")
            if t["resptime_default"] != len(tr):
                rows.append(f"| {name} | tshark resptime count, default reassembly | {t['resptime_default']} | | |")
            if tr or ncount:
                tmin = min(tr) if tr else None
                tmax = max(tr) if tr else None
                tmed = nearest_rank(tr, 0.5) if tr else None
                if n["rtt"]:
                    nmin = min(s["min"] for s in n["rtt"])
                    nmax = max(s["max"] for s in n["rtt"])
                    nmed = n["rtt"][0]["median"] if len(n["rtt"]) == 1 else \
                        "per flow " + ",".join(str(s["median"]) for s in n["rtt"])
                else:
                    nmin = nmax = nmed = None
                if len(n["rtt"]) > 1 and tr:
                    same_med = all(tmin <= s["median"] <= tmax for s in n["rtt"])
                else:
                    same_med = tmed == nmed
                row("RTT min ns", fmt_ns(tmin), fmt_ns(nmin), "rtt_values")
                row("RTT median ns", fmt_ns(tmed), fmt_ns(nmed) if not isinstance(nmed, str) else nmed,
                    "rtt_values", same=same_med)
                row("RTT max ns", fmt_ns(tmax), fmt_ns(nmax), "rtt_values")
            # times
            nf, nl = n["meta"]["first_ns"], n["meta"]["last_ns"]
            note = f" (natcorr shifted {off} ns)" if off else ""
            row("first ns (min over frames)" + note, t["min"], None if nf is None else nf + off, "first")
            if t["first"] != t["min"]:
                rows.append(f"| {name} | first frame ns (file order) | {t['first']} | | timestamps not monotonic |")
            row("last ns (max over frames)" + note, t["max"], None if nl is None else nl + off, "last")
            if t["last"] != t["max"]:
                rows.append(f"| {name} | last frame ns (file order) | {t['last']} | | timestamps not monotonic |")
            if off:
                rows.append(f"| {name} | clock offset applied by natcorr | | {off} ns | natcorr first/last are on the corrected clock; compared after undoing it |")
            md.extend(r + "\n" for r in rows)
        if terr:
            md.append(f"\ntshark said: `{terr.strip()[:300]}`\n")
        ws = [w for w in (doc or {}).get("warnings", []) if w.get("file") == path]
        for w in ws[:5]:
            md.append(f"\nnatcorr {w['severity']}: `{w['message'][:300]}`\n")
        before = len(problems)
        _judge(fkey, ex, diffs, problems, md)
        SUMMARY.append((fkey, totals, sorted(diffs), [p[1] for p in problems[before:]], ""))
    return "".join(md), problems, rc


def _multiset_minus(a, b):
    from collections import Counter
    c = Counter(a)
    c.subtract(Counter(b))
    return sorted(k for k, v in c.items() for _ in range(max(v, 0)))


def _merge_tpts(lst):
    out = {"frames": 0, "requests": 0, "replies": 0, "errors": 0, "rtts": [], "first": None,
           "last": None, "min": None, "max": None, "resptime_default": 0, "truncated_echo": 0, "echo_times": []}
    for p in lst:
        out["echo_times"] += p["echo_times"]
        for k in ("frames", "requests", "replies", "errors", "resptime_default", "truncated_echo"):
            out[k] += p[k]
        out["rtts"] += p["rtts"]
        out["first"] = p["first"] if out["first"] is None else out["first"]
        out["last"] = p["last"]
        out["min"] = p["min"] if out["min"] is None else min(out["min"], p["min"])
        out["max"] = p["max"] if out["max"] is None else max(out["max"], p["max"])
    return out


def _judge(fkey, ex, diffs, problems, md):
    if not diffs and not ex:
        md.append("\nno difference.\n")
        return
    for aspect, items in diffs.items():
        text = "; ".join(items) if isinstance(items, list) else items
        if aspect in ex:
            md.append(f"\n- {aspect}: {text}\n  - **explained:** {ex[aspect]}\n")
        else:
            md.append(f"\n- {aspect}: {text}\n  - **UNEXPLAINED**\n")
            problems.append((fkey, aspect, text))
    for aspect in ex:
        if aspect not in diffs:
            md.append(f"\n- {aspect}: explanation on file but **no longer differs** (fixed?): {ex[aspect][:120]}…\n")


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        print(__doc__)
        sys.exit(2)
    binary = os.path.abspath(args[0])
    corpus = "/work/shared/corpus"
    captures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "captures")
    only = None
    strict = "--strict" in args
    for i, a in enumerate(args):
        if a == "--corpus":
            corpus = args[i + 1]
        if a == "--captures":
            captures = args[i + 1]
        if a == "--only":
            only = args[i + 1]
    out = [f"# natcorr vs tshark\n\nbinary: `{binary}`\n"]
    problems = []
    out.append("\n## Corpus (each file alone)\n")
    for path in sorted(glob.glob(os.path.join(corpus, "*"))):
        base = os.path.basename(path)
        if base in ("MANIFEST.tsv", "README.md", "SHA256SUMS") or os.path.isdir(path):
            continue
        if only and only not in base:
            continue
        md, pr, _ = compare_unit(binary, base, [path], lambda p: os.path.basename(p))
        out.append(md)
        problems += pr
    out.append("\n## Lab captures (each scenario folder analysed together)\n")
    for d in sorted(glob.glob(os.path.join(captures, "*"))):
        files = sorted(glob.glob(os.path.join(d, "*.pcap")))
        if not files:
            continue
        scen = os.path.basename(d)
        if only and only not in scen:
            continue
        out.append(f"\n## scenario `{scen}`\n")
        md, pr, _ = compare_unit(binary, scen, files,
                                 lambda p: os.path.basename(os.path.dirname(p)) + "/" + os.path.basename(p))
        out.append(md)
        problems += pr
    if "--summary" in args:
        out = [f"# natcorr vs tshark (summary)\n\nbinary: `{binary}`\n\n",
               "tshark / natcorr per file (lab: per point, scenario folder analysed together). "
               "RTT values, per-packet times and first/last timestamps are compared too; "
               "'differs' lists every aspect that is not equal, each explained in the full report.\n\n",
               "| file | frames | echo requests | echo replies | RTTs | differs |\n|---|---|---|---|---|---|\n"]
        for fkey, totals, diffs, unexplained, info in SUMMARY:
            cell = lambda k: (f"{totals[k][0]}" if totals[k][0] == totals[k][1]
                              else f"**{totals[k][0]} / {totals[k][1]}**")
            what = ", ".join(d + (" (UNEXPLAINED)" if d in unexplained else "") for d in diffs)
            what = "; ".join(x for x in (what, info) if x)
            out.append(f"| {fkey} | {cell('frames')} | {cell('requests')} | {cell('replies')} | "
                       f"{cell('rtt_count')} | {what or 'none'} |\n")
    counts = [p for p in problems if p[1] in COUNT_ASPECTS or p[1] == "readable"]
    out.append("\n## Unexplained differences\n\n")
    if not problems:
        out.append("none\n")
    for f, a, t in problems:
        out.append(f"- {f} · {a}{' (count)' if (f, a, t) in counts else ''}: {t}\n")
    print("".join(out))
    sys.exit(1 if (counts or (strict and problems)) else 0)


if __name__ == "__main__":
    main()
