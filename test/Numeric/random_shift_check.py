#!/usr/bin/env python3
"""random_shift_check.py image OUT.npy N: N examples [2, 7, 7], each a single 1 at the centre of channel 0.
random_shift_check.py offsets GRAD.npy N PIXELS: reads the gradient of p of models/random_shift.attn for
those examples (the sum of the shifted images): every 1 must lie within PIXELS of the centre in channel 0,
and the offsets must be uniform over the (2·PIXELS + 1)² possible ones (a chi-square test at p = 0.001).
Without numpy."""
import sys

from npy_io import read_f32 as read, write

C, S = 2, 7

if sys.argv[1] == "image":
    n = int(sys.argv[3])
    one = [0.0] * (C * S * S)
    one[(S // 2) * S + S // 2] = 1.0
    write(sys.argv[2], "f4", [n, C, S, S], one * n)
    sys.exit(0)

grad, n, pixels = read(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
counts = {}
for i, v in enumerate(grad):
    if v == 0:
        continue
    c, y, x = i // (S * S), i // S % S - S // 2, i % S - S // 2
    if c != 0 or abs(y) > pixels or abs(x) > pixels or v != round(v):
        sys.exit("FAIL: %g at channel %d, offset (%d, %d)" % (v, c, y, x))
    counts[(y, x)] = int(v)
cells = (2 * pixels + 1) ** 2
if sum(counts.values()) != n:
    sys.exit("FAIL: %d examples counted, expected %d" % (sum(counts.values()), n))
expected = n / cells
chi2 = sum((counts.get((y, x), 0) - expected) ** 2 / expected
           for y in range(-pixels, pixels + 1) for x in range(-pixels, pixels + 1))
# The chi-square distribution's 0.999 quantile for cells - 1 degrees of freedom (Wilson-Hilferty).
k, z = cells - 1, 3.0902
limit = k * (1 - 2 / (9 * k) + z * (2 / (9 * k)) ** 0.5) ** 3
print("%d offsets seen of %d, chi-square %.1f (limit %.1f)" % (len(counts), cells, chi2, limit))
if chi2 > limit:
    sys.exit("FAIL: the offsets are not uniform")
