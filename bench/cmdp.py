"""The CMDP optimum for the Markov scenarios (research/pacing.md §3.2): the best talk occupancy any
non-anticipating pacer can reach under an abandon cap when talk, wrap-up and dial resolution are
exponential, as a linear program over occupation measures.

State (talking, wrapping, dials in flight, parties holding); talk ends at rate talking/E[T],
wrap-up at wrapping/E[W] (a freed agent takes a holding party), a dial resolves at 1/E[D] and is
live with probability p (to an idle agent, else it holds), a holding party abandons at 1/2 s;
lines: in flight + talking + holding ≤ L. Action: dial or not, at rate Λ = 100/s. Maximise
Σ x·talking/N subject to abandon rate ≤ α × live-answer rate. Needs scipy (HiGHS); bench/pacing.py
reads the frontier this writes (bench/cmdp_frontier.json) and needs no scipy.

    python3 bench/cmdp.py [--scenario M1 ...] [--alphas 0.01,0.02,0.025,0.03,0.035,0.04]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

MARKOV = {"M1": (3, 4, 0.30), "M2": (10, 30, 0.30), "M3": (30, 90, 0.30), "M4": (20, 100, 0.15)}
TALK, WRAP, DIAL, PATIENCE, RATE = 180.0, 20.0, 10.0, 2.0, 100.0
METHOD = "highs-ipm"  # the dual simplex took over 10 min on M2; the interior point is quicker
OUT = Path(__file__).resolve().parent / "cmdp_frontier.json"


def states(n: int, lines: int) -> list[tuple[int, int, int, int]]:
    out = []
    for bt in range(n + 1):
        for bw in range(n - bt + 1):
            for q in range(lines - bt + 1) if bt + bw == n else (0,):
                for m in range(lines - bt - q + 1):
                    out.append((bt, bw, m, q))
    return out


def solve(n: int, lines: int, p: float, alphas: list[float]) -> dict[str, float]:
    import numpy as np
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    ss = states(n, lines)
    index = {s: i for i, s in enumerate(ss)}
    cols: list[tuple[int, int]] = []  # (state, action)
    for i, (bt, _, m, q) in enumerate(ss):
        cols.append((i, 0))
        if m + bt + q < lines:
            cols.append((i, 1))
    rows, cs, vals = [], [], []
    talk, live, abandon = [], [], []
    for j, (i, a) in enumerate(cols):
        bt, bw, m, q = ss[i]
        idle = n - bt - bw
        moves: list[tuple[tuple[int, int, int, int], float]] = []
        if bt:
            moves.append(((bt - 1, bw + 1, m, q), bt / TALK))
        if bw:
            moves.append(((bt + 1, bw - 1, m, q - 1) if q else (bt, bw - 1, m, q), bw / WRAP))
        if m:
            hit = (bt + 1, bw, m - 1, q) if idle else (bt, bw, m - 1, q + 1)
            moves.append((hit, m * p / DIAL))
            moves.append(((bt, bw, m - 1, q), m * (1 - p) / DIAL))
        if q:
            moves.append(((bt, bw, m, q - 1), q / PATIENCE))
        if a:
            moves.append(((bt, bw, m + 1, q), RATE))
        out = 0.0
        for to, rate in moves:
            rows.append(index[to])
            cs.append(j)
            vals.append(rate)
            out += rate
        rows.append(i)
        cs.append(j)
        vals.append(-out)
        talk.append(bt / n)
        live.append(m * p / DIAL)
        abandon.append(q / PATIENCE)
    flow = coo_matrix((vals, (rows, cs)), shape=(len(ss), len(cols))).tocsr()
    ones = np.ones((1, len(cols)))
    from scipy.sparse import vstack

    a_eq = vstack([flow, ones])
    b_eq = np.zeros(len(ss) + 1)
    b_eq[-1] = 1.0
    out_frontier: dict[str, float] = {}
    for alpha in alphas:
        a_ub = (np.array(abandon) - alpha * np.array(live)).reshape(1, -1)
        res = linprog(-np.array(talk), A_ub=a_ub, b_ub=[0.0], A_eq=a_eq, b_eq=b_eq,
                      bounds=(0, None), method=METHOD)  # fmt: skip
        if res.status == 0:
            out_frontier[f"{alpha:g}"] = round(-res.fun, 5)
    return out_frontier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--scenario", action="append", choices=sorted(MARKOV))
    parser.add_argument("--alphas", default="0.005,0.01,0.015,0.02,0.025,0.03,0.035,0.04,0.05")
    args = parser.parse_args()
    alphas = [float(a) for a in args.alphas.split(",")]
    frontier = json.loads(OUT.read_text()) if OUT.exists() else {}
    for name in args.scenario or list(MARKOV):
        started = time.monotonic()
        n, lines, p = MARKOV[name]
        frontier[name] = solve(n, lines, p, alphas)
        OUT.write_text(json.dumps(frontier, indent=1, sort_keys=True) + "\n")
        print(name, len(states(n, lines)), "states", frontier[name],
              f"{time.monotonic() - started:.0f} s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
