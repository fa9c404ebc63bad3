#!/usr/bin/env python3
"""dropout_mask.py DROPPED.npy UNDROPPED.npy RATE: checks a gradient taken with dropout against the same
gradient without it: each element is 0 (dropped) or 1/(1 - RATE)^2 times the other (kept, scaled twice, in
the forward and the backward pass), and the fraction dropped is RATE within 4 standard deviations. Reads
float32 .npy files without numpy."""
import math
import sys

from npy_io import read_f32 as read

dropped, full, rate = read(sys.argv[1]), read(sys.argv[2]), float(sys.argv[3])
scale = 1 / (1 - rate) ** 2
zeros = 0
for d, f in zip(dropped, full):
    if d == 0:
        zeros += 1
    elif abs(d - scale * f) > 1e-5 * abs(scale * f) + 1e-12:
        sys.exit("FAIL: a kept element is %g, expected %g" % (d, scale * f))
n = len(full)
fraction, sigma = zeros / n, math.sqrt(rate * (1 - rate) / n)
print("dropped %d of %d (%.4f; rate %.2f, sigma %.4f)" % (zeros, n, fraction, rate, sigma))
if abs(fraction - rate) > 4 * sigma:
    sys.exit("FAIL: the fraction dropped is %.4f, expected %.2f" % (fraction, rate))
