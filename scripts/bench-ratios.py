#!/usr/bin/env python3
"""Ratio tables for BENCHMARKS.md from the criterion estimates of the kx, sign and handshake benches.

Reads target/criterion/<group>/<bench>/<baseline>/{benchmark,estimates}.json and uses the
mean point estimate of each benchmark. Two kinds of ratio come out, both measured within one
run (one criterion baseline, one bench binary invocation):

- paired: the `*-ratio-*` benchmarks, whose estimate *is* the ratio of the operation to what
  it is compared with, the two run interleaved (qtls-provider/benches/support/clock.rs). The
  verdicts use these.
- separate: the quotient of the per-operation estimates (`kx-*`, `sign-*`, `handshake-*`),
  measured one after the other, each over its own few seconds. Shown beside, for reference:
  on a machine whose speed drifts, these carry that drift.

Ratios compared:
- key exchange: hybrid group / (ECDH part + ML-KEM part), per side and backend (target
  <= 1.10); pure MLKEM1024 / ML-KEM-1024 alone shows the group wrapper's overhead;
- signatures: composite / (ML-DSA-65 with ctx = label + ECDSA-P384), sign and verify
  (target <= 1.05); ML-DSA-65 with that ctx / pure ML-DSA-65 (ctx = "") for reference;
- every composite (benches/composites.rs, issue #10): composite / (its ML-DSA half with
  ctx = label + its traditional half), sign and verify (target <= 1.05);
- handshakes: each group x scheme / rustls's X25519 + ECDSA-P256 baseline (no target).

With several baselines (passes saved with `cargo bench ... -- --save-baseline NAME`) each
ratio is computed within each pass that has all its operands; the tables show the median
over those passes, the range and their number n.

Usage: scripts/bench-ratios.py [--dir CRITERION_DIR] [BASELINE ...]
       (defaults: target/criterion, and the baseline "new" that criterion always writes)
"""

import argparse
import json
import pathlib
import statistics

KX_TARGET = 1.10
SIGN_TARGET = 1.05
BACKENDS = ["aws-lc-rs", "oqs"]

# group -> (ECDH part or None, ML-KEM part)
KX_PARTS = {
    "SecP384r1MLKEM1024": ("P-384", "ML-KEM-1024"),
    "X25519MLKEM1024": ("X25519", "ML-KEM-1024"),
    "X25519MLKEM768": ("X25519", "ML-KEM-768"),
    "MLKEM1024": (None, "ML-KEM-1024"),
}
COMPOSITE = "composite-MLDSA65-ECDSA-P384"
HANDSHAKE_GROUPS = ["SecP384r1MLKEM1024", "X25519MLKEM1024", "X25519MLKEM768", "MLKEM1024"]
HANDSHAKE_SCHEMES = ["MLDSA65-ECDSA-P384-SHA512", "ML-DSA-65", "ECDSA-P384"]
BASELINE = "baseline-X25519-ECDSA-P256"
# draft-ietf-lamps-pq-composite-sigs-19, in OID order (qtls_provider::CompositeAlgorithm::ALL).
COMPOSITES = [
    "MLDSA44-RSA2048-PSS-SHA256", "MLDSA44-RSA2048-PKCS15-SHA256", "MLDSA44-Ed25519-SHA512",
    "MLDSA44-ECDSA-P256-SHA256", "MLDSA65-RSA3072-PSS-SHA512", "MLDSA65-RSA3072-PKCS15-SHA512",
    "MLDSA65-RSA4096-PSS-SHA512", "MLDSA65-RSA4096-PKCS15-SHA512", "MLDSA65-ECDSA-P256-SHA512",
    "MLDSA65-ECDSA-P384-SHA512", "MLDSA65-ECDSA-brainpoolP256r1-SHA512", "MLDSA65-Ed25519-SHA512",
    "MLDSA87-ECDSA-P384-SHA512", "MLDSA87-ECDSA-brainpoolP384r1-SHA512", "MLDSA87-Ed448-SHAKE256",
    "MLDSA87-RSA3072-PSS-SHA512", "MLDSA87-RSA4096-PSS-SHA512", "MLDSA87-ECDSA-P521-SHA512",
]


def load(root, baseline):
    """{(group_id, function_id): mean} of one criterion baseline."""
    means = {}
    for bench in root.glob(f"**/{baseline}/benchmark.json"):
        estimates = bench.with_name("estimates.json")
        if estimates.exists():
            meta = json.loads(bench.read_text())
            mean = json.loads(estimates.read_text())["mean"]["point_estimate"]
            means[(meta["group_id"], meta["function_id"])] = mean
    return means


class Passes:
    """Per-pass means of several baselines."""

    def __init__(self, passes):
        self.passes = passes

    def get(self, group, function):
        """The value in each pass (None where a pass lacks it), or None if no pass has it."""
        values = [p.get((group, function)) for p in self.passes]
        return None if all(v is None for v in values) else values


def per_pass(combine, *series):
    """combine(...) within each pass that has every operand."""
    return [combine(*values) for values in zip(*series) if None not in values]


def med(values):
    return statistics.median(v for v in values if v is not None)


def fmt_ratio(values, bold=False, digits=3, unit=""):
    values = [v for v in values if v is not None]
    text = f"{med(values):.{digits}f}{unit}"
    if bold:
        text = f"**{text}**"
    if len(values) > 1:
        text += (
            f" ({min(values):.{digits}f}–{max(values):.{digits}f}, "
            f"mean {statistics.mean(values):.{digits}f}, n={len(values)})"
        )
    return text


def fmt_time(values):
    ns = med(values)
    return f"{ns / 1e6:.2f} ms" if ns >= 1e6 else f"{ns / 1e3:.1f} µs"


def verdict(values, target):
    return "met" if med(values) <= target else "**missed**"


def kx_table(data):
    rows = []
    for backend in BACKENDS:
        times, ratios = f"kx-{backend}", f"kx-ratio-{backend}"
        for name, (ecdh, kem) in KX_PARTS.items():
            for side in ("client", "server"):
                paired = data.get(ratios, f"{name}-{side}")
                total = data.get(times, f"{name}-{side}")
                kem_t = data.get(times, f"part-{kem}-{side}")
                ecdh_t = data.get(times, f"part-{ecdh}-{side}") if ecdh else None
                if paired is None:
                    continue
                parts = []
                if ecdh_t:
                    parts.append(f"{ecdh} {fmt_time(ecdh_t)}")
                if kem_t:
                    parts.append(f"{kem} {fmt_time(kem_t)}")
                separate = "—"
                if total and kem_t and (ecdh_t or not ecdh):
                    zeros = [0.0] * len(total)
                    separate = fmt_ratio(
                        per_pass(lambda t, e, k: t / (e + k), total, ecdh_t or zeros, kem_t)
                    )
                target = f"≤ {KX_TARGET:.2f}" if ecdh else "—"
                v = verdict(paired, KX_TARGET) if ecdh else "wrapper overhead"
                rows.append(
                    f"| {backend} | {name} | {side} | {fmt_time(total) if total else '—'} "
                    f"| {' + '.join(parts)} | {fmt_ratio(paired, bold=True)} | {separate} "
                    f"| {target} | {v} |"
                )
    if not rows:
        return ""
    return (
        "| backend | group | side | group time | parts' times | paired ratio | separate ratio "
        "| target | verdict |\n|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def sign_table(data):
    rows = []
    for backend in BACKENDS:
        times, ratios = f"sign-{backend}", f"sign-ratio-{backend}"
        for op in ("sign", "verify"):
            paired = data.get(ratios, f"composite-{op}")
            comp = data.get(times, f"{COMPOSITE}-{op}")
            mldsa = data.get(times, f"ML-DSA-65-ctx-{op}")
            ecdsa = data.get(times, f"ECDSA-P384-{op}")
            pure = data.get(times, f"ML-DSA-65-pure-{op}")
            ctx_vs_pure = data.get(ratios, f"ML-DSA-65-ctx-vs-pure-{op}")
            if paired is None:
                continue
            separate = "—"
            if comp and mldsa and ecdsa:
                separate = fmt_ratio(per_pass(lambda c, m, e: c / (m + e), comp, mldsa, ecdsa))
            t = lambda v: fmt_time(v) if v else "—"  # noqa: E731
            rows.append(
                f"| {backend} | {op} | {t(comp)} | {t(mldsa)} | {t(ecdsa)} "
                f"| {fmt_ratio(paired, bold=True)} | {separate} | ≤ {SIGN_TARGET:.2f} "
                f"| {verdict(paired, SIGN_TARGET)} | {t(pure)} "
                f"| {fmt_ratio(ctx_vs_pure) if ctx_vs_pure else '—'} |"
            )
    if not rows:
        return ""
    return (
        "| backend | op | composite | ML-DSA-65 (ctx = label) | ECDSA-P384 | paired ratio "
        "| separate ratio | target | verdict | ML-DSA-65 pure (ctx = \"\") "
        "| ML-DSA-65 ctx / pure (paired) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def composites_table(data):
    rows = []
    for backend in BACKENDS:
        times, ratios = f"composite-{backend}", f"composite-ratio-{backend}"
        for name in COMPOSITES:
            cells = []
            paired_all = []
            for op in ("sign", "verify"):
                paired = data.get(ratios, f"{name}-{op}")
                t = data.get(times, f"{name}-{op}")
                cells.append(fmt_time(t) if t else "—")
                cells.append(fmt_ratio(paired, bold=True) if paired else "—")
                if paired:
                    paired_all.append(med(paired))
            if not paired_all:
                continue
            v = "met" if max(paired_all) <= SIGN_TARGET else "**missed**"
            rows.append(f"| {backend} | {name} | " + " | ".join(cells) + f" | {v} |")
    if not rows:
        return ""
    return (
        "| backend | algorithm | sign | sign / halves (paired) | verify "
        "| verify / halves (paired) | ≤ 1.05 |\n|---|---|---|---|---|---|---|\n"
        + "\n".join(rows) + "\n"
    )


def handshake_table(data):
    out = []
    for backend in BACKENDS:
        times, ratios = f"handshake-{backend}", f"handshake-ratio-{backend}"
        base = data.get(times, BASELINE)
        rows = []
        for name in HANDSHAKE_GROUPS:
            cells = []
            for scheme in HANDSHAKE_SCHEMES:
                paired = data.get(ratios, f"{name}-{scheme}")
                t = data.get(times, f"{name}-{scheme}")
                cell = fmt_ratio(paired, bold=True, digits=2, unit="×") if paired else "—"
                if t:
                    cell += f"; {fmt_time(t)}"
                cells.append(cell)
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
        if all(row.count("—") == len(HANDSHAKE_SCHEMES) for row in rows):
            continue
        out.append(
            f"Backend **{backend}**; baseline = rustls aws-lc-rs, X25519 + ECDSA-P256"
            + (f" ({fmt_time(base)})" if base else "")
            + ". Cells: paired ratio to the baseline; handshake time.\n\n"
            "| group \\ scheme | " + " | ".join(HANDSHAKE_SCHEMES) + " |\n"
            "|---|---|---|---|\n" + "\n".join(rows) + "\n"
        )
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="target/criterion", type=pathlib.Path)
    parser.add_argument("baselines", nargs="*", default=["new"])
    args = parser.parse_args()
    passes = [load(args.dir, b) for b in args.baselines]
    if not any(passes):
        raise SystemExit(f"no criterion estimates under {args.dir} for {args.baselines}")
    data = Passes(passes)
    print(
        f"Passes: {', '.join(args.baselines)}. Ratios: median over passes "
        "(min–max and mean over n passes in brackets); times: median of the per-operation means.\n"
    )
    for title, table in (
        ("Key exchange: hybrid group / (ECDH part + ML-KEM part)", kx_table(data)),
        ("Signatures: composite / (ML-DSA-65 with ctx + ECDSA-P384)", sign_table(data)),
        ("Every composite: composite / (ML-DSA half + traditional half)", composites_table(data)),
        ("Full handshakes: each / baseline", handshake_table(data)),
    ):
        if table:
            print(f"### {title}\n\n{table}")


if __name__ == "__main__":
    main()
