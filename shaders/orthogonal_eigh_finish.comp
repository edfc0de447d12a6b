//! variants: f32 f64
// Last step of the Jacobi eigensolver: eigenvalue j of the working matrix is W(j, j); its
// rank among all N (ties by index) is its place in ascending order, and padding indices
// (SENTINEL diagonal) rank last and are dropped. Writes w[rank] = 2^e W(j, j) and column
// `rank` of v = column j of V (first n rows), signed so that its largest-magnitude entry (the
// first of equals) is positive. info (optional): 1 NaN/Inf input, 2 not converged (the
// last sweep's off-diagonal norm above tol), else 0.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool OUT_F32 = false; // f64 variant writing f32 w and v
layout(constant_id = 2) const bool DESCENDING = false; // the SVD's order: largest first

layout(push_constant) uniform Push {
    uint64_t wm, vm, w_out, v_out, flags, rot, info, offs, norms;
    uint64_t w_bs, v_bs;
    uint n, N, w_s, v_rs;
    uint v_cs, rounds, pairs;  // rounds = 0: one block (SINGLE), convergence in rot
    float tol;                 // converged: sqrt(sum of offs of the last sweep) <= tol ||a||_F
} p;

layout(buffer_reference, std430, buffer_reference_align = T_BYTES) buffer AccBuf { ACC v[]; };

void main() {
    const uint j = gl_GlobalInvocationID.x;
    const uint64_t z = gl_WorkGroupID.z;
    const uint zi = gl_WorkGroupID.z;
    if (p.info != 0 && j == 0) {
        IntBuf f = IntBuf(p.flags);
        bool converged = IntBuf(p.rot).v[zi] == 0;
        if (p.rounds > 0) {
            ACC off = ACC(0);
            for (uint e = 0; e < p.rounds * p.pairs; ++e) off += AccBuf(p.offs).v[zi * p.rounds * p.pairs + e];
            converged = sqrt(off) <= ACC(p.tol) * AccBuf(p.norms).v[zi];
        }
        IntBuf(p.info).v[zi] = f.v[4 * zi + 1] != 0 ? 1 : converged ? 0 : 2;
    }
    if (j >= p.N) return;
    const uint N = p.N;
    TBuf Wm = TBuf(t_addr(p.wm, z * uint64_t(N) * N)), Vm = TBuf(t_addr(p.vm, z * uint64_t(N) * N));
    const ACC d = to_acc(Wm.v[j * N + j]);
    uint rank = 0;
    for (uint i = 0; i < N; ++i) {
        const ACC di = to_acc(Wm.v[i * N + i]);
        if (di < d || (di == d && i < j)) ++rank;
    }
    if (rank >= p.n) return; // padding
    if (DESCENDING) rank = p.n - 1 - rank;
    const int ex = IntBuf(p.flags).v[4 * zi];
    const ACC wv = ldexp(d, ex);
    if (OUT_F32) FloatBuf(p.w_out + z * p.w_bs * 4).v[rank * p.w_s] = float(wv);
    else TBuf(t_addr(p.w_out, z * p.w_bs)).v[rank * p.w_s] = from_acc(wv);
    uint best = 0;
    ACC bmag = ACC(-1);
    for (uint r = 0; r < p.n; ++r) {
        const ACC m = abs(to_acc(Vm.v[r * N + j]));
        if (m > bmag) bmag = m, best = r;
    }
    const ACC sgn = to_acc(Vm.v[best * N + j]) < ACC(0) ? ACC(-1) : ACC(1);
    const uint64_t vbase = p.v_out + z * p.v_bs * (OUT_F32 ? 4 : T_BYTES);
    for (uint r = 0; r < p.n; ++r) {
        const ACC x = sgn * to_acc(Vm.v[r * N + j]);
        if (OUT_F32) FloatBuf(vbase).v[r * p.v_rs + rank * p.v_cs] = float(x);
        else TBuf(vbase).v[r * p.v_rs + rank * p.v_cs] = from_acc(x);
    }
}
