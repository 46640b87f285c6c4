"""The banded weight gradient (src/cpu/wgrad/weight_grad.cpp) where its
copies or its passes take a special form:

- NCHW lanes over channels (groups of 16 or more channels) on maps that fit
  one band: a pass covers several images (about 800 output pixels, within
  the band's L2 budget), stepping from an image's last row to the next
  image's first; batches that leave a short last band, strides and
  padding, against the reference in every ISA family and both dtypes, and
  the same bits at any thread count;
- NCHW rows of 16 or more pixels: the copy transposes the family's widest
  block of planes at a time (16 floats with AVX-512, 8 otherwise), whole
  and partial blocks, lanes over channels and over groups;
- NHWC lanes over groups (narrow groups): each pixel's groups of channels
  are split into one plane per channel (split_groups: two-vector permutes
  for whole vectors of 2 to 8 channels per group, element by element
  otherwise), for x (Cg channels) and dy (Kg), whole and partial vectors
  of groups."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, assert_close, assert_same_bits, cap_isa, random_array


def _weight_grad(layout, batch, groups, cg, kg, size, kernel, stride, padding, dtype, seed):
    x = random_array((batch, groups * cg) + size, dtype, seed)
    weight_shape = (groups * kg, cg) + kernel
    args = dict(stride=stride, padding=padding, groups=groups)
    y_shape = reference.conv2d(x[:1].astype(np.float64), np.zeros(weight_shape), **args).shape
    dy = random_array((batch,) + y_shape[1:], dtype, seed + 1)
    want = reference.conv2d_weight_grad(x.astype(np.float64), weight_shape,
                                        dy.astype(np.float64), **args)
    if layout == "NHWC":
        x, dy = (np.ascontiguousarray(np.moveaxis(a, 1, -1)) for a in (x, dy))
    got = gconv.conv2d_weight_grad(x, weight_shape, dy, layout=layout, **args)
    return got, want


# (batch, groups, Cg, Kg, H x W, kernel, stride, padding)
SEVERAL_IMAGES = [
    (11, 2, 32, 24, (10, 10), (3, 3), 1, 1),   # bands of 8 images and a last of 3
    (37, 2, 16, 8, (5, 5), (3, 3), 1, 1),      # 32 images, then 5
    (9, 1, 20, 16, (7, 6), (3, 3), 2, 0),      # stride 2, unpadded: 3 x 2 outputs
    (5, 3, 17, 9, (4, 7), (1, 3), 1, (0, 1)),  # 17 channels: a second, partial vector
    (6, 2, 32, 32, (7, 7), (3, 3), 1, 1),      # ResNeXt s5's shape, small: one band
    (3, 1, 64, 16, (2, 2), (2, 2), 1, 0),      # one output pixel per image
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("case", SEVERAL_IMAGES,
                         ids=lambda c: f"n{c[0]}_g{c[1]}_cg{c[2]}_kg{c[3]}_{c[4][0]}x{c[4][1]}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nchw_weight_grad_with_several_images_per_band_matches_reference(isa, case, dtype,
                                                                        restore_isa):
    cap_isa(isa)
    got, want = _weight_grad("NCHW", *case, dtype, seed=case[0])
    assert_close(got, want, np.dtype(dtype).type, f"weight_grad {case} {dtype}")


@pytest.mark.parametrize("case", [SEVERAL_IMAGES[0], SEVERAL_IMAGES[1]], ids=["n11", "n37"])
def test_nchw_weight_grad_with_several_images_per_band_is_the_same_for_any_thread_count(case):
    results = []
    for n in (1, 2, 3):
        with gconv.threads(n):
            results.append(_weight_grad("NCHW", *case, "float32", seed=3)[0])
    for r in results[1:]:
        assert_same_bits(r, results[0], "NCHW weight grad across thread counts")


# (batch, groups, Cg, Kg, H x W, kernel, stride, padding): rows of 16 or
# more input pixels.
WIDE_ROWS = [
    (2, 1, 28, 8, (5, 19), (3, 3), 1, 1),      # lanes over channels: 16 planes, then 12
    (2, 2, 16, 16, (4, 16), (3, 3), 2, 1),     # one whole block per group, stride 2
    (1, 1, 9, 4, (3, 33), (1, 3), 1, (0, 2)),  # 9 planes: a block of 9 rows
    (2, 20, 2, 2, (4, 17), (3, 3), 1, 1),      # lanes over groups: 16 groups, then 4
    (1, 40, 1, 2, (3, 24), (3, 3), 1, 1),      # multiplier 2 (40 groups): 16, 16, 8
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("case", WIDE_ROWS,
                         ids=lambda c: f"g{c[1]}_cg{c[2]}_kg{c[3]}_{c[4][0]}x{c[4][1]}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nchw_weight_grad_of_wide_rows_matches_reference(isa, case, dtype, restore_isa):
    cap_isa(isa)
    got, want = _weight_grad("NCHW", *case, dtype, seed=case[2])
    assert_close(got, want, np.dtype(dtype).type, f"weight_grad {case} {dtype}")


# (groups, Cg, Kg): x's pixels hold groups x Cg channels, dy's groups x Kg.
SPLIT_GROUPS = [
    (16, 2, 2),    # a depth multiplier 2 layer's dy, two channels of x
    (16, 4, 4),    # ResNeXt's 4 channels per group
    (16, 3, 5),    # odd counts: an unpaired last vector
    (32, 7, 6),    # two whole vectors of groups
    (16, 8, 1),    # 8 channels per group (the widest permuted), dy one per group
    (24, 3, 2),    # 16 groups, then 8: a partial vector, element by element
    (16, 9, 3),    # 9 channels per group: element by element
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("case", SPLIT_GROUPS, ids=lambda c: f"g{c[0]}_cg{c[1]}_kg{c[2]}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nhwc_weight_grad_over_narrow_groups_matches_reference(isa, case, dtype, restore_isa):
    cap_isa(isa)
    groups, cg, kg = case
    got, want = _weight_grad("NHWC", 2, groups, cg, kg, (6, 7), (3, 3), 1, 1, dtype,
                             seed=groups + cg)
    assert_close(got, want, np.dtype(dtype).type, f"NHWC weight_grad {case} {dtype}")
