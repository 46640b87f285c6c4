"""Thread-count control, determinism, and concurrent calls from Python threads."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import gconv
from conftest import GRID, ConvCase, assert_close, assert_same_bits, random_array

# Cases large enough that two threads split the work, one per algorithm family.
PARALLEL_CASES = [
    ConvCase(c=32, g=2, k=32, h=12, w=13, n=3, padding=1, seed=1),                       # im2col_gemm
    ConvCase(c=16, g=4, k=16, h=12, w=11, n=3, padding="same", stride=2, seed=2),        # grouped_direct
    ConvCase(c=24, g=24, k=48, h=12, w=12, n=2, padding=1, layout="NHWC", seed=3),       # depthwise
    ConvCase(c=32, g=1, k=24, h=9, w=9, n=4, kernel=(1, 1), dtype="float64", seed=4),    # gemm_1x1
    ConvCase(c=40, g=40, k=40, h=7, w=7, n=5, kernel=(7, 7), seed=5),                    # global_depthwise
    ConvCase(c=8, g=8, k=8, h=12, w=12, n=1, kernel=(5, 5), padding=2, dtype="float64", seed=6),
]


@pytest.mark.parametrize("case", PARALLEL_CASES, ids=lambda c: c.id())
def test_same_inputs_give_the_same_bits_twice(case):
    assert_same_bits(case.run(), case.run(), case.descriptor())


@pytest.mark.parametrize("case", PARALLEL_CASES, ids=lambda c: c.id())
def test_one_and_two_threads_give_the_same_bits(case, restore_threads):
    gconv.set_num_threads(1)
    one = case.run()
    gconv.set_num_threads(2)
    two = case.run()
    assert_same_bits(one, two, case.descriptor())
    assert_close(two, case.reference(*case.arrays()), case.dtype, case.descriptor(threads=2))


def test_set_num_threads_is_read_back(restore_threads):
    gconv.set_num_threads(3)
    assert gconv.get_num_threads() == 3
    assert gconv.build_info()["num_threads"] == 3
    gconv.set_num_threads(np.int64(1))
    assert gconv.get_num_threads() == 1


def test_threads_context_manager_sets_and_restores(restore_threads):
    gconv.set_num_threads(2)
    with gconv.threads(1):
        assert gconv.get_num_threads() == 1
        with gconv.threads(3):
            assert gconv.get_num_threads() == 3
        assert gconv.get_num_threads() == 1
    assert gconv.get_num_threads() == 2


def test_threads_context_manager_restores_after_an_exception(restore_threads):
    gconv.set_num_threads(2)
    with pytest.raises(RuntimeError):
        with gconv.threads(1):
            raise RuntimeError("inside")
    assert gconv.get_num_threads() == 2


def test_threads_zero_raises_and_keeps_the_count(restore_threads):
    before = gconv.get_num_threads()
    with pytest.raises(ValueError):
        gconv.set_num_threads(0)
    with pytest.raises(ValueError):
        with gconv.threads(0):
            pass
    assert gconv.get_num_threads() == before


def _threads_in_subprocess(**env_vars):
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(gconv.__file__)))
    env = {k: v for k, v in os.environ.items() if k not in ("GCONV_NUM_THREADS", "OMP_NUM_THREADS")}
    env.update(env_vars)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", "import gconv; print(gconv.get_num_threads())"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def test_default_thread_count_follows_gconv_then_omp_environment():
    assert _threads_in_subprocess(GCONV_NUM_THREADS="3") == 3
    assert _threads_in_subprocess(OMP_NUM_THREADS="2") == 2
    assert _threads_in_subprocess(GCONV_NUM_THREADS="3", OMP_NUM_THREADS="2") == 3
    assert _threads_in_subprocess() >= 1


def test_eight_python_threads_calling_concurrently_match_sequential_results():
    cases = [case for case in GRID if case.n != 0][:16] + PARALLEL_CASES
    data = [case.arrays() for case in cases]
    expected = [gconv.conv2d(x, w, b, **case.kwargs()) for case, (x, w, b) in zip(cases, data)]
    results = {}
    errors = []
    barrier = threading.Barrier(8)

    def worker(tid):
        try:
            barrier.wait()
            for rep in range(3):
                for i in range(tid, len(cases) + tid):
                    j = i % len(cases)
                    x, w, b = data[j]
                    results[(tid, rep, j)] = gconv.conv2d(x, w, b, **cases[j].kwargs())
        except Exception as exc:  # reported below, with the thread that raised
            errors.append((tid, exc))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for (tid, rep, j), got in results.items():
        assert_same_bits(got, expected[j], f"thread {tid} rep {rep}: {cases[j].descriptor()}")


def test_shared_plan_called_from_eight_threads_matches_sequential_results():
    x_list = [random_array((n, 16, h, h), np.float32, 10 + n + h) for n in (1, 2) for h in (5, 8, 11)]
    w = random_array((32, 4, 3, 3), np.float32, 3)
    plan = gconv.Conv2d(w, padding=1, groups=4)
    expected = [plan(x) for x in x_list]
    errors = []
    barrier = threading.Barrier(8)

    def worker(tid):
        try:
            barrier.wait()
            for rep in range(4):
                for i, x in enumerate(x_list):
                    assert_same_bits(plan(x), expected[i], f"thread {tid} input {i}")
        except Exception as exc:  # reported below
            errors.append((tid, exc))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
