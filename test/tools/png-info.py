#!/usr/bin/env python3
"""Reads a PNG with nothing but the standard library (zlib for the image data) and prints what a test
checks: size and colour type, whether every chunk's CRC holds, and the colours it uses most.

    png-info.py FILE
"""
import collections
import struct
import sys
import zlib


def main(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG (bad signature)")
    at, chunks, crc_ok = 8, [], True
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        crc_ok &= zlib.crc32(kind + body) == crc
        chunks.append((kind.decode("ascii"), body))
        at += 12 + length
    kinds = [k for k, _ in chunks]
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", chunks[0][1])
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == "IDAT"))
    stride = 1 + 3 * width
    if depth != 8 or colour != 2 or len(raw) != height * stride:
        sys.exit(f"{path}: expected 8-bit RGB data of {height} rows × {stride} bytes")
    counts = collections.Counter()
    for y in range(height):
        row = raw[y * stride:(y + 1) * stride]
        if row[0] != 0:
            sys.exit(f"{path}: row {y} uses filter {row[0]}, expected 0")
        for x in range(width):
            counts[row[1 + 3 * x:4 + 3 * x].hex()] += 1
    print(f"{width}x{height} rgb8 chunks {' '.join(kinds)} crc {'ok' if crc_ok else 'BAD'}")
    print("colours", len(counts), "most", " ".join(c for c, _ in counts.most_common(3)))


if __name__ == "__main__":
    main(sys.argv[1])
