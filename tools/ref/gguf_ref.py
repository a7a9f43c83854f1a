"""Independent GGUF v3 tensor reader for the references: tensor infos and data (metadata
values skipped), and the block types of the quantised fixtures dequantised element by
element from ggml-common.h's definitions (dequantize_row_q8_0 / _q4_K / _q6_K), in float64.
Written from the format, not from ropebench or tools/make_quantised_families.py.
"""
import struct

import numpy as np

BLOCK = {0: (1, 4), 8: (32, 34), 12: (256, 144), 14: (256, 210)}  # type: (elements, bytes)


def _f16(b, at):
    return float(np.frombuffer(b[at:at + 2], dtype="<f2")[0])


def _q8_0(b):
    d = _f16(b, 0)
    return [d * v for v in struct.unpack("<32b", b[2:34])]


def _scale_min_k4(j, q):
    if j < 4:
        return q[j] & 63, q[j + 4] & 63
    return (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)


def _q4_k(b):
    d, dmin, sc, qs = _f16(b, 0), _f16(b, 2), b[4:16], b[16:144]
    y = []
    for c in range(4):  # 64 values: low nibbles with sub-block 2c, high nibbles with 2c+1
        s1, m1 = _scale_min_k4(2 * c, sc)
        s2, m2 = _scale_min_k4(2 * c + 1, sc)
        q = qs[32 * c:32 * c + 32]
        y += [d * s1 * (v & 0xF) - dmin * m1 for v in q]
        y += [d * s2 * (v >> 4) - dmin * m2 for v in q]
    return y


def _q6_k(b):
    ql, qh, sc, d = b[0:128], b[128:192], struct.unpack("<16b", b[192:208]), _f16(b, 208)
    y = [0.0] * 256
    for h in range(2):
        L, H, S = ql[64 * h:64 * h + 64], qh[32 * h:32 * h + 32], sc[8 * h:8 * h + 8]
        for l in range(32):
            i = l // 16
            y[128 * h + l] = d * S[i] * (((L[l] & 0xF) | (((H[l] >> 0) & 3) << 4)) - 32)
            y[128 * h + l + 32] = d * S[i + 2] * (((L[l + 32] & 0xF) | (((H[l] >> 2) & 3) << 4)) - 32)
            y[128 * h + l + 64] = d * S[i + 4] * (((L[l] >> 4) | (((H[l] >> 4) & 3) << 4)) - 32)
            y[128 * h + l + 96] = d * S[i + 6] * (((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)) - 32)
    return y


DEQUANT = {8: _q8_0, 12: _q4_k, 14: _q6_k}


def _skip_value(b, at, typ):
    fixed = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    if typ in fixed:
        return at + fixed[typ]
    if typ == 8:
        (n,) = struct.unpack_from("<Q", b, at)
        return at + 8 + n
    if typ == 9:
        et, n = struct.unpack_from("<IQ", b, at)
        at += 12
        for _ in range(n):
            at = _skip_value(b, at, et)
        return at
    raise ValueError(f"gguf value type {typ}")


def read_gguf_tensors(path):
    """{name: (ggml type, float64 ndarray in the Hugging Face [rows, cols] order)}."""
    b = open(path, "rb").read()
    assert b[:4] == b"GGUF"
    version, n_t, n_kv = struct.unpack_from("<IQQ", b, 4)
    assert version == 3
    at = 24
    align = 32
    for _ in range(n_kv):
        (kl,) = struct.unpack_from("<Q", b, at)
        key = b[at + 8:at + 8 + kl].decode()
        at += 8 + kl
        (typ,) = struct.unpack_from("<I", b, at)
        at += 4
        if key == "general.alignment":
            (align,) = struct.unpack_from("<I", b, at)
        at = _skip_value(b, at, typ)
    infos = []
    for _ in range(n_t):
        (nl,) = struct.unpack_from("<Q", b, at)
        name = b[at + 8:at + 8 + nl].decode()
        at += 8 + nl
        (nd,) = struct.unpack_from("<I", b, at)
        dims = struct.unpack_from(f"<{nd}Q", b, at + 4)
        typ, off = struct.unpack_from("<IQ", b, at + 4 + 8 * nd)
        at += 4 + 8 * nd + 12
        infos.append((name, dims, typ, off))
    base = (at + align - 1) // align * align
    out = {}
    for name, dims, typ, off in infos:
        n = int(np.prod(dims))
        per, nbytes = BLOCK[typ]
        raw = b[base + off:base + off + n // per * nbytes]
        if typ == 0:
            v = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        else:
            v = np.array([x for k in range(n // per) for x in DEQUANT[typ](raw[k * nbytes:(k + 1) * nbytes])])
        out[name] = (typ, v.reshape(tuple(reversed(dims))))
    return out
