"""Benchmark: how long one slider move takes in the two explorers (lessons 2 and 10).

    python benchmarks/explorers.py            # 5 repeats, best and median

A slider feels live when the redraw takes well under a second. For each
explorer this times the compute step and the redraw (figure built and drawn to
pixels, as the widget does), and, as the anchor in the same run, drawing the
same figure layout with its axes emptied: the floor any redraw of that layout
pays in matplotlib. Reported: seconds (best, median) and the ratio to the anchor.
This is a benchmark, not a test: ``make test`` never runs it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from lmmteach import explorers  # noqa: E402


def timed(step, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def redraw(make_figure):
    fig = make_figure()
    fig.canvas.draw()
    plt.close(fig)


def empty_layout(make_figure):
    """The anchor: the same figure with every axes cleared, drawn to pixels."""
    fig = make_figure()
    for ax in fig.axes:
        ax.clear()
    start = time.perf_counter()
    fig.canvas.draw()
    seconds = time.perf_counter() - start
    plt.close(fig)
    return seconds


CASES = {
    "shrinkage (lesson 2)": (lambda: explorers.shrinkage_state(group_size=5, variance_ratio=0.2),
                             explorers.shrinkage_figure),
    "gibbs n=1000, both samplers, with mean (lesson 10)": (
        lambda: explorers.gibbs_state(n=1000, variants=("corrected", "published"), fit_mean=True),
        explorers.gibbs_figure),
    "gibbs n=500, both samplers (lesson 10)": (
        lambda: explorers.gibbs_state(n=500, variants=("corrected", "published")), explorers.gibbs_figure),
}


def main(repeats: int) -> None:
    print(f"{'explorer':52s} {'compute s':>10s} {'redraw s':>9s} {'anchor s':>9s} {'redraw/anchor':>14s}")
    for name, (compute, figure) in CASES.items():
        state = compute()  # warm-up: first calls import and allocate
        redraw(lambda: figure(state))
        compute_best, _ = timed(compute, repeats)
        redraw_best, _ = timed(lambda: redraw(lambda: figure(state)), repeats)
        anchor = min(empty_layout(lambda: figure(state)) for _ in range(repeats))
        print(f"{name:52s} {compute_best:10.3f} {redraw_best:9.3f} {anchor:9.3f} {redraw_best / anchor:14.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    main(parser.parse_args().repeat)
