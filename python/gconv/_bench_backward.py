"""``python -m gconv bench --backward``: training gradients against torch autograd.

For every layer of gconv._bench_suite (batch 16 unless ``--batch`` says
otherwise) these run interleaved, round-robin, in one process:

- gconv's input + weight gradients, ``gconv.conv2d_backward(...,
  needs=("input", "weight"))``, in each of ``--layout`` (NCHW, NHWC);
- torch's, ``torch.ops.aten.convolution_backward`` (what autograd calls for
  a conv2d) on contiguous (``torch``) and channels_last (``torch_cl``)
  tensors;
- gconv's ``conv_transpose2d`` of the output gradient with the layer's
  weight (exactly the input gradient) and gconv's forward ``conv2d`` of the
  layer, in each layout, each into a reused ``out=`` array: the same FLOPs,
  so their time ratio says what the transposed path costs over the forward
  kernels it runs on.

- over the whole suite, conv1d and conv3d layers against the conv2d with
  the same multiply-adds (gconv._bench_nd).

Reported, not asserted (issue 4): gconv's faster layout over torch's faster
layout, geomean >= 2x at N=16 with no layer below 1.0x; transposed over
forward time and conv1d/conv3d over their equivalent conv2d <= 1.5x on
every layer.

    python -m gconv bench --backward --vs torch
    python -m gconv bench --backward --quick --layers resnext50_s3 --batch 2
"""

import argparse
import platform
import sys
import time

import numpy as np

import gconv
from gconv import _bench, _bench_nd
from gconv import _bench_suite as suite

BATCH = 16                 # the default batch of --backward; the targets are stated there
RATIO_TARGET = 2.0         # geomean of gconv / torch's faster layout at N=16
MIN_RATIO = 1.0            # ... with no layer below this
TRANSPOSE_TARGET = 1.5     # conv_transpose2d time over forward conv2d time, every layer
NEEDS = ("input", "weight")
TORCH_FORMS = ("torch", "torch_cl")
TOLERANCE = {"float32": 1e-3, "float64": 1e-9}  # max |diff| / max |torch's gradient|


# --------------------------------------------------------------------------- geometry and data

def output_padding(layer):
    """The ``output_padding`` that makes ``conv_transpose2d`` of the layer's
    output gradient come back at the layer's input size (what a strided layer
    loses to the floor in its output size)."""
    full = (layer.output_size - 1) * layer.stride - 2 * layer.padding + layer.kernel
    return layer.size - full


def layer_data(layer, batch, seed=0):
    """Input and weight as the forward bench makes them, and an output
    gradient of normal values (all NCHW)."""
    x, weight = _bench._layer_data(layer, batch, seed)
    rng = np.random.default_rng(seed + 1)
    dy = rng.standard_normal(suite.output_shape(layer, batch)).astype(x.dtype)
    return x, weight, dy


def _to_layout(array, layout):
    return array if layout == "NCHW" else np.ascontiguousarray(array.transpose(0, 2, 3, 1))


def _from_layout(array, layout):
    return array if layout == "NCHW" else array.transpose(0, 3, 1, 2)


def backward_flops(layer, batch):
    """(backward FLOPs, forward FLOPs): the input gradient and the weight
    gradient each take the forward's 2 x MACs."""
    cost = gconv.conv2d_cost(suite.input_shape(layer, batch), suite.weight_shape(layer),
                             dtype=layer.dtype, **suite.conv_kwargs(layer))
    return 2 * cost.flops, cost.flops


# --------------------------------------------------------------------------- implementations
# Each backward implementation returns (grad_input, grad_weight); its to_nchw
# gives both as NCHW NumPy arrays.

def gconv_backward(layer, layout, x_nchw, weight, dy_nchw):
    """``gconv.conv2d_backward`` for the input and weight gradients in ``layout``."""
    x, dy = _to_layout(x_nchw, layout), _to_layout(dy_nchw, layout)

    def run():
        grad_input, grad_weight, _ = gconv.conv2d_backward(
            x, weight, dy, layer.stride, layer.padding, 1, layer.groups, layout=layout,
            needs=NEEDS)
        return grad_input, grad_weight

    return _bench.Implementation(f"gconv_{layout}", run,
                                 lambda r: (_from_layout(r[0], layout), r[1]))


def gconv_transpose(layer, layout, weight, dy_nchw):
    """``gconv.conv_transpose2d`` of the output gradient with the layer's
    weight (K, C/G, R, S) as its (C_in, C_out/G, R, S): the input gradient.
    Into one ``out=`` array, as gconv_forward: a fresh result's page zeroing
    grows with the output (four times the input for the transposed form of a
    stride-2 layer, a quarter for its forward form) and says nothing about
    the kernels the transposed/forward ratio compares."""
    dy = _to_layout(dy_nchw, layout)
    pad_out = output_padding(layer)

    def call(out=None):
        return gconv.conv_transpose2d(dy, weight, None, layer.stride, layer.padding, pad_out,
                                      layer.groups, layout=layout, out=out)

    return _bench.Implementation(f"transpose_{layout}", _bench.reused_out(call),
                                 lambda y: _from_layout(y, layout))


def gconv_forward(layer, layout, x_nchw, weight):
    """The layer's forward ``gconv.conv2d`` (same FLOPs as the transposed one)."""
    x = _to_layout(x_nchw, layout)

    def call(out=None):
        return gconv.conv2d(x, weight, None, layer.stride, layer.padding, 1, layer.groups,
                            layout=layout, out=out)

    return _bench.Implementation(f"forward_{layout}", _bench.reused_out(call),
                                 lambda y: _from_layout(y, layout))


class TorchBackward:
    """``torch.ops.aten.convolution_backward`` (autograd's conv2d backward)
    for the input and weight gradients, on contiguous (``torch``) and
    channels_last (``torch_cl``: input, weight and output gradient) tensors."""

    name = "torch"
    forms = TORCH_FORMS

    def __init__(self, threads):
        import torch

        self.torch = torch
        torch.set_num_threads(threads)
        self.version = torch.__version__

    def prepare(self, layer, x_nchw, weight, dy_nchw):
        torch = self.torch
        stride, padding = (layer.stride,) * 2, (layer.padding,) * 2
        backward = torch.ops.aten.convolution_backward
        tensors = [torch.from_numpy(a) for a in (dy_nchw, x_nchw, weight)]
        channels_last = [t.contiguous(memory_format=torch.channels_last) for t in tensors]

        def form(dy, x, w):
            def run():
                grad_input, grad_weight, _ = backward(
                    dy, x, w, None, stride, padding, (1, 1), False, (0, 0), layer.groups,
                    (True, True, False))
                return grad_input, grad_weight
            return run

        to_nchw = lambda r: (r[0].numpy(), r[1].numpy())  # noqa: E731
        return [_bench.Implementation("torch", form(*tensors), to_nchw),
                _bench.Implementation("torch_cl", form(*channels_last), to_nchw)]


def load_torch(names, threads, log):
    """(TorchBackward or None, why the ratios are unavailable or None)."""
    others = [name for name in names if name != "torch"]
    if others:
        log(f"bench --backward: {', '.join(others)}: no backward to time; skipped")
    if "torch" not in names:
        return None, "torch is not in --vs"
    try:
        return TorchBackward(threads), None
    except ImportError as error:
        log(f"bench --backward: torch is not installed ({error}); timing gconv alone")
        return None, "torch is not installed"


# --------------------------------------------------------------------------- one layer

def _gradient_error(result, expected):
    """Max relative error over the input and the weight gradient."""
    return max(_bench._max_relative_error(r, e) for r, e in zip(result, expected))


def measure_layer(layer, batch, layouts, torch_peer, peak, timing, log, earlier=None):
    """One row for ``layer`` at ``batch``: every implementation checked, then
    timed in one interleaved run. ``earlier``: the seconds of an earlier pass
    over the layer; each implementation keeps the better of the two (see
    _bench.run)."""
    x, weight, dy = layer_data(layer, batch)
    backward = [gconv_backward(layer, layout, x, weight, dy) for layout in layouts]
    peers = torch_peer.prepare(layer, x, weight, dy) if torch_peer else []
    same_flops = [impl for layout in layouts
                  for impl in (gconv_transpose(layer, layout, weight, dy),
                               gconv_forward(layer, layout, x, weight))]

    tolerance = TOLERANCE[layer.dtype]
    notes, first_calls, results = [], {}, {}
    for impl in backward + peers + same_flops:
        start = time.perf_counter()
        result = impl.run()
        first_calls[impl.name] = time.perf_counter() - start
        results[impl.name] = impl.to_nchw(result)
    as64 = lambda arrays: tuple(np.asarray(a, np.float64) for a in arrays)  # noqa: E731

    def note(text):
        notes.append(text)
        log(f"bench --backward: warning: {layer.key} N={batch}: {text}")

    # gconv against torch's NCHW gradients (or, without torch, against its first layout).
    expected = as64(results["torch"] if peers else results[backward[0].name])
    errors = {}
    for layout in layouts:
        error = _gradient_error(results[f"gconv_{layout}"], expected)
        errors[layout] = error if peers else None
        if error > tolerance:
            note(f"gconv {layout} gradients differ from "
                 f"{'torch' if peers else 'gconv ' + layouts[0]} (max rel. error {error:.2e})")
    checked = list(backward)
    for impl in peers:
        error = _gradient_error(results[impl.name], expected)
        if error > tolerance:
            note(f"{impl.name} differs from torch (max rel. error {error:.2e}); not timed")
        else:
            checked.append(impl)
    for layout in layouts:
        # The transposed convolution is the input gradient, to the same tolerance.
        error = _bench._max_relative_error(results[f"transpose_{layout}"],
                                           np.asarray(results[f"gconv_{layout}"][0], np.float64))
        if error > tolerance:
            note(f"conv_transpose2d {layout} differs from the input gradient "
                 f"(max rel. error {error:.2e})")
    checked += same_flops

    seconds = _bench.time_interleaved(checked, timing, first_calls)
    if earlier:
        seconds = {name: min(value, earlier.get(name, value)) for name, value in seconds.items()}
    flops, forward_flops = backward_flops(layer, batch)
    gconv_ms = {layout: seconds[f"gconv_{layout}"] * 1e3 for layout in layouts}
    torch_ms = {name: seconds[name] * 1e3 for name in TORCH_FORMS if name in seconds}
    gconv_best = min(gconv_ms, key=gconv_ms.get)
    torch_best = min(torch_ms, key=torch_ms.get) if torch_ms else None
    gflops = flops / gconv_ms[gconv_best] * 1e-6
    transpose_ms = {layout: seconds[f"transpose_{layout}"] * 1e3 for layout in layouts}
    forward_ms = {layout: seconds[f"forward_{layout}"] * 1e3 for layout in layouts}
    return {
        "layer": layer.name, "kind": layer.kind, "batch": batch, "dtype": layer.dtype,
        "input_shape": list(suite.input_shape(layer, batch)),
        "weight_shape": list(suite.weight_shape(layer)),
        "output_shape": list(suite.output_shape(layer, batch)),
        "stride": layer.stride, "padding": layer.padding, "groups": layer.groups,
        "output_padding": output_padding(layer),
        "flops": flops, "forward_flops": forward_flops,
        "gconv_ms": gconv_ms, "gconv_best": gconv_best, "gconv_gflops": gflops,
        "peak_fraction": gflops / peak,
        "torch_ms": torch_ms, "torch_best": torch_best,
        "torch_gflops": flops / torch_ms[torch_best] * 1e-6 if torch_best else None,
        "ratio": torch_ms[torch_best] / gconv_ms[gconv_best] if torch_best else None,
        "max_rel_error": errors, "seconds": dict(seconds),
        "transpose_ms": transpose_ms, "forward_ms": forward_ms,
        "transpose_ratio": {layout: transpose_ms[layout] / forward_ms[layout]
                            for layout in layouts},
        "notes": notes,
    }


# --------------------------------------------------------------------------- summary

def summarize(rows, layouts, unavailable=None):
    """Per batch and dtype: geomean and min of the backward ratio, layers
    below 1.0x and whether issue 4's target holds (judged at N=16 only);
    over all rows: geomean and max of transpose / forward time per layout and
    the layers above 1.5x."""
    groups = []
    for key in dict.fromkeys((r["batch"], r["dtype"]) for r in rows):
        chosen = [r for r in rows if (r["batch"], r["dtype"]) == key]
        rated = [r for r in chosen if r["ratio"] is not None]
        lowest = min(rated, key=lambda r: r["ratio"]) if rated else None
        mean = _bench.geomean(r["ratio"] for r in rated)
        below = [f"{r['layer']}: {r['ratio']:.2f}x" for r in rated if r["ratio"] < MIN_RATIO]
        met = None
        if key[0] == BATCH and rated:
            met = mean >= RATIO_TARGET and not below
        groups.append({"batch": key[0], "dtype": key[1], "layers": len(chosen),
                       "geomean_ratio": mean,
                       "min_ratio": lowest["ratio"] if lowest else None,
                       "min_layer": lowest["layer"] if lowest else None,
                       "below_1x": below, "target_met": met})
    verdicts = [g["target_met"] for g in groups if g["target_met"] is not None]
    transpose = {"geomean": {}, "max": {}, "max_layer": {}}
    for layout in layouts:
        values = [(r["transpose_ratio"][layout], r) for r in rows]
        transpose["geomean"][layout] = _bench.geomean(v for v, _ in values)
        value, row = max(values, key=lambda item: item[0]) if values else (None, None)
        transpose["max"][layout] = value
        transpose["max_layer"][layout] = _row_id(row) if row else None
    transpose["above_target"] = [
        f"{_row_id(r)} {layout}: {r['transpose_ratio'][layout]:.2f}x"
        for r in rows for layout in layouts if r["transpose_ratio"][layout] > TRANSPOSE_TARGET]
    transpose["target_met"] = not transpose["above_target"] if rows else None
    return {"ratios_unavailable": unavailable, "backward": groups,
            "backward_target_met": all(verdicts) if verdicts else None,
            "transpose": transpose}


def _row_id(row):
    return f"{row['layer']} N={row['batch']} {row['dtype']}"


# --------------------------------------------------------------------------- reports

def _ms(value):
    if value is None:
        return "-"
    for limit, digits in ((100, 0), (10, 1), (1, 2)):
        if value >= limit:
            return f"{value:.{digits}f}"
    return f"{value:.3f}"


def _ratio(value):
    return "-" if value is None else f"{value:.2f}x"


def _table(rows, layouts, torch_columns):
    """(header, lines of cells); ``*`` marks gconv's and torch's faster form."""
    header = (["layer", "N", "dtype"] + [f"gconv {layout} ms" for layout in layouts]
              + [f"{name} ms" for name in torch_columns]
              + ["GFLOP/s", "ratio", "max rel err"] + [f"T/F {layout}" for layout in layouts])
    lines = []
    for r in rows:
        errors = [e for e in r["max_rel_error"].values() if e is not None]
        lines.append(
            [r["layer"], str(r["batch"]), r["dtype"]]
            + [_ms(r["gconv_ms"][layout]) + ("*" if layout == r["gconv_best"] else " ")
               for layout in layouts]
            + [_ms(r["torch_ms"].get(name)) + ("*" if name == r["torch_best"] else " ")
               for name in torch_columns]
            + [_bench._gflops(r["gconv_gflops"]), _ratio(r["ratio"]),
               f"{max(errors):.1e}" if errors else "-"]
            + [_ratio(r["transpose_ratio"][layout]) for layout in layouts])
    return header, lines


def _summary_lines(report):
    """The summary as plain lines (text and Markdown share them)."""
    summary, layouts = report["summary"], report["config"]["layouts"]
    lines = []
    for group in summary["backward"]:
        head = (f"backward (input + weight gradients), N={group['batch']} {group['dtype']}, "
                f"{group['layers']} layers: ")
        if summary["ratios_unavailable"]:
            lines.append(head + f"ratios unavailable ({summary['ratios_unavailable']})")
            continue
        text = (head + f"geomean gconv / torch's faster layout {_ratio(group['geomean_ratio'])}, "
                f"min {_ratio(group['min_ratio'])} ({group['min_layer']}), "
                f"{len(group['below_1x'])} below {MIN_RATIO:.1f}x")
        if group["target_met"] is None:
            text += f"; the target is stated at N={BATCH}"
        else:
            text += (f"; target (geomean >= {RATIO_TARGET:.1f}x, none below {MIN_RATIO:.1f}x): "
                     + ("met" if group["target_met"] else "NOT met"))
        lines.append(text)
        lines += [f"  below {MIN_RATIO:.1f}x: {item}" for item in group["below_1x"]]
    transpose = summary["transpose"]
    parts = [f"{layout} geomean {_ratio(transpose['geomean'][layout])}, max "
             f"{_ratio(transpose['max'][layout])} ({transpose['max_layer'][layout]})"
             for layout in layouts]
    if transpose["target_met"] is not None:
        lines.append("conv_transpose2d / forward conv2d time (same FLOPs): " + "; ".join(parts)
                     + f"; {len(transpose['above_target'])} above {TRANSPOSE_TARGET}x; target "
                     f"(<= {TRANSPOSE_TARGET}x on every layer): "
                     + ("met" if transpose["target_met"] else "NOT met"))
        lines += [f"  above {TRANSPOSE_TARGET}x: {item}" for item in transpose["above_target"]]
    return lines


def _header_line(report):
    config, machine = report["config"], report["machine"]
    return (f"machine: {_bench._threads(machine['threads'])}, {machine['isa']}, FMA peak "
            f"{machine['peak_gflops']['float32']:.0f} GFLOP/s float32 / "
            f"{machine['peak_gflops']['float64']:.0f} float64; torch "
            + config["versions"].get("torch", "not timed"))


def print_text(report, out=sys.stdout):
    """The table and the summary as aligned text."""
    config = report["config"]
    header, lines = _table(report["rows"], config["layouts"], config["torch_columns"])
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines)]
    left = {0, 2}
    for cells in [header] + lines:
        print("  ".join(cell.ljust(w) if i in left else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(cells, widths))).rstrip(), file=out)
    print(file=out)
    print("ms: median per call of input + weight gradients (* the faster layout); ratio: "
          "torch's faster / gconv's faster; T/F: conv_transpose2d / forward conv2d time",
          file=out)
    print(_header_line(report), file=out)
    for line in _summary_lines(report):
        print(line, file=out)
    if report.get("nd_rows"):
        print(file=out)
        for line in _bench_nd.table_lines(report["nd_rows"]) + _bench_nd.summary_lines(
                report["nd_rows"]):
            print(line, file=out)


def write_markdown(report, path):
    """The table, summary, notes and how to reproduce, as Markdown."""
    config = report["config"]
    header, lines = _table(report["rows"], config["layouts"], config["torch_columns"])
    out = ["# gconv backward benchmark", "",
           f"{config['date']}, {config['cpu']}, {_bench._threads(config['threads'])}, gconv "
           f"{config['versions']['gconv']} ({report['machine']['isa']} kernels); torch "
           f"{config['versions'].get('torch', 'not timed')}.", "",
           "## Results", "",
           "Milliseconds per call (medians of interleaved runs"
           + ("" if config["quick"] else ", the better of two passes over the layers")
           + ") of the input and weight "
           "gradients: gconv's `conv2d_backward(..., needs=(\"input\", \"weight\"))` in each "
           "layout and torch's `aten.convolution_backward` (autograd's conv2d backward) on "
           "contiguous and channels_last tensors; `*` marks the faster layout of each. "
           "`GFLOP/s` is gconv's (2 x the forward FLOPs over gconv's faster time); `ratio` is "
           "torch's faster time over gconv's faster time (> 1: gconv is faster); "
           "`max rel err` is max |gconv - torch| / max |torch| over both gradients; `T/F` is "
           "the time of gconv's `conv_transpose2d` (the input gradient as a transposed "
           "convolution) over its forward `conv2d` of the layer, same FLOPs, both writing into "
           "a reused `out=` array (a fresh result's first-touch page zeroing grows with the "
           "output, four times the input for the transposed form of a stride-2 layer).", "",
           "| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i in (0, 2) else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(cell.strip() for cell in cells) + " |" for cells in lines]
    out += ["", "## Summary", ""] + [("  - " if line.startswith(" ") else "- ") + line.strip()
                                     for line in _summary_lines(report)]
    if report.get("nd_rows"):
        out += ["", "## conv1d and conv3d", "",
                "Each against the conv2d with the same multiply-adds on gconv's kernels "
                "(conv1d: height 1; dense/grouped conv3d: the depth taps folded into the "
                "channels; depthwise conv3d: one depthwise conv2d over the depth taps' "
                "images), interleaved, both into reused `out=` arrays, float32, milliseconds.",
                ""]
        out += _bench_nd.table_lines(report["nd_rows"], markdown=True) + [""]
        out += [("  - " if line.startswith(" ") else "- ") + line.strip()
                for line in _bench_nd.summary_lines(report["nd_rows"])]
    out += ["", f"Targets of issue 4 (reported, not asserted): backward geomean >= "
            f"{RATIO_TARGET:.0f}x torch's faster layout over the suite at N={BATCH}, no layer "
            f"below {MIN_RATIO:.1f}x; conv_transpose2d within {TRANSPOSE_TARGET}x of the "
            f"forward conv2d's time."]
    notes = [f"{_row_id(r)}: {note}" for r in report["rows"] for note in r["notes"]]
    if notes:
        out += ["", "Notes:", ""] + [f"- {note}" for note in notes]
    out += ["", "## How to reproduce", "", "```sh", "pip install --no-build-isolation .",
            config["command"], "```", "",
            "On a shared machine only the ratios (measured in one interleaved run) mean much.",
            ""]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(out))


# --------------------------------------------------------------------------- command line

def batches(args):
    """``--batch`` if given, else 16 (the parser's default is the forward bench's)."""
    return [BATCH] if args.batch is _bench.DEFAULT_BATCHES else list(args.batch)


def run(args, log=None, layers=None):
    """Runs the backward bench for parsed ``args`` (``layers`` overrides the
    suite's selection, for tests); returns the report (a JSON-ready dict)."""
    from gconv.__main__ import cpu_description

    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        gconv.set_num_threads(args.threads)
    threads = gconv.get_num_threads()
    timing = _bench.QUICK if args.quick else _bench.FULL
    if layers is None:
        layers = suite.select(args.layers, args.dtype)
    if not layers:
        raise ValueError(f"no layer of the suite matches --layers {','.join(args.layers or [])} "
                         f"--dtype {','.join(args.dtype)}")
    if getattr(args, "plot", None):
        log("bench --backward: --plot is ignored (no roofline for the backward bench)")
    sizes = batches(args)
    torch_peer, unavailable = load_torch(args.vs, threads, log)
    torch_columns = list(TORCH_FORMS) if torch_peer else []
    if unavailable:
        log(f"bench --backward: ratios unavailable ({unavailable}); timing gconv alone")

    peak32 = _bench.measure_fma_peak(threads, timing.peak_s)
    machine = {"threads": threads, "isa": gconv.build_info()["isa_active"],
               "peak_gflops": {"float32": peak32, "float64": peak32 / 2}}

    jobs = [(layer, batch) for layer in layers for batch in sizes]
    vs = f" vs {','.join(torch_columns)}" if torch_peer else ""
    rows = _bench.run_passes(  # two passes, as the forward bench
        jobs, timing, log,
        lambda layer, batch: f"{layer.name} N={batch} {layer.dtype} backward "
                             f"{','.join(args.layout)}{vs}",
        lambda layer, batch, earlier: measure_layer(layer, batch, args.layout, torch_peer,
                                                    machine["peak_gflops"][layer.dtype],
                                                    timing, log, earlier))
    nd_rows = []
    if args.layers is None and not args.quick:  # the whole suite: conv1d/conv3d as well
        log("conv1d / conv3d against the equivalent conv2d ...")
        nd_rows = _bench_nd.measure(timing)
    shown = argparse.Namespace(**{**vars(args), "batch": sizes, "plot": None,
                                  "vs": ["torch"] if "torch" in args.vs else []})
    command = _bench.command_line(shown).replace("python -m gconv bench ",
                                                 "python -m gconv bench --backward ", 1)
    versions = {"gconv": gconv.__version__}
    if torch_peer:
        versions["torch"] = torch_peer.version
    return {
        "config": {"command": command, "backward": True, "threads": threads,
                   "quick": args.quick, "layouts": list(args.layout), "batches": sizes,
                   "dtypes": list(args.dtype), "torch_columns": torch_columns,
                   "versions": versions, "cpu": cpu_description()[0],
                   "python": platform.python_version(), "numpy": np.__version__,
                   "build_info": gconv.build_info(),
                   "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                   "targets": {"backward_geomean": RATIO_TARGET, "backward_min": MIN_RATIO,
                               "batch": BATCH, "transpose_over_forward": TRANSPOSE_TARGET}},
        "machine": machine,
        "rows": rows,
        "nd_rows": nd_rows,
        "summary": summarize(rows, args.layout, unavailable),
    }


def main(args):
    """``python -m gconv bench --backward``: runs, prints, writes the files asked for."""
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    try:
        report = run(args, log)
    except ValueError as error:
        print(f"gconv bench: {error}", file=sys.stderr)
        return 2
    print_text(report)
    _bench.write_json(report, args.json, log)
    if args.markdown:
        write_markdown(report, args.markdown)
        log(f"bench: wrote {args.markdown}")
    return 0

