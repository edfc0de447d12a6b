/*
 * Float64 oracles of the low-rank family, written from the definitions: every update is
 * formed as a dense ΔW (out, in) first and applied as y = x (W + ΔW)^T, never through the
 * kernels' shrink/expand split. RandLoRA's ΔW comes from its scaled bases flattened by
 * PEFT's rules, index by index.
 */
#ifndef VKS_REFERENCE_LOWRANK_H
#define VKS_REFERENCE_LOWRANK_H

#include <stdint.h>

/* delta (out, in) += s * B A, B: (out, r) row-major, A: (r, in) row-major. */
void ref_lora_delta(int64_t out, int64_t in, int64_t r, double s, const double *b, const double *a, double *delta);

/* y (m, out; row stride ldy) = beta*y + x (W + delta)^T + bias, x (m, in; row stride ldx).
 * w, delta, bias may each be NULL (zero). With beta == 0, y's old contents are ignored. */
void ref_linear(int64_t m, int64_t in, int64_t out, const double *x, int64_t ldx, const double *w, const double *delta,
                const double *bias, double beta, double *y, int64_t ldy);

/* RandLoRA's ΔW (out, in), PEFT's get_delta_weight without the scaling: with d_min =
 * min(in, out), d_max = max(in, out), scaled bases Â[ρ][i][c] = λ[ρ][i] A[ρ][c] γ[i][c]
 * flattened to Â_flat (r*n, d_min) with row ρ*n + i, B (d_max, n, r) flattened to B_flat
 * (d_max, n*r) with column i*r + ρ; ΔW = B_flat Â_flat (in <= out) or its transpose.
 * a: (r, lda) with lda >= d_min; b: (d_max', nb_alloc, r) with d_max' >= d_max, nb_alloc >= n;
 * lambda (r, n); gamma (n, d_min). */
void ref_randlora_delta(int64_t out, int64_t in, int64_t r, int64_t n, const double *a, int64_t lda, const double *b,
                        int64_t nb_alloc, const double *lambda, const double *gamma, double *delta);

#endif
