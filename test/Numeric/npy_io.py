"""Reading and writing .npy files without numpy, for the test scripts beside it."""
import ast
import struct


def write(path, kind, shape, values):
    """Writes `values` (row-major) as a .npy array of dtype `kind` ('f4' or 'i4') and shape `shape`."""
    header = "{'descr': '<%s', 'fortran_order': False, 'shape': %s, }" % (kind, repr(tuple(shape)))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%d%s" % (len(values), "f" if kind == "f4" else "i"), *values))


def read_f32(path):
    """The elements of a float32 .npy file, row-major."""
    raw = open(path, "rb").read()
    (length,) = struct.unpack("<H", raw[8:10])
    header = ast.literal_eval(raw[10:10 + length].decode())
    assert header["descr"] == "<f4", path
    return struct.unpack("<%df" % ((len(raw) - 10 - length) // 4), raw[10 + length:])
