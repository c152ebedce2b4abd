#!/usr/bin/env python3
"""Compare warden-posture with Parliament on the same policy directory (same run, same machine).

Usage (from the repository root):
    cargo run --release -p warden-posture --example gen_policies -- /tmp/wp-policies 10000
    cargo build --release -p warden-cli
    python3 -m venv /root/posture-venv && /root/posture-venv/bin/pip install parliament==1.6.4
    python3 crates/warden-posture/tools/compare_parliament.py \
        --warden $CARGO_TARGET_DIR/release/warden --dir /tmp/wp-policies \
        --parliament /root/posture-venv/bin/parliament

Prints wall-clock times (best of --runs), the ratio, and per-category differences: for each
category, the number of files where only Parliament or only warden-posture reports it, with
examples. Categories map Parliament issue codes and warden rule ids onto shared names.
"""
import argparse
import collections
import json
import subprocess
import time

# Parliament issue → shared category
PARLIAMENT = {
    "PRIVILEGE_ESCALATION": "privilege-escalation",
    "PERMISSIONS_MANAGEMENT_ACTIONS": "permissions-management",
    "CREDENTIALS_EXPOSURE": "credentials-exposure",
    "RESOURCE_STAR": "resource-star",
    "RESOURCE_EFFECTIVELY_STAR": "resource-star",
    "UNKNOWN_ACTION": "unknown-action",
    "UNKNOWN_PREFIX": "unknown-action",
    "NO_VERSION": "version",
    "OLD_VERSION": "version",
    "NOTRESOURCE_WITH_ALLOW": "not-resource",
    "NOTPRINCIPAL_WITH_ALLOW": "not-principal",
    "MALFORMED": "malformed",
    "DUPLICATE_SID": "duplicate-sid",
    "UNKNOWN_OPERATOR": "condition",
    "MISMATCHED_TYPE": "condition",
    "MISMATCHED_TYPE_BUT_USABLE": "condition",
    "UNKNOWN_CONDITION_FOR_ACTION": "condition",
    "SENSITIVE_ACCESS": "data-exfiltration",
}
# warden rule → shared category
WARDEN = {
    "IAM-007": "privilege-escalation",
    "IAM-004": "permissions-management",
    "IAM-011": "permissions-management",
    "IAM-005": "credentials-exposure",
    "IAM-001": "resource-star",
    "IAM-003": "resource-star",
    "IAM-006": "data-exfiltration",
    "IAM-013": "unknown-action",
    "IAM-014": "version",
    "IAM-009": "not-resource",
    "IAM-010": "not-principal",
    "IAM-016": "malformed",
    "IAM-017": "duplicate-sid",
    "IAM-015": "condition",
}


def timed(cmd, runs):
    best, out = None, None
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.perf_counter() - t
        if p.returncode not in (0, 1, 2):
            raise SystemExit(f"{cmd[0]} failed ({p.returncode}): {p.stderr[:500]}")
        best = dt if best is None else min(best, dt)
        out = p.stdout
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warden", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--parliament", default="/root/posture-venv/bin/parliament")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--examples", type=int, default=3)
    a = ap.parse_args()

    wt, wout = timed([a.warden, "scan", "--format", "json", "--no-progress", "--fail-on", "critical", a.dir], a.runs)
    pt, pout = timed([a.parliament, "--directory", a.dir, "--json", "--include-community-auditors"], max(1, a.runs - 2))

    w = collections.defaultdict(set)
    wraw = collections.Counter()
    report = json.loads(wout)
    for f in report["findings"]:
        wraw[f["rule"]] += 1
        cat = WARDEN.get(f["rule"])
        if cat:
            w[f["file"].split("/")[-1]].add(cat)
    p = collections.defaultdict(set)
    praw = collections.Counter()
    for line in pout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        f = json.loads(line)
        praw[f["issue"]] += 1
        cat = PARLIAMENT.get(f["issue"])
        if cat:
            p[f["location"]["filepath"].split("/")[-1]].add(cat)

    files = sorted(set(w) | set(p))
    cats = sorted(set(WARDEN.values()) | set(PARLIAMENT.values()))
    print(f"policies dir: {a.dir}")
    print(f"warden-posture: {wt:.3f} s (best of {a.runs}), {sum(wraw.values())} findings, {report['summary']['filesScanned']} files")
    print(f"parliament:     {pt:.3f} s (best of {max(1, a.runs - 2)}), {sum(praw.values())} findings")
    print(f"ratio parliament/warden: {pt / wt:.1f}x")
    print()
    print("| category | files both | only parliament | only warden |")
    print("|---|---:|---:|---:|")
    examples = {}
    for c in cats:
        both = sum(1 for f in files if c in w[f] and c in p[f])
        op = [f for f in files if c in p[f] and c not in w[f]]
        ow = [f for f in files if c in w[f] and c not in p[f]]
        print(f"| {c} | {both} | {len(op)} | {len(ow)} |")
        examples[c] = (op[: a.examples], ow[: a.examples])
    print()
    for c, (op, ow) in examples.items():
        if op or ow:
            print(f"- {c}: only parliament e.g. {op}; only warden e.g. {ow}")
    print()
    print("warden rule counts:", dict(sorted(wraw.items())))
    print("parliament issue counts:", dict(sorted(praw.items())))


if __name__ == "__main__":
    main()
