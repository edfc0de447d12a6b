//! variants: f32 f64
// Kernel matrices on 1-D point sets for the Kronecker-GP family:
//   K[i][j] = (-1)^dx2 g^(dx1+dx2)(r),  r = x1[i] - x2[j],
//   g(r) = sum_q w_q phi(r; rho_q) cos(2 pi f_q r)     (GP-HM's spectral mixture),
// since d/dx = d/dr and d/dx' = -d/dr for a stationary kernel. RBF and Matern-5/2 are
// the one-component cases f = 0 (the host maps lengthscale/outputscale to w and rho).
// The derivatives of the product come from Leibniz' rule with closed forms of phi^(j):
//   SE:      phi = e^(-rho r^2), phi^(j) = He-like polynomials in r times phi
//   Matern:  phi = (1 + u + u^2/3) e^-u, u = sqrt5 rho |r|; odd orders carry sign(r)
// One invocation per element; the order and base are specialization constants.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common/dtype.glsl"
#include "common/kron_math.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1) in;
layout(constant_id = 2) const uint BASE = 0;       // 0: SE, 1: Matern-5/2
layout(constant_id = 3) const uint ORDER = 0;      // dx1 + dx2, 0..4
layout(constant_id = 4) const bool NEGATE = false; // dx2 odd

layout(push_constant) uniform KernelPush {
    uint64_t x1, x2, k, params; // params: q triples (w, rho, f) in ACC
    uint n1, n2, q, pad0;
    uint x1_stride, x2_stride, k_rs, k_cs;
} p;

// Binomial coefficients C(n, j) for n <= 4.
ACC binom(uint n, uint j) {
    const uint table[25] = uint[](1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 2, 1, 0, 0, 1, 3, 3, 1, 0, 1, 4, 6, 4, 1);
    return ACC(table[n * 5 + j]);
}

void main() {
    const uint j = gl_GlobalInvocationID.x, i = gl_GlobalInvocationID.y;
    if (i >= p.n1 || j >= p.n2) return;
    const ACC r = to_acc(TBuf(p.x1).v[i * p.x1_stride]) - to_acc(TBuf(p.x2).v[j * p.x2_stride]);
    TBuf prm = TBuf(p.params); // ACC == T for f32 and f64
    ACC sum = ACC(0);
    for (uint q = 0; q < p.q; ++q) {
        const ACC w = to_acc(prm.v[3 * q]), rho = to_acc(prm.v[3 * q + 1]), f = to_acc(prm.v[3 * q + 2]);
        ACC phi[5];
        if (BASE == 0) {
            const ACC e = kr_exp(-rho * r * r), a = rho * r;
            phi[0] = e;
            phi[1] = ACC(-2) * a * e;
            phi[2] = (ACC(4) * a * a - ACC(2) * rho) * e;
            phi[3] = (ACC(-8) * a * a * a + ACC(12) * rho * a) * e;
            phi[4] = (ACC(16) * a * a * a * a - ACC(48) * rho * a * a + ACC(12) * rho * rho) * e;
        } else {
            const ACC c = KR_SQRT5 * rho, u = c * abs(r), e = kr_exp(-u);
            const ACC sg = sign(r), third = ACC(1) / ACC(3);
            phi[0] = (ACC(1) + u + u * u * third) * e;
            phi[1] = -c * sg * u * (ACC(1) + u) * third * e;
            phi[2] = -c * c * (ACC(1) + u - u * u) * third * e;
            phi[3] = c * c * c * sg * u * (ACC(3) - u) * third * e;
            phi[4] = c * c * c * c * (ACC(3) - ACC(5) * u + u * u) * third * e;
        }
        // cos(omega r) and its derivatives: omega^m * (cos, -sin, -cos, sin)[m % 4].
        ACC cr = ACC(1), sr = ACC(0);
        if (f != ACC(0)) kr_cos_sin_turns(f * r, cr, sr);
        const ACC omega = KR_TWO_PI * f;
        ACC term = ACC(0), om = ACC(1);
        for (uint m = 0; m <= ORDER; ++m) { // m derivatives on the cosine, ORDER - m on phi
            const uint mm = m % 4;
            const ACC cm = om * (mm == 0 ? cr : mm == 1 ? -sr : mm == 2 ? -cr : sr);
            term += binom(ORDER, m) * phi[ORDER - m] * cm;
            om *= omega;
        }
        sum += w * term;
    }
    TBuf(p.k).v[i * p.k_rs + j * p.k_cs] = from_acc(NEGATE ? -sum : sum);
}
