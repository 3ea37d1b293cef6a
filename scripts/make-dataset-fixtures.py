#!/usr/bin/env python3
"""Writes the user-dataset fixtures of Tests/BulwarkDataTests/FuzzCorpus: NumPy archives and
arrays, a safetensors file and PNG images of every colour type, all small and deterministic.

Needs only numpy (PNG and safetensors are written by hand with zlib and struct). The tests
recompute the same pixels with the same formula, `pattern`; run this script again only to
change the fixtures: python3 scripts/make-dataset-fixtures.py
"""
import json
import os
import struct
import zlib

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "BulwarkDataTests", "FuzzCorpus")
COUNT, HEIGHT, WIDTH, CHANNELS = 4, 5, 6, 3
LABELS = [0, 2, 1, 2]


def pattern(n, h, w, c):
    """The byte at image n, row h, column w, channel c (the tests use the same formula)."""
    return (n * 37 + h * 11 + w * 5 + c * 3 + 7) % 256


def images_nhwc():
    return np.array(
        [[[[pattern(n, h, w, c) for c in range(CHANNELS)] for w in range(WIDTH)] for h in range(HEIGHT)]
         for n in range(COUNT)],
        dtype=np.uint8)


def write_safetensors(path, tensors):
    """tensors: name -> (dtype name, numpy array); written as safetensors.torch.save_file does."""
    header, offset, buffers = {}, 0, []
    for name in sorted(tensors):
        dtype, array = tensors[name]
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        buffers.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(text)) + text + b"".join(buffers))


def write_png(path, width, height, bit_depth, color_type, rows, palette=None):
    """rows: one bytes object per row, without the filter byte."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)
    body = chunk(b"IHDR", header)
    if palette is not None:
        body += chunk(b"PLTE", bytes(value for color in palette for value in color))
    body += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n" + body)


def main():
    x = images_nhwc()
    y = np.array(LABELS, dtype=np.int64)
    # NumPy: uint8 channels-last (savez), float32 channels-first under the long names
    # (savez_compressed), uint8 grayscale N×H×W, and a pair of .npy files.
    np.savez(os.path.join(OUT, "npz-uint8-nhwc.npz"), x=x, y=y)
    np.savez_compressed(
        os.path.join(OUT, "npz-float32-nchw.npz"),
        images=(x.transpose(0, 3, 1, 2) / np.float32(255)).astype(np.float32), labels=y.astype(np.int32))
    np.savez(os.path.join(OUT, "npz-gray.npz"), x=x[:, :, :, 0], y=y.astype(np.uint8))
    np.save(os.path.join(OUT, "npy-x_pair.npy"), (x.transpose(0, 3, 1, 2)[:, :1] / 255.0).astype(np.float64))
    np.save(os.path.join(OUT, "npy-y_pair.npy"), y)
    write_safetensors(os.path.join(OUT, "safetensors-uint8.safetensors"), {"x": ("U8", x), "y": ("I64", y)})

    # PNG: 6 × 5 pixels of image 0 in every colour type; 16-bit samples are byte * 257, so
    # they reduce to the byte exactly; alpha varies and is dropped by the reader.
    def gray(h, w):
        return pattern(0, h, w, 0)

    def rgb(h, w):
        return [pattern(0, h, w, c) for c in range(3)]

    def alpha(h, w):
        return 100 + 20 * h + w

    def rows(pixel):
        return [bytes(value for w in range(WIDTH) for value in pixel(h, w)) for h in range(HEIGHT)]

    def wide(pixel):
        return lambda h, w: [byte for value in pixel(h, w) for byte in struct.pack(">H", value * 257)]

    png = lambda name, *arguments, **options: write_png(os.path.join(OUT, "png-" + name + ".png"), WIDTH, HEIGHT, *arguments, **options)
    png("gray8", 8, 0, rows(lambda h, w: [gray(h, w)]))
    png("gray16", 16, 0, rows(wide(lambda h, w: [gray(h, w)])))
    png("grayalpha8", 8, 4, rows(lambda h, w: [gray(h, w), alpha(h, w)]))
    png("rgb8", 8, 2, rows(rgb))
    png("rgb16", 16, 2, rows(wide(rgb)))
    png("rgba8", 8, 6, rows(lambda h, w: rgb(h, w) + [alpha(h, w)]))
    palette = [(0, 0, 0), (255, 0, 0), (0, 128, 255), (200, 200, 200)]
    png("palette8", 8, 3, rows(lambda h, w: [(h + w) % 4]), palette=palette)
    # A 6 × 4 grayscale image, for the size check.
    write_png(os.path.join(OUT, "png-small-gray8.png"), WIDTH, HEIGHT - 1, 8, 0, rows(lambda h, w: [gray(h, w)])[:-1])


if __name__ == "__main__":
    main()
