#!/usr/bin/env python3
"""Writes N random 8x8 grey images and their labels as .npy files (no numpy needed):
make_images.py N SEED IMAGES.npy LABELS.npy"""
import random
import struct
import sys


def write_npy(path, descr, shape, values, fmt):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, repr(tuple(shape)))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%d%s" % (len(values), fmt), *values))


n, seed = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
labels = [rng.randrange(10) for _ in range(n)]
# Each class brightens a band of rows, so that there is something to learn.
images = [rng.random() * 0.5 + (0.5 if r == labels[i] % 8 else 0.0)
          for i in range(n) for r in range(8) for _ in range(8)]
write_npy(sys.argv[3], "<f4", (n, 1, 8, 8), images, "f")
write_npy(sys.argv[4], "<i4", (n,), labels, "i")
