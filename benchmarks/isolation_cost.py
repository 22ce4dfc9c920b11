"""Benchmark: what isolation costs per notebook. Each lesson's reference notebook (source/) is graded
in this process (the previous, unisolated route: run the cells here, check here) and in an isolated
worker (fork, sandbox, one process per exercise), alternating, in one run.

    python benchmarks/isolation_cost.py --repeats 3
"""
from __future__ import annotations

import argparse
import statistics
import time

from autograder.grade import grade_loaded, grade_notebook
from autograder.lessons import LESSONS
from autograder.loader import load_notebook
from autograder.supervisor import warm_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lessons", nargs="+", default=list(LESSONS))
    args = parser.parse_args()
    warm_up()  # both routes start warm: imports and torch's lazy initialisation are paid once
    print("| lesson | in process (s) | isolated (s) | difference (s) |\n|---|---|---|---|")
    for key in args.lessons:
        lesson = LESSONS[key]
        inproc, isolated = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            a = grade_loaded(lesson, load_notebook(lesson.source_notebook), "cpu")
            inproc.append(time.perf_counter() - start)
            start = time.perf_counter()
            b = grade_notebook(lesson.source_notebook, "cpu")
            isolated.append(time.perf_counter() - start)
            assert a.score == b.score == a.max_score, (key, a.score, b.score, [e.message[:300] for e in b.exercises])
        m_in, m_iso = statistics.median(inproc), statistics.median(isolated)
        print(f"| {key} | {m_in:.2f} | {m_iso:.2f} | {m_iso - m_in:+.2f} |")


if __name__ == "__main__":
    main()
