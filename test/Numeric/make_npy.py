#!/usr/bin/env python3
"""make_npy.py OUT.npy f4|i4 D0,D1,... VALUE: a .npy file of that dtype and shape, every element VALUE
(no numpy needed)."""
import sys

import npy_io

out, kind, dims, value = sys.argv[1], sys.argv[2], [int(d) for d in sys.argv[3].split(",")], sys.argv[4]
count = 1
for d in dims:
    count *= d
npy_io.write(out, kind, dims, [float(value) if kind == "f4" else int(value)] * count)
