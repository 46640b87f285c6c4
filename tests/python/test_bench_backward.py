"""``python -m gconv bench --backward`` (gconv._bench_backward).

Speed is never asserted: the bench runs in its --quick mode on scaled-down
suite layers to check what it reports, that gconv's gradients agree with
torch's in the rows, and that the summary judges issue 4's targets.
"""

import importlib.util
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import gconv
from gconv import __main__ as cli
from gconv import _bench, _bench_backward as backward, _bench_suite as suite

HAS_TORCH = importlib.util.find_spec("torch") is not None

# A strided narrow-group layer (output_padding 1) and a depthwise one, small.
TINY_LAYERS = (suite.scaled(suite.find("resnext50_s3_down"), 8, 32),
               suite.scaled(suite.find("mbv2_dw_56"), 8, 16))

ROW_FIELDS = ("layer", "kind", "batch", "dtype", "input_shape", "weight_shape", "output_shape",
              "output_padding", "flops", "forward_flops", "gconv_ms", "gconv_best",
              "gconv_gflops", "peak_fraction", "torch_ms", "torch_best", "torch_gflops", "ratio",
              "max_rel_error", "transpose_ms", "forward_ms", "transpose_ratio", "notes")


def bench_args(*options):
    """``python -m gconv bench --backward *options`` as parsed arguments."""
    return cli.build_parser().parse_args(["bench", "--backward", *options])


def quiet(text):
    pass


@pytest.fixture(scope="module")
def report_vs_torch():
    """One quick backward run of the tiny layers at N=2, against torch if installed."""
    args = bench_args("--quick", "--batch", "2", "--vs", "torch")
    return backward.run(args, quiet, layers=TINY_LAYERS)


# --------------------------------------------------------------------------- geometry

@pytest.mark.parametrize("layer", suite.LAYERS, ids=lambda layer: layer.name)
def test_output_padding_brings_conv_transpose2d_back_to_the_input_shape(layer):
    assert 0 <= backward.output_padding(layer) < layer.stride
    small = suite.scaled(layer, 9, 32)
    x, weight, dy = backward.layer_data(small, 1)
    y = gconv.conv_transpose2d(dy, weight, None, small.stride, small.padding,
                               backward.output_padding(small), small.groups)
    assert y.shape == x.shape


def test_default_batch_is_16_with_backward_and_forward_default_is_unchanged():
    assert backward.batches(bench_args()) == [16]
    assert backward.batches(bench_args("--batch", "2,4")) == [2, 4]
    forward = cli.build_parser().parse_args(["bench"])
    assert forward.backward is False and list(forward.batch) == [1, 16]


# --------------------------------------------------------------------------- rows

def test_rows_report_gconv_times_flops_and_transpose_over_forward(report_vs_torch):
    rows = report_vs_torch["rows"]
    assert [(r["layer"], r["batch"], r["dtype"]) for r in rows] == [
        (layer.name, 2, "float32") for layer in TINY_LAYERS]
    for row, layer in zip(rows, TINY_LAYERS):
        for field in ROW_FIELDS:
            assert field in row, field
        assert row["notes"] == []
        assert set(row["gconv_ms"]) == {"NCHW", "NHWC"} and min(row["gconv_ms"].values()) > 0
        assert row["gconv_best"] == min(row["gconv_ms"], key=row["gconv_ms"].get)
        macs = (2 * layer.out_channels * layer.output_size ** 2
                * (layer.in_channels // layer.groups) * layer.kernel ** 2)
        assert row["forward_flops"] == 2 * macs and row["flops"] == 2 * row["forward_flops"]
        for layout in ("NCHW", "NHWC"):
            assert row["transpose_ratio"][layout] == pytest.approx(
                row["transpose_ms"][layout] / row["forward_ms"][layout])
    assert rows[0]["output_padding"] == 1 and rows[1]["output_padding"] == 0
    assert report_vs_torch["config"]["backward"] is True
    assert "python -m gconv bench --backward " in report_vs_torch["config"]["command"]


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_rows_time_torch_in_both_layouts_and_gconv_gradients_agree_with_torch(report_vs_torch):
    for row in report_vs_torch["rows"]:
        assert set(row["torch_ms"]) == {"torch", "torch_cl"}
        assert row["torch_best"] == min(row["torch_ms"], key=row["torch_ms"].get)
        assert row["ratio"] == pytest.approx(
            row["torch_ms"][row["torch_best"]] / row["gconv_ms"][row["gconv_best"]])
        assert set(row["max_rel_error"]) == {"NCHW", "NHWC"}
        assert all(error < 1e-4 for error in row["max_rel_error"].values()), row
    summary = report_vs_torch["summary"]
    assert summary["ratios_unavailable"] is None
    (group,) = summary["backward"]
    assert (group["batch"], group["dtype"], group["layers"]) == (2, "float32", 2)
    assert group["min_ratio"] == min(r["ratio"] for r in report_vs_torch["rows"])
    assert group["target_met"] is None  # the target is stated at N=16
    text = io.StringIO()
    backward.print_text(report_vs_torch, text)
    assert "torch_cl ms" in text.getvalue() and "target is stated at N=16" in text.getvalue()


def test_without_torch_gconv_is_timed_alone_and_ratios_are_unavailable():
    report = backward.run(bench_args("--quick", "--batch", "1", "--vs", "none",
                                     "--layout", "NHWC"), quiet, layers=TINY_LAYERS[1:])
    (row,) = report["rows"]
    assert set(row["gconv_ms"]) == {"NHWC"} and row["gconv_ms"]["NHWC"] > 0
    assert row["torch_ms"] == {} and row["ratio"] is None
    assert row["max_rel_error"] == {"NHWC": None}
    assert report["summary"]["ratios_unavailable"] == "torch is not in --vs"
    text = io.StringIO()
    backward.print_text(report, text)
    assert "ratios unavailable (torch is not in --vs)" in text.getvalue()
    assert "torch ms" not in text.getvalue()


def test_a_second_pass_keeps_each_implementations_better_median(monkeypatch):
    """Two passes over the layers: every implementation keeps its better median,
    and the row's ratio and T/F come from those."""
    layer = TINY_LAYERS[1]
    names = ("gconv_NHWC", "transpose_NHWC", "forward_NHWC")
    passes = iter([dict(zip(names, (3.0, 1.0, 2.0))), dict(zip(names, (1.0, 2.0, 4.0)))])
    monkeypatch.setattr(backward._bench, "time_interleaved", lambda *args: next(passes))
    first = backward.measure_layer(layer, 1, ["NHWC"], None, 100.0, _bench.QUICK, quiet)
    second = backward.measure_layer(layer, 1, ["NHWC"], None, 100.0, _bench.QUICK, quiet,
                                    earlier=first["seconds"])
    assert first["gconv_ms"] == {"NHWC": 3000.0}
    assert second["gconv_ms"] == {"NHWC": 1000.0}
    assert second["transpose_ratio"] == {"NHWC": pytest.approx(0.5)}  # 1.0 / 2.0


# --------------------------------------------------------------------------- summary

def _row(layer, ratio, transpose=1.0, batch=16):
    return {"layer": layer, "batch": batch, "dtype": "float32", "ratio": ratio,
            "transpose_ratio": {"NCHW": transpose}}


def test_summary_meets_the_target_with_geomean_2x_and_no_layer_below_1x():
    summary = backward.summarize([_row("a", 2.0), _row("b", 4.5, 1.4)], ["NCHW"])
    (group,) = summary["backward"]
    assert group["geomean_ratio"] == pytest.approx(3.0)
    assert (group["min_ratio"], group["min_layer"], group["below_1x"]) == (2.0, "a", [])
    assert group["target_met"] is True and summary["backward_target_met"] is True
    assert summary["transpose"]["target_met"] is True
    assert summary["transpose"]["max"]["NCHW"] == 1.4


def test_summary_misses_the_target_with_one_layer_below_1x_or_transpose_above_1_5x():
    summary = backward.summarize([_row("a", 9.0), _row("b", 0.9, 1.6)], ["NCHW"])
    (group,) = summary["backward"]
    assert group["geomean_ratio"] > backward.RATIO_TARGET
    assert group["below_1x"] == ["b: 0.90x"] and group["target_met"] is False
    assert summary["backward_target_met"] is False
    assert summary["transpose"]["above_target"] == ["b N=16 float32 NCHW: 1.60x"]
    assert summary["transpose"]["target_met"] is False


def test_summary_judges_the_backward_target_only_at_n16():
    summary = backward.summarize([_row("a", 3.0, batch=2)], ["NCHW"])
    assert summary["backward"][0]["target_met"] is None
    assert summary["backward_target_met"] is None


# --------------------------------------------------------------------------- the command

def test_bench_help_lists_backward(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    assert "--backward" in capsys.readouterr().out


def test_cli_backward_quick_prints_the_table_and_writes_json_and_markdown(tmp_path):
    json_path, markdown_path = tmp_path / "backward.json", tmp_path / "BACKWARD.md"
    result = subprocess.run(
        [sys.executable, "-m", "gconv", "bench", "--backward", "--quick", "--layers",
         "mbv2_dw_7", "--batch", "2", "--vs", "torch", "--json", str(json_path),
         "--markdown", str(markdown_path)],
        capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert "[1/1] mbv2_dw_7 N=2 float32 backward NCHW,NHWC" in result.stderr
    assert "mbv2_dw_7" in result.stdout and "T/F NCHW" in result.stdout
    assert "conv_transpose2d / forward conv2d" in result.stdout

    report = json.loads(json_path.read_text())
    (row,) = report["rows"]
    assert (row["layer"], row["batch"], row["dtype"]) == ("mbv2_dw_7", 2, "float32")
    assert row["gconv_ms"]["NCHW"] > 0 and row["gconv_ms"]["NHWC"] > 0
    if HAS_TORCH:
        assert report["config"]["torch_columns"] == ["torch", "torch_cl"]
        assert row["ratio"] > 0 and max(row["max_rel_error"].values()) < 1e-4
    else:
        assert row["ratio"] is None and "ratios unavailable" in result.stdout

    markdown = markdown_path.read_text()
    for heading in ("## Results", "## Summary", "## How to reproduce"):
        assert heading in markdown
    assert "| mbv2_dw_7 | 2 | float32 |" in markdown
    assert "python -m gconv bench --backward " in markdown



def test_nd_bench_compares_each_layer_with_a_conv2d_of_the_same_work():
    from gconv import _bench, _bench_nd

    layers = (_bench_nd.NdLayer("c1", 1, 8, 2, (40,), 3, 2),
              _bench_nd.NdLayer("c3", 3, 8, 2, (4, 6, 5), 3, 1),
              _bench_nd.NdLayer("dw3", 3, 6, 6, (3, 5, 4), 3, 1))
    rng = np.random.default_rng(0)
    for layer in layers:
        for layout in _bench_nd.LAYOUTS[layer.dims]:
            nd, flat = _bench_nd.implementations(layer, layout, rng)
            y_nd, y_flat = nd.run(), flat.run()
            k, cg = layer.kernel, layer.channels // layer.groups
            nd_macs = y_nd.size * cg * k ** layer.dims  # outputs x taps x channels per group
            if layer.dims == 1:  # height 1: the same convolution, the same numbers
                flat_macs = y_flat.size * cg * k
                np.testing.assert_allclose(y_flat.reshape(y_nd.shape), y_nd, rtol=1e-5, atol=1e-4)
            else:  # folded: k times the channels per group; depthwise: k times the images
                flat_macs = y_flat.size * (cg * k if cg > 1 else 1) * k ** 2
            assert nd_macs == flat_macs, (layer.name, layout)
    rows = _bench_nd.measure(_bench.QUICK, layers=layers[:1])
    assert [r["layout"] for r in rows] == ["NCL", "NLC"]
    for r in rows:
        assert r["ratio"] == pytest.approx(r["nd_ms"] / r["conv2d_ms"])
    text = "\n".join(_bench_nd.table_lines(rows) + _bench_nd.summary_lines(rows))
    assert "c1" in text and f"<= {_bench_nd.TARGET}x" in text
