"""The benchmark suite (gconv._bench_suite) and ``python -m gconv bench``.

Speed is never asserted here: the suite's shapes are pinned to issue 3, every
layer (scaled down) is checked against the reference, and the bench runs once
in its --quick mode to check what it reports.
"""

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from conftest import assert_close, random_array

import gconv
from gconv import _bench, _bench_suite as suite, reference

# Issue 3, "Suite": name, C_in, H=W, C_out, kernel, stride, groups, padding.
ISSUE_SUITE = (
    ("alexnet_conv2", 96, 27, 256, 5, 1, 2, 2),
    ("alexnet_conv4", 384, 13, 384, 3, 1, 2, 1),
    ("alexnet_conv5", 384, 13, 256, 3, 1, 2, 1),
    ("resnext50_s2", 128, 56, 128, 3, 1, 32, 1),
    ("resnext50_s3", 256, 28, 256, 3, 1, 32, 1),
    ("resnext50_s4", 512, 14, 512, 3, 1, 32, 1),
    ("resnext50_s5", 1024, 7, 1024, 3, 1, 32, 1),
    ("resnext50_s3_down", 256, 56, 256, 3, 2, 32, 1),
    ("regnetx_g", 160, 14, 160, 3, 1, 10, 1),
    ("shufflenetv1_pw_g3", 240, 28, 240, 1, 1, 3, 0),
    ("mbv2_dw_112", 32, 112, 32, 3, 1, 32, 1),
    ("mbv2_dw_112_s2", 96, 112, 96, 3, 2, 96, 1),
    ("mbv2_dw_56", 144, 56, 144, 3, 1, 144, 1),
    ("mbv2_dw_14", 384, 14, 384, 3, 1, 384, 1),
    ("mbv2_dw_7", 960, 7, 960, 3, 1, 960, 1),
    ("effnet_dw5_28", 240, 28, 240, 5, 1, 240, 2),
    ("effnet_dw5_14", 672, 14, 672, 5, 1, 672, 2),
    ("convnext_dw7_56", 96, 56, 96, 7, 1, 96, 3),
    ("dw_mult2", 32, 56, 64, 3, 1, 32, 1),
    ("mobilefacenet_gdc", 512, 7, 512, 7, 1, 512, 0),
    ("resnet50_dense3x3", 64, 56, 64, 3, 1, 1, 1),
    ("resnet50_dense3x3_s4", 256, 14, 256, 3, 1, 1, 1),
)

# Small enough that the float64 reference of all 26 layers x 2 layouts runs in
# about a second, large enough to keep kernels 5x5/7x7 and 2..16 groups.
SCALED_SIZE = 14
SCALED_CHANNELS = 64

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


# --------------------------------------------------------------------------- the suite

def test_suite_float32_layers_are_those_of_the_issue():
    got = tuple((layer.name, layer.in_channels, layer.size, layer.out_channels, layer.kernel,
                 layer.stride, layer.groups, layer.padding) for layer in suite.LAYERS)
    assert got == ISSUE_SUITE
    assert all(layer.dtype == "float32" for layer in suite.LAYERS)


def test_suite_adds_float64_runs_of_four_layers():
    float64 = [layer for layer in suite.SUITE if layer.dtype == "float64"]
    assert [layer.name for layer in float64] == [
        "resnext50_s3", "mbv2_dw_56", "effnet_dw5_14", "resnet50_dense3x3"]
    for layer in float64:
        assert layer == replace(suite.find(layer.name), dtype="float64")
    assert len({layer.key for layer in suite.SUITE}) == len(suite.SUITE) == 26


def test_suite_kinds_cover_the_seed_cases():
    kinds = {layer.name: layer.kind for layer in suite.LAYERS}
    assert kinds["resnet50_dense3x3"] == "dense"
    assert kinds["resnext50_s2"] == "grouped"
    assert kinds["mbv2_dw_56"] == "depthwise"
    assert kinds["dw_mult2"] == "depthwise_multiplier"
    assert kinds["mobilefacenet_gdc"] == "global_depthwise"


def test_shapes_for_a_batch_and_layout():
    layer = suite.find("resnext50_s3_down")
    assert suite.input_shape(layer, 16, "NCHW") == (16, 256, 56, 56)
    assert suite.input_shape(layer, 16, "NHWC") == (16, 56, 56, 256)
    assert suite.weight_shape(layer) == (256, 8, 3, 3)
    assert suite.output_shape(layer, 1, "NCHW") == (1, 256, 28, 28)
    assert suite.output_shape(layer, 1, "NHWC") == (1, 28, 28, 256)
    with pytest.raises(ValueError, match="layout"):
        suite.input_shape(layer, 1, "CHWN")


@pytest.mark.parametrize("layer", suite.SUITE, ids=lambda layer: layer.key)
def test_shapes_agree_with_conv2d_cost(layer):
    cost = gconv.conv2d_cost(suite.input_shape(layer, 2, "NHWC"), suite.weight_shape(layer),
                             layout="NHWC", dtype=layer.dtype, **suite.conv_kwargs(layer))
    assert cost.output_shape == suite.output_shape(layer, 2, "NHWC")


def test_select_filters_by_substring_and_dtype():
    assert [layer.name for layer in suite.select(["gdc"])] == ["mobilefacenet_gdc"]
    assert {layer.name for layer in suite.select(["resnext50_s3"], ["float64"])} == {"resnext50_s3"}
    assert len(suite.select()) == len(suite.SUITE)
    with pytest.raises(KeyError):
        suite.find("no_such_layer")


def test_scaled_keeps_the_family_of_each_layer():
    for layer in suite.SUITE:
        small = suite.scaled(layer, SCALED_SIZE, SCALED_CHANNELS)
        assert small.kind == layer.kind, (layer, small)
        assert small.size <= SCALED_SIZE and small.in_channels <= SCALED_CHANNELS
        assert small.in_channels % small.groups == 0 and small.out_channels % small.groups == 0
        assert small.output_size >= 1
        assert (small.stride, small.padding, small.dtype) == (layer.stride, layer.padding,
                                                              layer.dtype)
    narrow = suite.scaled(suite.find("resnext50_s2"), SCALED_SIZE, SCALED_CHANNELS)
    assert narrow.in_channels // narrow.groups == 4  # still ResNeXt's 4 channels per group
    gdc = suite.scaled(suite.find("mobilefacenet_gdc"), 5)
    assert (gdc.size, gdc.kernel, gdc.output_size) == (5, 5, 1)


@pytest.mark.parametrize("layout", suite.LAYOUTS)
@pytest.mark.parametrize("layer", suite.SUITE, ids=lambda layer: layer.key)
def test_every_suite_layer_matches_the_reference(layer, layout):
    small = suite.scaled(layer, SCALED_SIZE, SCALED_CHANNELS)
    x = random_array(suite.input_shape(small, 2, layout), small.dtype, seed=1)
    weight = random_array(suite.weight_shape(small), small.dtype, seed=2)
    kwargs = suite.conv_kwargs(small)
    got = gconv.Conv2d(weight, layout=layout, **kwargs)(x)
    expected = reference.conv2d(x, weight, layout=layout, **kwargs)
    assert_close(got, expected, small.dtype, f"{layer.key} scaled to {small} {layout}")


# --------------------------------------------------------------------------- the runner's parts

def test_cache_sizes_read_from_sysfs(tmp_path):
    for index, (level, kind, size) in enumerate(
            [(1, "Data", "48K"), (1, "Instruction", "32K"), (2, "Unified", "2048K"),
             (3, "Unified", "1M")]):
        entry = tmp_path / f"index{index}"
        entry.mkdir()
        (entry / "level").write_text(f"{level}\n")
        (entry / "type").write_text(f"{kind}\n")
        (entry / "size").write_text(f"{size}\n")
    assert _bench.cache_sizes(str(tmp_path)) == {"L2": 2 * 2 ** 20, "L3": 2 ** 20}


def test_cache_sizes_fall_back_without_sysfs(tmp_path):
    assert _bench.cache_sizes(str(tmp_path / "missing")) == {
        "L2": _bench.DEFAULT_L2_BYTES, "L3": _bench.DEFAULT_L3_BYTES}


def test_roofline_uses_the_smallest_level_the_bytes_fit_in():
    machine = {"peak_gflops": {"float32": 100.0, "float64": 50.0},
               "levels": [{"level": "L2", "capacity_bytes": 1000, "gbytes_per_s": 50.0},
                          {"level": "L3", "capacity_bytes": 10_000, "gbytes_per_s": 20.0},
                          {"level": "DRAM", "capacity_bytes": None, "gbytes_per_s": 5.0}]}
    assert _bench.roofline(machine, 1000, 1000, "float32") == (50.0, "L2")
    assert _bench.roofline(machine, 1000, 5000, "float32") == (4.0, "L3")
    assert _bench.roofline(machine, 10 ** 9, 10 ** 6, "float64") == (50.0, "DRAM")


def test_interleaved_timing_gives_a_median_per_implementation():
    calls = {"a": 0, "b": 0}

    def counter(name):
        def run():
            calls[name] += 1
        return run

    seconds = _bench.time_interleaved(
        [_bench.Implementation("a", counter("a")), _bench.Implementation("b", counter("b"))],
        _bench.QUICK)
    assert set(seconds) == {"a", "b"} and all(value > 0 for value in seconds.values())
    assert calls["a"] >= 2 + _bench.QUICK.min_samples


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 6, 7])
def test_rounds_put_every_implementation_after_every_other_equally_often(count):
    orders = _bench.round_orders(count)
    assert all(sorted(order) == list(range(count)) for order in orders)
    assert sorted({order[0] for order in orders}) == list(range(count))
    follows = {}
    for order in orders:
        for before, after in zip(order, order[1:]):
            follows[before, after] = follows.get((before, after), 0) + 1
    assert len(follows) == count * (count - 1)
    assert len(set(follows.values())) <= 1


def test_interleaved_rounds_follow_the_williams_orders(monkeypatch):
    ran = []
    impls = [_bench.Implementation(name, lambda name=name: ran.append(name)) for name in "abcd"]
    monkeypatch.setattr(_bench.time, "sleep", lambda seconds: None)
    _bench.time_interleaved(impls, _bench.QUICK, first_calls={n: 1.0 for n in "abcd"})
    # A first call of 1 s is the estimate: one call per sample, the
    # minimum of samples, no warming call; then rounds in the design's order.
    rounds = [ran[i:i + 4] for i in range(0, len(ran), 4)]
    assert rounds == [["abcd"[i] for i in order]
                      for order in _bench.round_orders(4)[:_bench.QUICK.min_samples]]


def test_a_second_pass_keeps_each_implementations_better_median(monkeypatch):
    passes = iter([{"gconv_NCHW": 3.0, "gconv_NHWC": 1.0, "torch": 2.0},
                   {"gconv_NCHW": 1.0, "gconv_NHWC": 2.0, "torch": 4.0}])
    monkeypatch.setattr(_bench, "time_layer", lambda *args: (
        next(passes), {"NCHW": "depthwise", "NHWC": "depthwise"}, []))

    class Torch:
        forms = ["torch"]

    layer = suite.find("mobilefacenet_gdc")
    machine = {"peak_gflops": {"float32": 100.0}, "levels": [
        {"level": "DRAM", "capacity_bytes": None, "gbytes_per_s": 10.0}]}
    args = (layer, 1, ["NCHW", "NHWC"], [Torch()], machine, _bench.QUICK, print)
    first = _bench.measure_layer(*args)
    second = _bench.measure_layer(*args, earlier=first[0]["seconds"])
    assert [row["gconv_ms"] for row in first] == [3000.0, 1000.0]
    assert [row["gconv_ms"] for row in second] == [1000.0, 1000.0]
    assert second[0]["ratio"] == pytest.approx(2.0)  # torch keeps its first, better pass
    assert _bench.FULL.sweeps == 2 and _bench.QUICK.sweeps == 1


def test_targets_are_checked_per_kind():
    row = {"layer": "x", "batch": 1, "layout": "NCHW", "dtype": "float32", "groups": 1,
           "kind": "global_depthwise", "ratio": 2.0, "roofline_fraction": 0.7}
    rows = [row, dict(row, dtype="float64", ratio=None, roofline_fraction=0.6)]
    rows[0]["gconv_gflops"], rows[1]["gconv_gflops"] = 10.0, 4.0
    _bench.check_targets(rows)
    assert rows[0]["misses"] == ["2.00x best peer < 5.0x"]
    assert rows[1]["float32_fraction"] == pytest.approx(0.4)
    assert len(rows[1]["misses"]) == 1 and "float64" in rows[1]["misses"][0]
    summary = _bench.summarize(rows, [1])
    assert summary["geomean_ratio"] == {"1": pytest.approx(2.0)}
    assert summary["below_1x"] == [] and len(summary["below_target"]) == 2


def test_float64_rows_time_our_float32_in_the_same_run():
    layer = suite.find("effnet_dw5_14", "float64")
    seconds, algorithms, notes = _bench.time_layer(layer, 1, ["NCHW", "NHWC"], [], _bench.QUICK,
                                                   print)
    assert set(seconds) == {"gconv_NCHW", "gconv_NHWC", "gconv_float32_NCHW",
                            "gconv_float32_NHWC"}
    assert notes == [] and algorithms == {"NCHW": "depthwise", "NHWC": "depthwise"}


def test_float64_fraction_prefers_the_interleaved_float32_time():
    row = {"layer": "x", "batch": 1, "layout": "NCHW", "dtype": "float32", "groups": 4,
           "kind": "depthwise", "ratio": 2.0, "roofline_fraction": 0.7, "gconv_gflops": 10.0}
    rows = [row, dict(row, dtype="float64", ratio=None, gconv_gflops=4.0, gconv_ms=2.0,
                      float32_ms=1.0)]
    _bench.check_targets(rows)
    assert rows[1]["float32_fraction"] == pytest.approx(0.5)  # 1.0 ms / 2.0 ms, not 4 / 10
    assert rows[1]["misses"] == []


# --------------------------------------------------------------------------- the command

def test_bench_quick_smoke_writes_json_markdown_and_plot(tmp_path):
    report_path = tmp_path / "bench.json"
    markdown_path = tmp_path / "RESULTS.md"
    plot_path = tmp_path / "roofline.png"
    result = subprocess.run(
        [sys.executable, "-m", "gconv", "bench", "--quick", "--layers", "gdc", "--batch", "1",
         "--vs", "torch", "--json", str(report_path), "--markdown", str(markdown_path),
         "--plot", str(plot_path)],
        capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert "[1/1] mobilefacenet_gdc N=1 float32" in result.stderr
    assert "mobilefacenet_gdc" in result.stdout and "geomean" in result.stdout

    report = json.loads(report_path.read_text())
    machine = report["machine"]
    assert machine["peak_gflops"]["float32"] > 0
    assert machine["peak_gflops"]["float64"] == pytest.approx(machine["peak_gflops"]["float32"] / 2)
    assert [level["level"] for level in machine["levels"]] == ["L2", "L3", "DRAM"]
    assert all(level["gbytes_per_s"] > 0 for level in machine["levels"])

    rows = report["rows"]
    assert [(r["layer"], r["batch"], r["layout"], r["dtype"]) for r in rows] == [
        ("mobilefacenet_gdc", 1, "NCHW", "float32"), ("mobilefacenet_gdc", 1, "NHWC", "float32")]
    for row in rows:
        for field in ("algorithm", "gconv_gflops", "peak_fraction", "roofline_gflops",
                      "roofline_fraction", "roofline_level", "intensity", "peers", "best_peer",
                      "ratio", "misses"):
            assert field in row, field
        assert row["algorithm"] in gconv.ALGORITHMS
        assert row["gconv_gflops"] > 0 and 0 < row["roofline_gflops"]
        assert row["flops"] == 2 * 512 * 49
    if HAS_TORCH:
        assert report["config"]["peer_columns"] == ["torch", "torch_cl"]
        assert all(rows[0]["peers"][name] > 0 for name in ("torch", "torch_cl"))
        assert rows[0]["best_peer"] in ("torch", "torch_cl") and rows[0]["ratio"] > 0
        assert set(report["summary"]["geomean_ratio"]) == {"1"}
    else:
        assert report["config"]["peer_columns"] == [] and rows[0]["ratio"] is None

    overhead = report["overhead_us"]
    expected = {"gconv.conv2d", "gconv.Conv2d"} | set(report["config"]["peer_columns"])
    assert set(overhead) == expected and all(us > 0 for us in overhead.values())
    assert "per-call overhead" in result.stdout and "gconv.Conv2d:" in result.stdout

    markdown = markdown_path.read_text()
    for heading in ("## Machine limits", "## Results", "## Summary", "## Per-call overhead",
                    "## How to reproduce"):
        assert heading in markdown
    assert "| mobilefacenet_gdc | 1 | NCHW |" in markdown
    assert "python -m gconv bench " in markdown
    assert plot_path.exists() == HAS_MATPLOTLIB


def test_bench_rejects_unknown_options_and_empty_selections():
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "gconv", "bench", *args], capture_output=True, text=True,
        timeout=120)
    assert run("--vs", "tensorflow").returncode == 2
    assert run("--layout", "CHWN").returncode == 2
    empty = run("--layers", "no_such_layer", "--vs", "none", "--quick")
    assert empty.returncode == 2 and "no layer" in empty.stderr


def test_overhead_lines_check_both_gconv_entry_points_against_the_target():
    from gconv import _bench_overhead

    fast = {"gconv.conv2d": 8.0, "gconv.Conv2d": 3.0, "torch": 15.0}
    assert _bench_overhead.lines(fast) == [
        "gconv.conv2d: 8.0 us", "gconv.Conv2d: 3.0 us", "torch: 15.0 us",
        "target (gconv.conv2d and gconv.Conv2d below 10 us): met"]
    slow = dict(fast, **{"gconv.Conv2d": 10.5})
    assert _bench_overhead.lines(slow)[-1].endswith("NOT met")
