#!/usr/bin/env python3
"""Rewrites a safetensors checkpoint the way a damaged or forged file would differ, keeping it well formed
(contiguous data, the data's CRC-32 in the metadata updated), so that the program's own checks of its
contents are what a test exercises: --step sets the recorded step, --shrink NAME keeps the first element of
a tensor only, --i32 NAME relabels a tensor's dtype as I32, --unused NAME=GIB appends an F32 tensor of
that many GiB (a hole in the file, and no checksum, as files from other tools have none)."""
import argparse
import json
import struct
import zlib

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("src")
parser.add_argument("dst")
parser.add_argument("--step")
parser.add_argument("--shrink")
parser.add_argument("--i32")
parser.add_argument("--unused")
args = parser.parse_args()

raw = open(args.src, "rb").read()
(length,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + length])
data = raw[8 + length:]
meta = header.pop("__metadata__", {})
if args.step is not None:
    meta["step"] = args.step
pieces = []
for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
    begin, end = entry["data_offsets"]
    piece = data[begin:end]
    if name == args.shrink:
        piece, entry["shape"] = piece[:4], [1]
    if name == args.i32:
        entry["dtype"] = "I32"
    pieces.append((name, entry, piece))
out, offset = b"", 0
for name, entry, piece in pieces:
    entry["data_offsets"] = [offset, offset + len(piece)]
    offset += len(piece)
    out += piece
meta["crc32"] = str(zlib.crc32(out))
hole = 0
if args.unused:
    name, gib = args.unused.split("=")
    hole = int(gib) << 30
    header[name] = {"dtype": "F32", "shape": [int(gib), 1 << 28], "data_offsets": [offset, offset + hole]}
    del meta["crc32"]
header["__metadata__"] = meta
text = json.dumps(header, separators=(",", ":")).encode()
with open(args.dst, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + out)
    f.truncate(f.tell() + hole)
