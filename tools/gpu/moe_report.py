#!/usr/bin/env python3
"""The MoE expert-block table: sieve-moe-table's figures joined with moe_torch.py's, next to
the targets. Reads moe_table.json and (optionally) moe_torch.json; prints only.

Targets, judged on our best variant per case:
  tokens <= 64:   achieved bandwidth >= 0.80 of the device-to-device copy;
  tokens >= 4096: >= 400 TFLOP/s (an H100 figure; judged on whatever device ran);
  everywhere:     >= 1.5x torch._grouped_mm (its time / ours).
"""
import argparse
import json
import math

COPY_TARGET, TFLOPS_TARGET, GMM_TARGET = 0.80, 400.0, 1.5


def fmt_us(ms):
    return f"{ms * 1e3:.1f}" if ms is not None else "-"


def ratio(theirs, ours):
    return theirs / ours if theirs and ours else None


def fmt_x(r):
    return f"{r:.2f}x" if r is not None else "-"


def variant_cell(v):
    if v["status"] == "ok":
        return fmt_us(v["ms"])
    return "-" if v["status"] == "skipped" else "n/a"


def targets(c, best, gmm_ratio):
    """(text, met, missed) for the targets that apply to this case."""
    out, met, missed = [], 0, 0

    def judge(ok, text):
        nonlocal met, missed
        met += ok
        missed += not ok
        out.append(text + (" ok" if ok else " MISS"))

    if best is None:
        return "no passing variant", 0, 1
    if c["tokens"] <= 64:
        judge(best["of_copy"] >= COPY_TARGET, f"copy {best['of_copy']:.2f}>={COPY_TARGET}")
    if c["tokens"] >= 4096:
        judge(best["tflops"] >= TFLOPS_TARGET, f"{best['tflops']:.0f}>={TFLOPS_TARGET:.0f}TF")
    if gmm_ratio is not None:
        judge(gmm_ratio >= GMM_TARGET, f"gmm {gmm_ratio:.2f}>={GMM_TARGET}")
    return ", ".join(out), met, missed


def err_cell(v):
    if not v or v.get("status") != "ok":
        return "-"
    if v.get("rel_err") is None or v.get("nonfinite", 0) > 0:
        return "NaN"
    return f"{v['rel_err']:.1e}"


def print_errors(cases, names):
    """Every variant's ||out - ref|| / ||ref|| (and cuBLAS's), one row per case."""
    print("\nrel. error vs the plain reference on `ref` tokens (NaN: non-finite output; - not run)")
    print(f"{'shape':13} {'routing':7} {'tokens':>6} {'ref':>4} | "
          + " ".join(f"{n[:11]:>11}" for n in names + ["cublas"]))
    for c in cases:
        by_name = {v["name"]: v for v in c["ours"]}
        cells = [err_cell(by_name.get(n)) for n in names] + [err_cell(c.get("cublas"))]
        print(f"{c['shape']:13} {c['routing']:7} {c['tokens']:>6} {c['ref_tokens']:>4} | "
              + " ".join(f"{x:>11}" for x in cells))
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", required=True, help="moe_table.json from sieve-moe-table")
    ap.add_argument("--torch", help="moe_torch.json from moe_torch.py (optional)")
    args = ap.parse_args()
    with open(args.table) as f:
        table = json.load(f)
    torch_cases, torch_note = {}, "torch: not run"
    if args.torch:
        try:
            with open(args.torch) as f:
                tj = json.load(f)
            torch_cases = {c["key"]: c for c in tj.get("cases", [])}
            torch_note = tj.get("error") or (
                f"torch {tj['torch']} on {tj['device']}" if tj.get("torch") else "torch: dry run")
        except FileNotFoundError:
            torch_note = f"torch: {args.torch} missing"

    cases = table["cases"]
    names = [v["name"] for v in cases[0]["ours"]] if cases else []
    print(f"=== MoE expert block: {table['device']['name']}; copy "
          f"{table['copy_gbps']:.0f} GB/s; dense bf16 GEMM {table['dense_tflops']:.0f} TFLOP/s; "
          f"{torch_note}")
    print("us per call (- skipped: predicted too slow; n/a unsupported). GB/s, TFLOP/s and ratios "
          "are of our best variant; ratios are their time / ours (cuBLAS and torch do the two "
          "products only)")
    head = (f"{'shape':13} {'routing':7} {'tokens':>6} {'hit':>4} | "
            + " ".join(f"{n[:11]:>11}" for n in names)
            + f" | {'best':11} {'GB/s':>6} {'copy':>5} {'TFLOP/s':>7} {'dense':>5} | "
              f"{'cublas':>7} {'gmm':>7} {'loop':>7} | {'err':>7} | targets")
    print(head)
    print("-" * len(head))
    met_all = missed_all = 0
    judged_gmm = False
    flags = []
    for c in cases:
        by_name = {v["name"]: v for v in c["ours"]}
        best = by_name.get(c["best"]) if c.get("best") else None
        tc = torch_cases.get(f"{c['shape']} {c['routing']} {c['tokens']}", {})
        gmm = tc.get("grouped", {})
        loop = tc.get("loop", {})
        best_ms = c.get("best_ms")
        gmm_r = ratio(gmm.get("ms"), best_ms)
        judged_gmm |= gmm_r is not None
        errs = [v["rel_err"] for v in c["ours"] if v["status"] == "ok"]
        worst = max((math.inf if e is None else e) for e in errs) if errs else None
        text, met, missed = targets(c, best, gmm_r)
        met_all += met
        missed_all += missed
        if c.get("flag"):
            flags.append(f"{c['shape']} {c['routing']} {c['tokens']}: {c['flag']}")
        row = (f"{c['shape']:13} {c['routing']:7} {c['tokens']:>6} {c['experts_hit']:>4} | "
               + " ".join(f"{variant_cell(by_name[n]):>11}" for n in names) + " | ")
        if best:
            row += (f"{c['best'][:11]:11} {best['gbps']:>6.0f} {best['of_copy']:>5.2f} "
                    f"{best['tflops']:>7.1f} {best['of_dense']:>5.2f} | ")
        else:
            row += f"{'none':11} {'':>6} {'':>5} {'':>7} {'':>5} | "
        cub = c.get("cublas", {})
        row += (f"{fmt_x(ratio(cub.get('ms'), best_ms)):>7} {fmt_x(gmm_r) if gmm.get('status', 'ok') == 'ok' else gmm['status'][:7]:>7} "
                f"{fmt_x(ratio(loop.get('ms'), best_ms)) if loop.get('status', 'ok') == 'ok' else loop['status'][:7]:>7} | "
                f"{('NaN' if worst == math.inf else f'{worst:.1e}') if worst is not None else '-':>7} | {text}")
        print(row)
    print_errors(cases, names)
    print(f"targets met {met_all}, missed {missed_all}"
          + ("" if judged_gmm else " (no torch figures: the 1.5x torch._grouped_mm target is not judged)"))
    for f in flags:
        print(f"FLAG (error above {table['settings']['err_band']:g} or non-finite): {f}")


if __name__ == "__main__":
    main()
