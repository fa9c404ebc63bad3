#!/usr/bin/env python3
"""seeded_weights.py SEED OUT.safetensors < info.txt: weights for a model too large to keep its weights
among the goldens, made again from a seed wherever they are needed. Reads the parameter list that
`./model info` prints (name, f32[shape]) and writes every parameter, each drawn from its own stream
(Python's random.Random seeded with "SEED:name", the same on every platform):

    matrices [out, in, ...]  normal / sqrt(in·...)
    vectors named *.weight   1 + 0.2·normal (layer-norm gains)
    other vectors            0.1·normal

gen_goldens.py imports `generate` to give PyTorch the same weights. Needs no numpy."""
import json
import math
import random
import re
import struct
import sys


def generate(seed, shapes):
    """{name: (shape, row-major list of floats)} for `shapes`, a {name: shape} dict."""
    out = {}
    for name, shape in shapes.items():
        rng = random.Random("%d:%s" % (seed, name))
        count = math.prod(shape)
        if len(shape) >= 2:
            scale, offset = math.prod(shape[1:]) ** -0.5, 0.0
        elif name.endswith(".weight"):
            scale, offset = 0.2, 1.0
        else:
            scale, offset = 0.1, 0.0
        out[name] = (list(shape), [offset + scale * rng.gauss(0.0, 1.0) for _ in range(count)])
    return out


def parse_info(text):
    """{name: shape} from the 'parameters:' section of `./model info`."""
    shapes, inside = {}, False
    for line in text.splitlines():
        if line.startswith("parameters:"):
            inside = True
            continue
        match = re.match(r"\s+(\S+)\s+f32\[([0-9, ]+)\]", line) if inside else None
        if match:
            shapes[match.group(1)] = [int(d) for d in match.group(2).split(",")]
        elif inside and line.strip() and not line.startswith(" "):
            break
    return shapes


def write_safetensors(path, tensors):
    """Writes {name: (shape, little-endian float32 bytes)} in the safetensors format (header JSON, then the
    raw data)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        shape, data = tensors[name]
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


if __name__ == "__main__":
    shapes = parse_info(sys.stdin.read())
    if not shapes:
        sys.exit("seeded_weights.py: no parameters in the input (expected the output of ./model info)")
    tensors = generate(int(sys.argv[1]), shapes)
    write_safetensors(sys.argv[2], {k: (shape, struct.pack("<%df" % len(v), *v)) for k, (shape, v) in tensors.items()})
