#!/usr/bin/env python3
"""Copies an i32 .npy file with some elements changed: set_npy.py SRC DST I,J=VALUE ... (no numpy needed)."""
import ast
import struct
import sys

src, dst, edits = sys.argv[1], sys.argv[2], sys.argv[3:]
raw = open(src, "rb").read()
(length,) = struct.unpack("<H", raw[8:10])
header = ast.literal_eval(raw[10:10 + length].decode())
assert header["descr"] == "<i4" and not header["fortran_order"], "expected a C-ordered <i4 array"
shape = header["shape"]
values = list(struct.unpack("<%di" % ((len(raw) - 10 - length) // 4), raw[10 + length:]))
for edit in edits:
    index, value = edit.split("=")
    flat = 0
    for i, size in zip((int(i) for i in index.split(",")), shape):
        flat = flat * size + i
    values[flat] = int(value)
open(dst, "wb").write(raw[:10 + length] + struct.pack("<%di" % len(values), *values))
