"""The command line: ``python -m gconv info|demo|bench|--includedir|--cmakedir``."""

import os
import re
import subprocess
import sys

import pytest

from gconv import __main__ as cli

THREAD_VARIABLES = ("GCONV_NUM_THREADS", "OMP_NUM_THREADS")
DEMO_CASES = ("regular", "grouped G=2", "grouped G=32", "depthwise", "depthwise x2",
              "GDC 7x7", "GAP 7x7")


def run_cli(*args, env_updates=None, env_removed=()):
    """Runs ``python -m gconv *args`` with this interpreter; returns the CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if k not in env_removed}
    env.update(env_updates or {})
    return subprocess.run([sys.executable, "-m", "gconv", *args], capture_output=True,
                          text=True, env=env, timeout=300)


# --------------------------------------------------------------------------- info

def test_info_reports_build_info_cpu_and_threads():
    result = run_cli("info")
    assert result.returncode == 0, result.stderr
    for key in ("version", "openmp", "isa_compiled", "isa_active", "compiler", "build_type"):
        assert key in result.stdout, f"{key!r} missing from:\n{result.stdout}"
    assert "threads" in result.stdout
    if os.path.exists("/proc/cpuinfo"):
        for feature in ("avx2=", "fma=", "avx512f="):
            assert feature in result.stdout, f"{feature!r} missing from:\n{result.stdout}"


def test_info_names_gconv_num_threads_as_the_thread_source():
    result = run_cli("info", env_updates={"GCONV_NUM_THREADS": "1", "OMP_NUM_THREADS": "2"})
    assert result.returncode == 0, result.stderr
    assert "GCONV_NUM_THREADS=1" in result.stdout
    assert re.search(r"count\s+1\b", result.stdout), result.stdout


def test_info_falls_back_to_omp_num_threads():
    result = run_cli("info", env_updates={"OMP_NUM_THREADS": "1"}, env_removed=THREAD_VARIABLES)
    assert result.returncode == 0, result.stderr
    assert "OMP_NUM_THREADS=1" in result.stdout


def test_info_says_default_without_thread_variables():
    result = run_cli("info", env_removed=THREAD_VARIABLES)
    assert result.returncode == 0, result.stderr
    assert "default" in result.stdout


def test_thread_source_prefers_gconv_over_omp_and_ignores_empty_values():
    assert cli.thread_source({"GCONV_NUM_THREADS": "3", "OMP_NUM_THREADS": "5"}) == "GCONV_NUM_THREADS=3"
    assert cli.thread_source({"GCONV_NUM_THREADS": "", "OMP_NUM_THREADS": "5"}) == "OMP_NUM_THREADS=5"
    assert cli.thread_source({}).startswith("default")


def test_cpu_description_reads_model_and_features_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: sse avx2 fma avx512f\n\n"
                       "processor\t: 1\nmodel name\t: Test CPU\nflags\t\t: sse\n")
    model, features = cli.cpu_description(str(cpuinfo))
    assert model == "Test CPU"
    assert features == {"avx2": True, "fma": True, "avx512f": True, "avx512vl": False,
                        "avx512bw": False, "avx512dq": False}


def test_cpu_description_without_cpuinfo_falls_back_to_platform(tmp_path):
    model, features = cli.cpu_description(str(tmp_path / "missing"))
    assert isinstance(model, str) and model
    assert features is None


# --------------------------------------------------------------------------- demo

@pytest.fixture(scope="module")
def demo_result():
    """One run of ``python -m gconv demo``, shared by the demo tests (it takes a few seconds)."""
    return run_cli("demo")


def test_demo_prints_the_table_and_both_identities(demo_result):
    result = demo_result
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in DEMO_CASES:
        assert name in out, f"case {name!r} missing from:\n{out}"
    for column in ("groups", "params", "MACs", "GFLOP/s", "algorithm", "max|err|"):
        assert column in out
    assert "1/32 of the dense parameters" in out
    assert "block-diagonal" in out
    assert "equals GAP" in out


def test_demo_errors_and_identities_are_small(demo_result):
    result = demo_result
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        if line.startswith(DEMO_CASES):
            error = float(line.split()[-1])
            assert error < 1e-3, f"error too large in: {line}"
    identities = re.findall(r"^\s+max \|.*\| = (\S+)$", result.stdout, re.MULTILINE)
    assert len(identities) == 2, result.stdout
    assert all(float(value) < 1e-4 for value in identities), identities


# --------------------------------------------------------------------------- the rest

def test_no_arguments_prints_help():
    result = run_cli()
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout
    for command in ("info", "demo", "bench"):
        assert command in result.stdout


def test_unknown_subcommand_exits_nonzero():
    result = run_cli("no-such-command")
    assert result.returncode != 0
    assert "invalid choice" in result.stderr


def test_bench_subcommand_lists_its_options():
    result = run_cli("bench", "--help")
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout
    for option in ("--vs", "--layout", "--batch", "--layers", "--dtype", "--threads", "--quick",
                   "--json", "--plot", "--markdown"):
        assert option in result.stdout, option


@pytest.mark.parametrize("flag", ["--includedir", "--cmakedir"])
def test_cpp_directory_flags_print_a_directory_or_say_not_shipped(flag):
    result = run_cli(flag)
    if result.returncode == 0:
        assert os.path.isdir(result.stdout.strip()), result.stdout
    else:
        assert result.returncode == 2
        assert "not shipped" in result.stderr
