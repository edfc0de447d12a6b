// Resolves a device-resident adapter mapping into one adapter id per row, never reading
// out of bounds: rows whose id is outside [-1, nadapters), or that lie outside the
// segments, get -1 (base only). Problems are counted in status[0]; status[1] keeps the
// first (atomicMin of a code: row index < m for a row, m + j for a bad seg_starts[j]).
#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require

layout(local_size_x = 64) in;
layout(buffer_reference, std430, buffer_reference_align = 4) buffer IntBuf { int v[]; };

// Mirrored by lr_plan_push in backend/ops/lowrank.c.
layout(push_constant) uniform Push {
    uint64_t ids;    // GATHERED: m ids; SEGMENTED: nseg ids
    uint64_t starts; // SEGMENTED: nseg + 1 row offsets; 0 = GATHERED
    uint64_t dst;    // m ids
    uint64_t status; // int[2]
    uint m, nseg, nadapters;
} p;

void flag(uint code) {
    atomicAdd(IntBuf(p.status).v[0], 1);
    atomicMin(IntBuf(p.status).v[1], int(code));
}

void main() {
    const uint i = gl_GlobalInvocationID.x;
    IntBuf ids = IntBuf(p.ids), starts = IntBuf(p.starts);
    if (p.starts != 0 && i <= p.nseg) { // seg_starts: 0 first, m last, non-decreasing
        const int si = starts.v[i];
        bool ok = i == 0 ? si == 0 : (i == p.nseg ? si == int(p.m) : true);
        if (i < p.nseg) ok = ok && si <= starts.v[i + 1];
        if (!ok) flag(p.m + i);
    }
    if (i >= p.m) return;
    int a = -1;
    bool ok;
    if (p.starts == 0) {
        a = ids.v[i];
    } else {
        // The last segment whose start is <= i (binary search; any order gives some segment,
        // which is then checked to hold row i).
        uint lo = 0, hi = p.nseg; // answer in [lo, hi)
        while (hi - lo > 1) {
            const uint mid = (lo + hi) / 2;
            if (starts.v[mid] <= int(i)) lo = mid;
            else hi = mid;
        }
        ok = p.nseg > 0 && starts.v[lo] <= int(i) && int(i) < starts.v[lo + 1];
        a = ok ? ids.v[lo] : -2;
    }
    ok = a >= -1 && a < int(p.nadapters);
    IntBuf(p.dst).v[i] = ok ? a : -1;
    if (!ok) flag(i);
}
