// Emulated cooperative-matrix fragments (see monarch_bmm_coopmat_emu.comp). A loaded A or B
// fragment is remembered as its offset into As / Bs (the kernel does not change those
// between a load and its use); each of a group's 32 invocations keeps 8 of the 256 elements
// of every accumulator (element e = lane + 32*t, row e / 16, column e % 16) in registers.
#define EMU_DECLARE                                                                                  \
    const uint emu_lane = gl_LocalInvocationID.x % 32;                                               \
    uint emu_a[2], emu_b[2];                                                                         \
    float emu_acc[4][8]

void emu_mma(inout float acc[8], uint a_off, uint b_off, uint lane) {
    for (uint t = 0; t < 8; ++t) {
        const uint e = lane + 32 * t, r = e / 16, c = e % 16;
        float v = acc[t];
        for (uint kk = 0; kk < 16; ++kk) v += float(As[a_off + r * SAK + kk]) * float(Bs[b_off + kk * SBN + c]);
        acc[t] = v;
    }
}

void emu_store(float acc[8], uint off, uint lane) {
    for (uint t = 0; t < 8; ++t) {
        const uint e = lane + 32 * t;
        Cs[off + (e / 16) * SCN + e % 16] = acc[t];
    }
}
