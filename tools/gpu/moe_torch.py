#!/usr/bin/env python3
"""PyTorch baselines for sieve-moe-table's cases, on the group sizes of each case.

Reads moe_table.json (written by sieve-moe-table --out DIR), and for every case times with
torch.cuda events (warm-up first, median of samples):
  grouped: torch._grouped_mm for gate_up, silu(gate) * up, torch._grouped_mm for down;
  loop:    a Python loop over the non-empty experts of x_e @ W_e.T (gate_up), silu * up, and
           act_e @ D_e.T (down).
Both start from rows already grouped by expert (bf16) and stop before the weighted combine, as
the cuBLAS baseline does. When a case's working set would sit in L2, the same relabelled
routings as sieve-moe-table's (counts rolled by r * shift experts) are used in turn.
Writes moe_torch.json: per case (same order as the input) the median ms of each, or a status
saying why not. torch is imported only when timing; --dry-run checks the input and writes the
plan without it.
"""
import argparse
import json
import statistics
import sys


def case_key(c):
    return f"{c['shape']} {c['routing']} {c['tokens']}"


def rolled(counts, shift):
    """counts'[(e + shift) % E] = counts[e]: the same group sizes on other experts."""
    n = len(counts)
    out = [0] * n
    for e, c in enumerate(counts):
        out[(e + shift) % n] = c
    return out


def plan_case(c):
    """What one case times: rows, per-rotation counts, and the non-empty groups."""
    rotations = max(1, int(c.get("rotations", 1)))
    counts = [rolled(c["counts"], r * int(c.get("shift", 0))) for r in range(rotations)]
    rows = sum(c["counts"])
    if rows != c["tokens"] * c["top_k"]:
        raise ValueError(f"{case_key(c)}: counts sum to {rows}, not tokens*top_k")
    return {"rows": rows, "counts": counts, "groups": sum(1 for n in c["counts"] if n > 0)}


def median_ms(torch, fn, rotations, iters, budget_ms):
    """Median ms per call of fn(r) over event-timed samples of whole rotation cycles."""
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    fn(0)  # warm-up (kernel selection, allocator)
    start.record()
    for r in range(rotations):
        fn(r)
    stop.record()
    stop.synchronize()
    est = max(start.elapsed_time(stop) / rotations, 1e-3)
    per_sample = max(1, min(50, int(1.0 / est)))
    per_sample = -(-per_sample // rotations) * rotations  # whole cycles
    samples = max(3, min(iters, int(budget_ms / (est * per_sample))))
    times = []
    for _ in range(samples):
        start.record()
        for i in range(per_sample):
            fn(i % rotations)
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / per_sample)
    return statistics.median(times)


class ShapeWeights:
    """One shape's bf16 expert weights, scaled as sieve-moe-table scales its own."""

    def __init__(self, torch, c):
        e, h, i = c["experts"], c["hidden"], c["inter"]
        dev = "cuda"
        self.gate_up = torch.empty(e, 2 * i, h, device=dev, dtype=torch.bfloat16)
        self.gate_up.uniform_(-3 / h**0.5, 3 / h**0.5)
        self.down = torch.empty(e, h, i, device=dev, dtype=torch.bfloat16)
        self.down.uniform_(-3 / i**0.5, 3 / i**0.5)
        # _grouped_mm wants mat_b as [groups, k, n]: transposed views of the [n, k] weights.
        self.gate_up_t = self.gate_up.transpose(1, 2)
        self.down_t = self.down.transpose(1, 2)
        self.inter = i


def time_case(torch, w, c, plan, iters, budget_ms):
    import torch.nn.functional as F

    rotations = len(plan["counts"])
    rows, inter = plan["rows"], w.inter
    xs = [torch.empty(rows, c["hidden"], device="cuda", dtype=torch.bfloat16).uniform_(-1, 1)
          for _ in range(rotations)]
    offs = [torch.tensor(counts, device="cuda", dtype=torch.int32).cumsum(0, dtype=torch.int32)
            for counts in plan["counts"]]
    bounds = []
    for counts in plan["counts"]:
        b, start = [], 0
        for e, n in enumerate(counts):
            if n:
                b.append((e, start, start + n))
            start += n
        bounds.append(b)

    def grouped(r):
        gu = torch._grouped_mm(xs[r], w.gate_up_t, offs=offs[r])
        act = F.silu(gu[:, :inter]) * gu[:, inter:]
        return torch._grouped_mm(act, w.down_t, offs=offs[r])

    def loop(r):
        x = xs[r]
        y = torch.empty_like(x)
        for e, s, t in bounds[r]:
            gu = x[s:t] @ w.gate_up[e].T
            y[s:t] = (F.silu(gu[:, :inter]) * gu[:, inter:]) @ w.down[e].T
        return y

    res = {}
    ref = loop(0)
    try:
        if not hasattr(torch, "_grouped_mm"):
            raise RuntimeError(f"torch {torch.__version__} has no torch._grouped_mm")
        got = grouped(0)
        err = (got.float() - ref.float()).norm() / ref.float().norm()
        res["grouped"] = {"status": "ok", "ms": median_ms(torch, grouped, rotations, iters, budget_ms),
                          "rel_err_vs_loop": float(err)}
    except Exception as e:  # missing op, unsupported shape: say so for this case, go on
        res["grouped"] = {"status": f"error: {e}".splitlines()[0][:200]}
    res["loop"] = {"status": "ok", "ms": median_ms(torch, loop, rotations, iters, budget_ms)}
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", required=True, help="moe_table.json from sieve-moe-table")
    ap.add_argument("--out", required=True, help="moe_torch.json to write")
    ap.add_argument("--iters", type=int, default=9, help="timed samples per figure (median)")
    ap.add_argument("--budget-ms", type=float, default=150, help="device time per figure")
    ap.add_argument("--max-ms", type=float, default=0,
                    help="skip a case whose cuBLAS/our time exceeds this (0: no limit)")
    ap.add_argument("--dry-run", action="store_true", help="check the input, do not import torch")
    args = ap.parse_args()

    with open(args.table) as f:
        table = json.load(f)
    cases = table["cases"]
    plans = [plan_case(c) for c in cases]
    result = {"torch": None, "device": None, "cases": []}

    def write():
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)

    if args.dry_run:
        for c, p in zip(cases, plans):
            result["cases"].append({"key": case_key(c), "rows": p["rows"], "groups": p["groups"],
                                    "rotations": len(p["counts"]),
                                    "grouped": {"status": "dry-run"}, "loop": {"status": "dry-run"}})
            print(f"dry-run: {case_key(c)}: {p['rows']} rows in {p['groups']} groups, "
                  f"{len(p['counts'])} rotation(s)")
        write()
        return 0

    try:
        import torch
    except ImportError as e:
        result["error"] = f"PyTorch is not installed here ({e}); no torch baselines"
        write()
        print(f"moe_torch.py: {result['error']}", file=sys.stderr)
        return 3
    if not torch.cuda.is_available():
        result["error"] = "torch sees no CUDA device"
        write()
        print(f"moe_torch.py: {result['error']}", file=sys.stderr)
        return 3
    result["torch"] = torch.__version__
    result["device"] = torch.cuda.get_device_name()
    weights, weights_of = None, None
    for c, p in zip(cases, plans):
        if weights_of != c["shape"]:
            weights = None  # free the previous shape's weights first
            torch.cuda.empty_cache()
            weights, weights_of = ShapeWeights(torch, c), c["shape"]
        entry = {"key": case_key(c), "rows": p["rows"], "groups": p["groups"],
                 "rotations": len(p["counts"])}
        ours = c.get("best_ms") or c.get("cublas", {}).get("ms")
        if args.max_ms and ours and ours > args.max_ms:
            entry["grouped"] = entry["loop"] = {"status": "skipped"}
        else:
            entry.update(time_case(torch, weights, c, p, args.iters, args.budget_ms))
        result["cases"].append(entry)
        g, l = entry["grouped"], entry["loop"]
        print(f"{entry['key']}: grouped_mm {g.get('ms', g['status'])}  loop {l.get('ms', l['status'])}",
              flush=True)
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
