#!/usr/bin/env python3
"""squashing_check.py make X.npy | check X.npy T.npy S.npy: the inputs of test/Numeric/squashing.test (every
float32 from -20 to 20 in steps of 2^-10, the neighbourhood of 0 and of ±16, where the sigmoid's tanh reaches
its clamp, ±1e30 and ±∞), then the compiled tanh and sigmoid of them against math.tanh and 1/(1 + e^-x) in
double precision. Prints the largest absolute errors and exits 1 when one is above 3.5e-7, |tanh| exceeds 1
or a sigmoid leaves [0, 1]."""
import math
import struct
import sys

import npy_io

TOLERANCE = 3.5e-7


def inputs():
    values = [k / 1024.0 for k in range(-20 * 1024, 20 * 1024 + 1)]
    values += [s * 2.0 ** -e for e in range(1, 60) for s in (1, -1)]
    values += [16.0 + d / 4096.0 for d in range(-64, 65)] + [-16.0 - d / 4096.0 for d in range(-64, 65)]
    values += [1e30, -1e30, math.inf, -math.inf]
    values = [struct.unpack("f", struct.pack("f", v))[0] for v in values]
    return values + [0.0] * (-len(values) % 256)


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def main():
    if sys.argv[1] == "make":
        values = inputs()
        npy_io.write(sys.argv[2], "f4", [len(values) // 256, 256], values)
        return 0
    x, t, s = (npy_io.read_f32(path) for path in sys.argv[2:5])
    worst = {"tanh": (0.0, 0.0), "sigmoid": (0.0, 0.0)}
    failed = False
    for xi, ti, si in zip(x, t, s):
        for name, got, want in (("tanh", ti, math.tanh(xi)), ("sigmoid", si, sigmoid(xi))):
            error = abs(got - want)
            if not error <= worst[name][0]:
                worst[name] = (error, xi)
        if not (abs(ti) <= 1.0 and 0.0 <= si <= 1.0):
            print(f"out of range at x = {xi!r}: tanh {ti!r}, sigmoid {si!r}")
            failed = True
    for name, (error, at) in worst.items():
        print(f"{name}: largest error {error:.2e} at x = {at!r}")
        failed |= not error <= TOLERANCE
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
