// Push constants of the fused Monarch forward kernels (mirrored by fused_push in
// backend/ops/monarch_fused.c): x (batch, n_in) rows ldx apart, w1 (k, q, p), w2 (l, s, r),
// y (batch, m_out) rows ldy apart; q = R*l. Columns of x past n_in read as zeros, output
// columns past m_out are not written.
layout(push_constant) uniform FusedPush {
    uint64_t x, w1, w2, y, bias; // bias 0 = none
    uint batch, n_in, m_out, ldx;
    uint ldy, k, q, p;
    uint l, s, r, R;
} p;
