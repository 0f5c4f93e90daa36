#!/usr/bin/env python3
"""Writes a llama2.c (version 0) checkpoint keeping only the first N transformer layers of another.

A weak draft model for experiments that need one (e.g. results/stories260K-spectr: the Q8_0 copy
of stories260K agrees with its target ~98% of the time, so rule differences vanish).
Usage: scripts/truncate_llama2c.py IN.bin OUT.bin N_LAYERS
"""
import struct
import sys


def main():
    src, dst, keep = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = open(src, "rb").read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq = struct.unpack("7i", data[:28])
    if not 1 <= keep <= n_layers:
        sys.exit(f"{src}: n_layers = {n_layers}: cannot keep {keep}")
    shared = vocab > 0
    vocab = abs(vocab)
    head = dim // n_heads
    kv_dim = head * n_kv
    f = 4  # bytes per float32
    per_layer = [dim, dim * dim, dim * kv_dim, dim * kv_dim, dim * dim, dim, hidden * dim, dim * hidden, hidden * dim]
    out = [struct.pack("7i", dim, hidden, keep, n_heads, n_kv, vocab if shared else -vocab, seq)]
    at = 28
    out.append(data[at:at + vocab * dim * f])  # token embedding
    at += vocab * dim * f
    for size in per_layer:  # each per-layer tensor is [n_layers, size]: keep the first `keep`
        out.append(data[at:at + keep * size * f])
        at += n_layers * size * f
    out.append(data[at:])  # final norm, RoPE tables, classifier (when not shared)
    open(dst, "wb").write(b"".join(out))


if __name__ == "__main__":
    main()
