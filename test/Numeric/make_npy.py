#!/usr/bin/env python3
"""make_npy.py OUT.npy f4|i4 D0,D1,... VALUE: a .npy file of that dtype and shape, every element VALUE
(no numpy needed)."""
import struct
import sys

out, kind, dims, value = sys.argv[1], sys.argv[2], [int(d) for d in sys.argv[3].split(",")], sys.argv[4]
count = 1
for d in dims:
    count *= d
header = "{'descr': '<%s', 'fortran_order': False, 'shape': %s, }" % (kind, repr(tuple(dims)))
header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
fmt, number = ("f", float(value)) if kind == "f4" else ("i", int(value))
with open(out, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    f.write(struct.pack("<%d%s" % (count, fmt), *([number] * count)))
