#!/usr/bin/python3
"""Emulates attention_bf16_kernel (src/backend/cuda/kernels.cu) on the CPU, lane by lane, with the
PTX mma.m16n8k16 fragment layouts and bf16 rounding, against a float64 reference: a check of the
kernel's index logic (tiles, fragments, masking, padding, GQA rows, sliding window, online softmax) for machines
without a GPU. Mirror any change to the kernel here. Slow (pure Python loops): a few minutes.
Not used by the tests. Usage: /usr/bin/python3 tools/cuda_attention_emulator.py
"""
import sys

import numpy as np


def bf16(x):
    x = np.asarray(x, dtype=np.float32); shape = x.shape
    u = np.atleast_1d(x).view(np.uint32).astype(np.uint64)
    s16 = np.uint64(16)
    r = ((u + np.uint64(0x7fff) + ((u >> s16) & np.uint64(1))) >> s16) << s16
    r = r.astype(np.uint32).view(np.float32)
    r = np.where(np.isnan(np.atleast_1d(x)), np.float32(np.nan), r)
    return r.reshape(shape)

BM, BN, THREADS = 128, 64, 256  # k_b_bm, k_b_bn, k_b_threads


def mma(c, a, b0, b1):
    """mma.sync m16n8k16 over the 32 lanes' fragments."""
    # c: [32][4], a: [32][4][2] (lo, hi), b0/b1: [32][2]; returns new c
    A = np.zeros((16, 16)); B = np.zeros((16, 8)); C = np.zeros((16, 8))
    for lane in range(32):
        g, t = lane >> 2, lane & 3
        A[g, 2*t:2*t+2] = a[lane][0]; A[g+8, 2*t:2*t+2] = a[lane][1]
        A[g, 2*t+8:2*t+10] = a[lane][2]; A[g+8, 2*t+8:2*t+10] = a[lane][3]
        B[2*t:2*t+2, g] = b0[lane]; B[2*t+8:2*t+10, g] = b1[lane]
        C[g, 2*t:2*t+2] = c[lane][0:2]; C[g+8, 2*t:2*t+2] = c[lane][2:4]
    D = (A @ B + C).astype(np.float32)
    out = np.zeros((32, 4), np.float32)
    for lane in range(32):
        g, t = lane >> 2, lane & 3
        out[lane] = [D[g, 2*t], D[g, 2*t+1], D[g+8, 2*t], D[g+8, 2*t+1]]
    return out

def kernel(q, ldq, n, pos0, kc, vc, cap, H, KV, hd, scale, out, ldo, HDP, window):
    G = H // KV; total = n * G
    blocks = (total + BM - 1) // BM
    qs, vs = HDP + 8, BN + 8
    l2 = scale * 1.4426950408889634
    for kvh in range(KV):
        for bx in range(blocks):
            row0 = (blocks - 1 - bx) * BM
            p_last = min(n - 1, (row0 + BM - 1) // G); kv_len = pos0 + p_last + 1
            def first_key(R): return max(0, pos0 + R // G - window + 1) if window > 0 else 0
            kv_first = first_key(row0) // BN * BN
            kb = kc[kvh * cap * hd:]; vb = vc[kvh * cap * hd:]
            def off(R, ld): return (R // G) * ld + (kvh * G + R % G) * hd
            sq = np.zeros(BM * qs, np.float32)
            for i in range(BM * HDP):
                r, d = i // HDP, i % HDP; R = row0 + r
                sq[r * qs + d] = bf16(q[off(R, ldq) + d] if (R < total and d < hd) else 0.0)
            for warp in range(8):
                qf = np.zeros((HDP // 16, 32, 4, 2), np.float32)
                for lane in range(32):
                    g, t = lane >> 2, lane & 3; ra = warp * 16 + g
                    for kcn in range(HDP // 16):
                        b = kcn * 16 + 2 * t
                        qf[kcn, lane, 0] = sq[ra*qs + b: ra*qs + b + 2]
                        qf[kcn, lane, 1] = sq[(ra+8)*qs + b: (ra+8)*qs + b + 2]
                        qf[kcn, lane, 2] = sq[ra*qs + b + 8: ra*qs + b + 10]
                        qf[kcn, lane, 3] = sq[(ra+8)*qs + b + 8: (ra+8)*qs + b + 10]
                o = np.zeros((HDP // 8, 32, 4), np.float32)
                m_a = np.full(32, -np.inf, np.float32); m_b = m_a.copy()
                l_a = np.zeros(32, np.float32); l_b = l_a.copy()
                lim_a = np.array([pos0 + (row0 + warp*16 + (l >> 2)) // G for l in range(32)])
                lim_b = np.array([pos0 + (row0 + warp*16 + (l >> 2) + 8) // G for l in range(32)])
                lo_a = np.array([first_key(row0 + warp*16 + (l >> 2)) for l in range(32)])
                lo_b = np.array([first_key(row0 + warp*16 + (l >> 2) + 8) for l in range(32)])
                for k0 in range(kv_first, kv_len, BN):
                    sk = np.zeros(BN * qs, np.float32); svt = np.zeros(HDP * vs, np.float32)
                    chunks = HDP // 4; loads = BN * chunks // THREADS
                    for tid in range(THREADS):
                        for j in range(loads):
                            e = tid + j * THREADS; c = e // chunks; d = (e % chunks) * 4; key = k0 + c
                            if key < kv_len and d < hd:
                                kr = kb[key*hd + d: key*hd + d + 4]; vr = vb[key*hd + d: key*hd + d + 4]
                            else:
                                kr = np.zeros(4, np.float32); vr = kr
                            sk[c*qs + d: c*qs + d + 4] = bf16(kr)
                            for i in range(4): svt[(d + i) * vs + c] = bf16(vr[i])
                    s = np.zeros((BN // 8, 32, 4), np.float32)
                    for nt in range(BN // 8):
                        for kcn in range(HDP // 16):
                            b0 = np.zeros((32, 2), np.float32); b1 = b0.copy()
                            for lane in range(32):
                                g, t = lane >> 2, lane & 3; base = (nt*8 + g) * qs + kcn*16
                                b0[lane] = sk[base + 2*t: base + 2*t + 2]; b1[lane] = sk[base + 8 + 2*t: base + 10 + 2*t]
                            s[nt] = mma(s[nt], qf[kcn], b0, b1)
                    mx_a = np.full(32, -np.inf, np.float32); mx_b = mx_a.copy()
                    for nt in range(BN // 8):
                        for e in range(2):
                            for lane in range(32):
                                t = lane & 3; key = k0 + nt*8 + 2*t + e
                                s[nt, lane, e] = s[nt, lane, e] * l2 if lo_a[lane] <= key <= lim_a[lane] else -np.inf
                                s[nt, lane, 2+e] = s[nt, lane, 2+e] * l2 if lo_b[lane] <= key <= lim_b[lane] else -np.inf
                            mx_a = np.maximum(mx_a, s[nt, :, e]); mx_b = np.maximum(mx_b, s[nt, :, 2+e])
                    def quad(v, op):
                        v = op(v, v[np.arange(32) ^ 1]); return op(v, v[np.arange(32) ^ 2])
                    mx_a = quad(mx_a, np.maximum); mx_b = quad(mx_b, np.maximum)
                    mn_a = np.maximum(m_a, mx_a); mn_b = np.maximum(m_b, mx_b)
                    ba = np.where(mn_a == -np.inf, 0, mn_a); bb = np.where(mn_b == -np.inf, 0, mn_b)
                    al_a = np.exp2(m_a - ba); al_b = np.exp2(m_b - bb); m_a, m_b = mn_a, mn_b
                    s[:, :, 0:2] = np.exp2(s[:, :, 0:2] - ba[None, :, None]); s[:, :, 2:4] = np.exp2(s[:, :, 2:4] - bb[None, :, None])
                    l_a = l_a * al_a + s[:, :, 0:2].sum(axis=(0, 2)); l_b = l_b * al_b + s[:, :, 2:4].sum(axis=(0, 2))
                    o[:, :, 0:2] *= al_a[None, :, None]; o[:, :, 2:4] *= al_b[None, :, None]
                    for kcn in range(BN // 16):
                        pa = np.zeros((32, 4, 2), np.float32)
                        pa[:, 0] = bf16(s[2*kcn, :, 0:2]); pa[:, 1] = bf16(s[2*kcn, :, 2:4])
                        pa[:, 2] = bf16(s[2*kcn+1, :, 0:2]); pa[:, 3] = bf16(s[2*kcn+1, :, 2:4])
                        for dt in range(HDP // 8):
                            b0 = np.zeros((32, 2), np.float32); b1 = b0.copy()
                            for lane in range(32):
                                g, t = lane >> 2, lane & 3; base = (dt*8 + g) * vs + kcn*16
                                b0[lane] = svt[base + 2*t: base + 2*t + 2]; b1[lane] = svt[base + 8 + 2*t: base + 10 + 2*t]
                            o[dt] = mma(o[dt], pa, b0, b1)
                l_a = quad(l_a, np.add); l_b = quad(l_b, np.add)
                for lane in range(32):
                    g, t = lane >> 2, lane & 3
                    for half in range(2):
                        R = row0 + warp*16 + g + 8*half
                        if R >= total: continue
                        ob = off(R, ldo); inv = 1.0 / (l_b[lane] if half else l_a[lane])
                        for dt in range(HDP // 8):
                            d = dt*8 + 2*t
                            if d < hd: out[ob + d] = o[dt, lane, 2*half] * inv
                            if d + 1 < hd: out[ob + d + 1] = o[dt, lane, 2*half + 1] * inv

def ref(q, ldq, n, pos0, kc, vc, cap, H, KV, hd, scale, ldo, window):
    G = H // KV; out = np.full(n * ldo, -777.0)
    for i in range(n):
        for h in range(H):
            kvh = h // G; qi = q[i*ldq + h*hd: i*ldq + h*hd + hd].astype(np.float64)
            K = kc[kvh*cap*hd:].reshape(-1)[: (pos0+i+1)*hd].reshape(-1, hd).astype(np.float64)
            V = vc[kvh*cap*hd:].reshape(-1)[: (pos0+i+1)*hd].reshape(-1, hd).astype(np.float64)
            first = max(0, pos0 + i - window + 1) if window > 0 else 0
            K = K[first:]; V = V[first:]
            s = K @ qi * scale; p = np.exp(s - s.max()); o = p @ V / p.sum()
            out[i*ldo + h*hd: i*ldo + h*hd + hd] = o
    return out

worst = 0.0
for (n, pos0, H, KV, hd, HDP, window) in [(5, 70, 4, 2, 16, 16, 0), (20, 10, 6, 2, 8, 16, 0), (3, 0, 2, 1, 32, 32, 0),
                                         (17, 60, 8, 1, 64, 64, 0), (20, 140, 8, 1, 16, 16, 30), (9, 3, 4, 2, 8, 16, 1)]:
    rng = np.random.default_rng(n + hd)
    cap = pos0 + n + 3; ldq = H*hd + 2; ldo = H*hd + 5
    q = bf16(rng.uniform(-3, 3, n*ldq)); kc = bf16(rng.uniform(-1, 1, KV*cap*hd)); vc = bf16(rng.uniform(-1, 1, KV*cap*hd))
    for hh in range(KV):
        kc[(hh*cap + pos0 + n)*hd:(hh*cap + cap)*hd] = np.nan; vc[(hh*cap + pos0 + n)*hd:(hh*cap + cap)*hd] = np.nan
    scale = np.float32(1 / np.sqrt(hd))
    out = np.full(n*ldo, -777.0, np.float32)
    kernel(q, ldq, n, pos0, kc, vc, cap, H, KV, hd, scale, out, ldo, HDP, window)
    r = ref(q, ldq, n, pos0, kc, vc, cap, H, KV, hd, scale, ldo, window)
    err = np.nanmax(np.abs(out - r)) if not np.isnan(out).any() else float('nan')
    print(f"n={n} pos0={pos0} H={H} KV={KV} hd={hd} HDP={HDP} window={window}: max err {err:.2e}", flush=True)
    worst = max(worst, err) if err == err else float("inf")
# The backend-ops test's bf16 attention tolerance (tests/unit/backend/backend_ops_test.cpp).
print("OK" if worst <= 4e-3 else "FAIL", f"(worst {worst:.2e}, tolerance 4e-3)")
sys.exit(0 if worst <= 4e-3 else 1)
