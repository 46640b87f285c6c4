"""Concurrency beyond test_threads.py: every op (not only conv2d) from 8
Python threads at once, with the process-wide thread count changed under
running calls, and run-to-run bit equality for every algorithm at several
fixed thread counts.

API.md promises the same bits for the same inputs and thread count, so a
result computed while another Python thread flips ``set_num_threads`` must
equal, bit for bit, the sequential result at one of the counts in play.
"""

import threading
from dataclasses import replace

import numpy as np
import pytest

import gconv
from conftest import ConvCase, accepts, assert_same_bits, random_array

THREAD_COUNTS = (1, 2, 3, 4)
PYTHON_THREADS = 8
REPEATS = 10

CONV_CASES = [
    ConvCase(c=33, g=3, k=33, h=9, w=17, n=2, padding=1, seed=11),
    ConvCase(c=64, g=1, k=96, h=7, w=9, n=1, padding="same", stride=2, seed=12),
    ConvCase(c=17, g=17, k=34, h=15, w=13, n=3, kernel=(5, 5), padding=2, layout="NHWC", seed=13),
    ConvCase(c=24, g=2, k=24, h=8, w=8, n=2, kernel=(1, 1), dtype="float64", bias=True, seed=14),
    ConvCase(c=31, g=31, k=31, h=6, w=7, n=2, kernel=(6, 7), layout="NHWC", dtype="float64", seed=15),
    ConvCase(c=12, g=4, k=20, h=11, w=10, n=0, padding=((1, 2), (0, 1)), seed=16),
    ConvCase(c=9, g=3, k=6, h=10, w=12, n=None, dilation=2, padding=2, activation="relu6", bias=True, seed=17),
]


def _jobs():
    """(name, call) pairs covering every op; each call builds its own result."""
    jobs = []
    for case in CONV_CASES:
        x, w, b = case.arrays()
        jobs.append((case.descriptor(), lambda x=x, w=w, b=b, case=case: gconv.conv2d(x, w, b, **case.kwargs())))
        plan = gconv.Conv2d(w, b, **case.kwargs())
        jobs.append((case.descriptor(form="plan"), lambda x=x, plan=plan: plan(x)))
    for layout in ("NCHW", "NHWC"):
        shape = (3, 19, 9, 11) if layout == "NCHW" else (3, 9, 11, 19)
        x = random_array(shape, np.float32, 20)
        wd = random_array((38, 1, 3, 3), np.float32, 21)
        wg = random_array((19, 1, 9, 11), np.float32, 22)
        jobs += [
            (f"depthwise {layout}", lambda x=x, l=layout: gconv.depthwise_conv2d(x, wd, padding=1, stride=2, layout=l)),
            (f"gdc {layout}", lambda x=x, l=layout: gconv.global_depthwise_conv2d(x, wg, layout=l)),
            (f"gap {layout}", lambda x=x, l=layout: gconv.global_avg_pool2d(x, layout=l)),
            (f"shuffle {layout}", lambda x=x[:, :, :, :18] if layout == "NHWC" else x[:, :18], l=layout:
             gconv.channel_shuffle(x, 6, layout=l)),
        ]
    return jobs


def _run_threads(worker):
    errors = []
    barrier = threading.Barrier(PYTHON_THREADS)

    def wrapped(tid):
        try:
            barrier.wait()
            worker(tid)
        except BaseException as exc:  # reported below, with the thread that raised
            errors.append((tid, repr(exc)))

    threads = [threading.Thread(target=wrapped, args=(t,)) for t in range(PYTHON_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    assert not errors, errors


def _expected_per_count(jobs):
    expected = {}
    for count in THREAD_COUNTS:
        with gconv.threads(count):
            expected[count] = [call() for _, call in jobs]
    return expected


def _matches_one(got, expected, j, what):
    for count, results in expected.items():
        if got.dtype == results[j].dtype and got.tobytes() == results[j].tobytes():
            return
    raise AssertionError(f"{what}: result equals the sequential one at none of the thread counts "
                         f"{THREAD_COUNTS}")


def test_every_op_from_eight_threads_while_the_thread_count_changes(restore_threads):
    jobs = _jobs()
    expected = _expected_per_count(jobs)
    stop = threading.Event()

    def flipper():
        i = 0
        while not stop.is_set():
            gconv.set_num_threads(THREAD_COUNTS[i % len(THREAD_COUNTS)])
            i += 1

    results = []

    def worker(tid):
        rng = np.random.default_rng(tid)
        for rep in range(REPEATS):
            for j in rng.permutation(len(jobs)):
                results.append((tid, rep, j, jobs[j][1]()))

    flip = threading.Thread(target=flipper)
    flip.start()
    try:
        _run_threads(worker)
    finally:
        stop.set()
        flip.join()
    assert len(results) == PYTHON_THREADS * REPEATS * len(jobs)
    for tid, rep, j, got in results:
        _matches_one(got, expected, j, f"thread {tid} rep {rep}: {jobs[j][0]}")


@pytest.mark.parametrize("count", THREAD_COUNTS)
def test_every_op_from_eight_threads_at_a_fixed_thread_count_matches_sequential_bits(count, restore_threads):
    gconv.set_num_threads(count)
    jobs = _jobs()
    expected = [call() for _, call in jobs]

    def worker(tid):
        for j in list(range(tid, len(jobs))) + list(range(tid)):
            assert_same_bits(jobs[j][1](), expected[j], f"thread {tid} threads={count}: {jobs[j][0]}")

    _run_threads(worker)


def test_plans_created_and_dropped_concurrently_match_sequential_results():
    case = CONV_CASES[0]
    x, w, b = case.arrays()
    expected = gconv.conv2d(x, w, b, **case.kwargs())

    def worker(tid):
        for rep in range(10):
            plan = gconv.Conv2d(w, b, **case.kwargs())
            assert_same_bits(plan(x), expected, f"thread {tid} rep {rep}: {case.descriptor(form='plan')}")
            del plan

    _run_threads(worker)


@pytest.mark.parametrize("count", (1, 2, 3))
@pytest.mark.parametrize("algorithm", gconv.ALGORITHMS)
def test_each_algorithm_gives_the_same_bits_on_every_repeat(algorithm, count, restore_threads):
    gconv.set_num_threads(count)
    for layout in ("NCHW", "NHWC"):
        for dtype in ("float32", "float64"):
            if algorithm == "global_depthwise":
                case = ConvCase(c=19, g=19, k=38, h=7, w=9, kernel=(7, 9), n=5, seed=31)
            elif algorithm == "gemm_1x1":
                case = ConvCase(c=40, g=2, k=36, h=9, w=13, kernel=(1, 1), n=3, bias=True, seed=32)
            elif algorithm == "depthwise":
                case = ConvCase(c=21, g=21, k=42, h=17, w=15, padding="same", n=3, seed=33)
            else:
                case = ConvCase(c=48, g=3, k=48, h=11, w=13, padding=1, stride=(1, 2), n=3, seed=34)
            case = replace(case, layout=layout, dtype=dtype)
            assert accepts(case, algorithm)
            x, w, b = case.arrays()
            first = gconv.conv2d(x, w, b, **case.kwargs(), force_algorithm=algorithm)
            for rep in range(4):
                again = gconv.conv2d(x, w, b, **case.kwargs(), force_algorithm=algorithm)
                assert_same_bits(again, first, f"repeat {rep}: {case.descriptor(force_algorithm=algorithm, threads=count)}")
