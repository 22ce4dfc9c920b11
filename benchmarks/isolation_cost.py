"""Benchmark: what isolation costs per notebook. Each lesson's reference notebook (source/) is graded
in this process (the previous, unisolated route: run the cells here, check here) and in an isolated
worker (fork, sandbox, one process per exercise), alternating, in one run. The in-process route
runs in a forked copy of this process, so that neither route grades from a heap the other grew.

A worker runs torch on one thread (forking after a multithreaded OpenMP region is unsafe, and
parallel workers share the cores), so the in-process route is timed with its default threads and
with one thread: the difference between one thread and the worker is what isolation costs.

The same notebook's time varies by 10-30% from run to run on a shared machine, so each repeat runs
the two one-thread routes back to back, in alternating order (ABBA: a drift in the machine's speed
does not favour either), and the median of the paired differences is the figure to read.

A worker also tunes malloc to reuse freed memory (sandbox.keep_freed_memory), which the in-process
route never did: `--same-malloc` gives the in-process route the same setting, so that the difference
is what isolation alone costs.

    python benchmarks/isolation_cost.py --repeats 6
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time

import torch

from autograder.grade import grade_loaded, grade_notebook
from autograder.lessons import LESSONS
from autograder.loader import load_notebook
from autograder.sandbox import keep_freed_memory
from autograder.supervisor import warm_up


def _in_process(lesson: object, same_malloc: bool) -> tuple[float, tuple]:
    """The unisolated route, timed inside a forked copy of this process: this process never holds a
    graded notebook, as the supervisor never does (workers forked from a heap grown by earlier
    in-process runs would otherwise pay for it)."""
    read, write = os.pipe()
    gc.freeze()  # as the supervisor does: the copy's collector leaves the inherited heap alone
    pid = os.fork()
    gc.unfreeze()
    if pid == 0:
        try:
            if same_malloc:
                keep_freed_memory()
            start = time.perf_counter()
            result = grade_loaded(lesson, load_notebook(lesson.source_notebook), "cpu")
            seconds = time.perf_counter() - start
            os.write(write, json.dumps([seconds, [result.score, result.max_score,
                                                  [e.message[:300] for e in result.exercises]]]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    seconds, score = json.loads(data)
    return seconds, tuple(score)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--lessons", nargs="+", default=list(LESSONS))
    parser.add_argument("--threads-route", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the in-process route on all threads (not part of the pairs)")
    parser.add_argument("--same-malloc", action="store_true",
                        help="give the in-process route the worker's malloc setting: isolation alone")
    args = parser.parse_args()
    warm_up()  # both routes start warm: imports and torch's lazy initialisation are paid once
    threads = torch.get_num_threads()
    print(f"| lesson | in process, {threads} threads (s) | in process, 1 thread (s) | isolated, 1 thread (s) "
          "| fastest vs fastest (s) | median of paired differences (s) |\n|---|---|---|---|---|---|", flush=True)
    for key in args.lessons:
        lesson = LESSONS[key]
        times: dict[str, list[float]] = {"many": [], "one": [], "isolated": []}
        for repeat in range(args.repeats):
            pair = ["one", "isolated"] if repeat % 2 == 0 else ["isolated", "one"]
            for route in (["many"] if args.threads_route else []) + pair:
                torch.set_num_threads(threads if route == "many" else 1)
                if route == "isolated":
                    start = time.perf_counter()
                    result = grade_notebook(lesson.source_notebook, "cpu")
                    times[route].append(time.perf_counter() - start)
                    score = result.score, result.max_score, [e.message[:300] for e in result.exercises]
                else:
                    seconds, score = _in_process(lesson, args.same_malloc)
                    times[route].append(seconds)
                assert score[0] == score[1], (key, route, score)
        # The fastest of the repeats: the run least disturbed by whatever else the machine did.
        many, one, isolated = (min(times[r], default=float("nan")) for r in ("many", "one", "isolated"))
        # Each repeat runs both routes back to back: the median of their differences is robust to a
        # disturbance that hits one repeat.
        differences = [i - o for i, o in zip(times["isolated"], times["one"])]
        paired = statistics.median(differences)
        quartiles = statistics.quantiles(differences, n=4) if len(differences) > 1 else [paired] * 3
        print(f"| {key} | {many:.2f} | {one:.2f} | {isolated:.2f} | {isolated - one:+.2f} | {paired:+.2f} "
              f"(quartiles {quartiles[0]:+.2f}, {quartiles[2]:+.2f}) |", flush=True)
    torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
