// Elementary functions in the accumulation type ACC for the Kronecker-GP kernels.
// GLSL has no double-precision exp, log, cos or sin, so the f64 variants use the ones
// below (argument reduction + polynomials, a few ulp on the ranges the kernels use);
// the f32 variants use the device's float functions, cos/sin on reduced arguments.
// Include after common/dtype.glsl.
#ifndef VKS_KRON_MATH_GLSL
#define VKS_KRON_MATH_GLSL

// Double literals need the LF suffix: without it a constant is rounded to float.
#if defined(VKS_DTYPE_F64)
const double KR_TWO_PI = 6.28318530717958647693LF;
const double KR_LOG_2PI = 1.83787706640934548356LF;
const double KR_SQRT5 = 2.23606797749978969641LF;
#else
const float KR_TWO_PI = 6.28318530717958647693;
const float KR_LOG_2PI = 1.83787706640934548356;
const float KR_SQRT5 = 2.23606797749978969641;
#endif

#if defined(VKS_DTYPE_F64)

// 2^k for -1022 <= k <= 1023, exactly, from the exponent bits.
double kr_pow2i(int k) { return packDouble2x32(uvec2(0u, uint(k + 1023) << 20)); }

// exp(x): x = k ln2 + r with |r| <= ln2/2 (Cody-Waite: ln2_hi has trailing zero bits, so
// k*ln2_hi is exact), then Taylor to r^13 (truncation < 4e-18 relative).
double kr_exp(double x) {
    if (x < -708.0LF) return 0.0LF; // below the normal range: 0 is what the kernels need
    if (x > 709.0LF) return kr_pow2i(1023) * 2.0LF; // +inf
    double k = floor(x * 1.44269504088896340736LF + 0.5LF);
    double r = (x - k * 6.93147180369123816490e-01LF) - k * 1.90821492927058770002e-10LF;
    double p = 1.0LF / 6227020800.0LF; // 1/13!
    p = fma(p, r, 1.0LF / 479001600.0LF);
    p = fma(p, r, 1.0LF / 39916800.0LF);
    p = fma(p, r, 1.0LF / 3628800.0LF);
    p = fma(p, r, 1.0LF / 362880.0LF);
    p = fma(p, r, 1.0LF / 40320.0LF);
    p = fma(p, r, 1.0LF / 5040.0LF);
    p = fma(p, r, 1.0LF / 720.0LF);
    p = fma(p, r, 1.0LF / 120.0LF);
    p = fma(p, r, 1.0LF / 24.0LF);
    p = fma(p, r, 1.0LF / 6.0LF);
    p = fma(p, r, 0.5LF);
    p = fma(p, r, 1.0LF);
    p = fma(p, r, 1.0LF);
    int ki = int(k);
    // Split the scale so that results down to 2^-1022 stay exact.
    if (ki < -1000) return p * kr_pow2i(ki + 60) * kr_pow2i(-60);
    return p * kr_pow2i(ki);
}

// log(x) for x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s),
// s = (m-1)/(m+1), |s| <= 0.1716, series to s^21. log 0 = -inf, x < 0 or NaN -> NaN.
double kr_log(double x) {
    if (!(x > 0.0LF)) return x == 0.0LF ? -kr_pow2i(1023) * 2.0LF : (x - x) / (x - x);
    uvec2 w = unpackDouble2x32(x);
    int e = int(w.y >> 20) - 1023;
    if (e == -1023) { // subnormal: scale into the normal range first
        x *= kr_pow2i(60);
        w = unpackDouble2x32(x);
        e = int(w.y >> 20) - 1023 - 60;
    }
    double m = packDouble2x32(uvec2(w.x, (w.y & 0x000FFFFFu) | 0x3FF00000u)); // [1, 2)
    if (m > 1.41421356237309504880LF) {
        m *= 0.5LF;
        e += 1;
    }
    double s = (m - 1.0LF) / (m + 1.0LF);
    double z = s * s;
    double p = 1.0LF / 21.0LF;
    p = fma(p, z, 1.0LF / 19.0LF);
    p = fma(p, z, 1.0LF / 17.0LF);
    p = fma(p, z, 1.0LF / 15.0LF);
    p = fma(p, z, 1.0LF / 13.0LF);
    p = fma(p, z, 1.0LF / 11.0LF);
    p = fma(p, z, 1.0LF / 9.0LF);
    p = fma(p, z, 1.0LF / 7.0LF);
    p = fma(p, z, 1.0LF / 5.0LF);
    p = fma(p, z, 1.0LF / 3.0LF);
    double logm = 2.0LF * s * fma(p, z, 1.0LF);
    double de = double(e);
    return (de * 6.93147180369123816490e-01LF + logm) + de * 1.90821492927058770002e-10LF;
}

#else

ACC kr_exp(ACC x) { return exp(x); }
ACC kr_log(ACC x) { return log(x); }

#endif

// cos and sin of 2 pi t (t in turns). The reduction t - round(t), then quarter turns, is
// exact, so accuracy does not degrade with |t|; the polynomials cover |x| <= pi/4.
void kr_cos_sin_turns(ACC t, out ACC c, out ACC s) {
    t -= round(t);
    ACC q = round(ACC(4) * t);
    ACC x = (t - ACC(0.25) * q) * KR_TWO_PI;
#if defined(VKS_DTYPE_F64)
    double z = x * x;
    double sp = 1.0LF / 355687428096000.0LF; // 1/17!: sin x = x + x z (-1/3! + z/5! - ...)
    sp = fma(sp, z, -1.0LF / 1307674368000.0LF);
    sp = fma(sp, z, 1.0LF / 6227020800.0LF);
    sp = fma(sp, z, -1.0LF / 39916800.0LF);
    sp = fma(sp, z, 1.0LF / 362880.0LF);
    sp = fma(sp, z, -1.0LF / 5040.0LF);
    sp = fma(sp, z, 1.0LF / 120.0LF);
    sp = fma(sp, z, -1.0LF / 6.0LF);
    double sx = fma(sp * z, x, x);
    double cp = 1.0LF / 20922789888000.0LF; // 1/16!: cos x = 1 + z (-1/2! + z/4! - ...)
    cp = fma(cp, z, -1.0LF / 87178291200.0LF);
    cp = fma(cp, z, 1.0LF / 479001600.0LF);
    cp = fma(cp, z, -1.0LF / 3628800.0LF);
    cp = fma(cp, z, 1.0LF / 40320.0LF);
    cp = fma(cp, z, -1.0LF / 720.0LF);
    cp = fma(cp, z, 1.0LF / 24.0LF);
    cp = fma(cp, z, -0.5LF);
    double cx = fma(cp, z, 1.0LF);
#else
    float sx = sin(x), cx = cos(x);
#endif
    // Rotate by q quarter turns (q in -2..2).
    int qi = int(q) & 3;
    c = qi == 0 ? cx : qi == 1 ? -sx : qi == 2 ? -cx : sx;
    s = qi == 0 ? sx : qi == 1 ? cx : qi == 2 ? -sx : -cx;
}

#endif
