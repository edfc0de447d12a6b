"""The shapes, batches and work counts of vks-bench's low-rank rows (samples/vks-bench/
bench_lowrank.c), shared by the lowrank peer scripts so that their rows line up with
vkstruct's: same (m, in, out, r), same adapter ids per row (the same splitmix64 stream and
Zipf draw), same flops and bytes formulas.
"""

# (m, in, out, r): op lora
LORA_GPU = [(1, 4096, 4096, 8), (1, 4096, 4096, 16), (1, 4096, 4096, 64), (16, 4096, 4096, 8),
            (16, 4096, 4096, 16), (16, 4096, 4096, 64), (64, 4096, 4096, 16), (64, 4096, 4096, 64),
            (256, 4096, 4096, 16), (256, 4096, 4096, 64), (1, 4096, 11008, 16), (1, 4096, 11008, 64),
            (16, 4096, 11008, 16), (16, 4096, 11008, 64), (64, 4096, 11008, 16), (256, 4096, 11008, 16)]
LORA_CPU = [(1, 4096, 4096, 8), (1, 4096, 4096, 16), (1, 4096, 4096, 64), (16, 4096, 4096, 16),
            (1, 4096, 11008, 16), (64, 1024, 1024, 16), (256, 1024, 1024, 16)]
LORA_CPU_QUICK = [(1, 4096, 4096, 16), (16, 1024, 1024, 16)]

# (m, in, out, r) with r for all 32 adapters, or 0 for the ranks 8, 16, 64 in turn: op lora_multi
MULTI_GPU = [(1, 4096, 4096, 16), (16, 4096, 4096, 8), (16, 4096, 4096, 16), (16, 4096, 4096, 64),
             (64, 4096, 4096, 16), (64, 4096, 4096, 0), (256, 4096, 4096, 16), (16, 4096, 11008, 16),
             (64, 4096, 11008, 16), (256, 4096, 11008, 0)]
MULTI_CPU = [(1, 4096, 4096, 16), (16, 4096, 4096, 16), (16, 4096, 4096, 0), (64, 1024, 1024, 16),
             (256, 1024, 1024, 16)]
MULTI_CPU_QUICK = [(16, 2048, 2048, 16)]
ADAPTERS = 32
LORA_SCALE = 2.0


def lora_shapes(cuda, quick):
    if cuda:
        return LORA_GPU[:6] if quick else LORA_GPU
    return LORA_CPU_QUICK if quick else LORA_CPU


def multi_shapes(cuda, quick):
    if cuda:
        return MULTI_GPU[:3] if quick else MULTI_GPU
    return MULTI_CPU_QUICK if quick else MULTI_CPU


class SplitMix:
    """bench_uniform() of samples/vks-bench/bench.c, bit for bit."""

    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFFFFFFFFFF

    def uniform(self, lo, hi):
        mask = 0xFFFFFFFFFFFFFFFF
        self.state = (self.state + 0x9E3779B97F4A7C15) & mask
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        return lo + (hi - lo) * ((z >> 11) * 2.0 ** -53)


def zipf_draw(rng, n):
    """Adapter k with probability ~ 1/(k+1), as bench_lowrank.c draws it."""
    h = 0.0
    for k in range(n):
        h += 1.0 / (k + 1)
    u = rng.uniform(0, h)
    for k in range(n):
        u -= 1.0 / (k + 1)
        if u <= 0:
            return k
    return n - 1


class MultiBatch:
    """One lora_multi case: per-adapter ranks, scales, packed offsets, each row's adapter."""

    def __init__(self, m, n_in, n_out, r):
        self.m, self.n_in, self.n_out = m, n_in, n_out
        mix = [r, r, r] if r else [8, 16, 64]
        self.ranks = [mix[k % 3] for k in range(ADAPTERS)]
        self.scales = [2.0 / (1 + k % 4) for k in range(ADAPTERS)]
        self.rank_label = r if r else "8,16,64"
        rng = SplitMix(2024 + m)
        self.ids = [zipf_draw(rng, ADAPTERS) for _ in range(m)]
        self.used = sorted(set(self.ids))
        self.a_off, self.b_off, a, b = [], [], 0, 0
        for k in range(ADAPTERS):
            self.a_off.append(a)
            self.b_off.append(b)
            a += self.ranks[k] * n_in
            b += self.ranks[k] * n_out
        self.a_total, self.b_total = a, b

    def shape(self):
        return {"m": self.m, "in": self.n_in, "out": self.n_out, "r": self.rank_label, "adapters": ADAPTERS,
                "used": len(self.used)}

    def flops(self):
        lora = sum(2 * self.ranks[k] * (self.n_in + self.n_out) for k in self.ids)
        return 2.0 * self.m * self.n_in * self.n_out + lora

    def bytes(self, es):
        used_a = sum(self.ranks[k] * self.n_in for k in self.used)
        used_b = sum(self.ranks[k] * self.n_out for k in self.used)
        return float(self.n_out * self.n_in + used_a + used_b + self.m * self.n_in + self.m * self.n_out) * es


def lora_shape(m, n_in, n_out, r):
    return {"m": m, "in": n_in, "out": n_out, "r": r}


def lora_flops(m, n_in, n_out, r):
    return 2.0 * m * (n_in * n_out + n_in * r + r * n_out)


def lora_bytes(m, n_in, n_out, r, es):
    return float(m * n_in + n_out * n_in + r * n_in + n_out * r + m * n_out) * es
