#!/usr/bin/env python3
"""Refreshes the example outputs in README.md from the committed captures.

Each block between `<!-- example: ARGS -->` and `<!-- /example -->` is replaced by the output of
`natcorr ARGS` (run from the repository root; `| sed -n 'A,Bp'`-style trimming is done with an
optional `lines=FROM:TO` or `from=TEXT to=TEXT` suffix). Run after changing the report:
    cargo build --release && python3 scripts/readme_examples.py
"""
import glob
import re
import shlex
import subprocess
import sys

README = "README.md"
BIN = "target/release/natcorr"

def run(spec):
    parts = shlex.split(spec)
    cut_from = cut_to = None
    args = []
    for p in parts:
        if p.startswith("from="):
            cut_from = p[5:]
        elif p.startswith("to="):
            cut_to = p[3:]
        else:
            args.extend(sorted(glob.glob(p)) if "*" in p and "/" in p else [p])
    out = subprocess.run([BIN] + args, capture_output=True, text=True).stdout.rstrip("\n")
    lines = out.split("\n")
    if cut_from:
        lines = lines[next(i for i, l in enumerate(lines) if l.startswith(cut_from)):]
    if cut_to:
        lines = lines[:next(i for i, l in enumerate(lines) if l.startswith(cut_to))]
    return "\n".join(lines).rstrip("\n")

text = open(README).read()
pattern = re.compile(r"(<!-- example: (.*?) -->\n```\n)(.*?)(```\n<!-- /example -->)", re.S)
text, n = pattern.subn(lambda m: m.group(1) + run(m.group(2)) + "\n" + m.group(4), text)
open(README, "w").write(text)
print(f"refreshed {n} examples", file=sys.stderr)
