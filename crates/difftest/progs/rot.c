/* Rotates and shifts: rotate-and-mask forms with wrapping masks, shifts by register with counts
 * around the word/doubleword widths, algebraic shifts and their CA/CA32 effect, record forms. */
#include "fixed.h"

#define ROT(X)                                                                                   \
    RC2(X, rlwinm, "%[t],%[a],0,0,31")                                                           \
    X(rlwinm_a, "rlwinm %[t],%[a],8,24,31")                                                      \
    X(rlwinm_b, "rlwinm %[t],%[a],31,1,0")                                                       \
    X(rlwinm_c, "rlwinm. %[t],%[a],16,16,15")                                                    \
    X(rlwinm_d, "rlwinm %[t],%[a],4,28,3")                                                       \
    X(rlwinm_e, "rlwinm %[t],%[a],1,31,31")                                                      \
    RC2(X, rlwnm, "%[t],%[a],%[b],0,31")                                                         \
    X(rlwnm_b, "rlwnm %[t],%[a],%[b],20,7")                                                      \
    RC2(X, rlwimi, "%[t],%[a],0,16,31")                                                          \
    X(rlwimi_b, "rlwimi %[t],%[a],24,30,2")                                                      \
    X(rlwimi_c, "rlwimi. %[t],%[a],31,0,0")                                                      \
    RC2(X, rldicl, "%[t],%[a],0,32")                                                             \
    X(rldicl_b, "rldicl %[t],%[a],63,1")                                                         \
    X(rldicl_c, "rldicl %[t],%[a],1,0")                                                          \
    RC2(X, rldicr, "%[t],%[a],8,55")                                                             \
    X(rldicr_b, "rldicr %[t],%[a],63,0")                                                         \
    RC2(X, rldic, "%[t],%[a],16,8")                                                              \
    X(rldic_b, "rldic %[t],%[a],60,62")                                                          \
    RC2(X, rldimi, "%[t],%[a],32,0")                                                             \
    X(rldimi_b, "rldimi %[t],%[a],4,62")                                                         \
    X(rldimi_c, "rldimi %[t],%[a],0,63")                                                         \
    RC2(X, rldcl, "%[t],%[a],%[b],0")                                                            \
    X(rldcl_b, "rldcl %[t],%[a],%[b],48")                                                        \
    RC2(X, rldcr, "%[t],%[a],%[b],63")                                                           \
    X(rldcr_b, "rldcr %[t],%[a],%[b],7")                                                         \
    RC2(X, slw, "%[t],%[a],%[b]")                                                                \
    RC2(X, srw, "%[t],%[a],%[b]")                                                                \
    RC2(X, sraw, "%[t],%[a],%[b]")                                                               \
    RC2(X, sld, "%[t],%[a],%[b]")                                                                \
    RC2(X, srd, "%[t],%[a],%[b]")                                                                \
    RC2(X, srad, "%[t],%[a],%[b]")                                                               \
    RC2(X, srawi, "%[t],%[a],0")                                                                 \
    X(srawi_b, "srawi %[t],%[a],1")                                                              \
    X(srawi_c, "srawi. %[t],%[a],31")                                                            \
    RC2(X, sradi, "%[t],%[a],0")                                                                 \
    X(sradi_b, "sradi %[t],%[a],1")                                                              \
    X(sradi_c, "sradi. %[t],%[a],63")                                                            \
    X(sradi_d, "sradi %[t],%[a],32")                                                             \
    RC2(X, extswsli, "%[t],%[a],0")                                                              \
    X(extswsli_b, "extswsli %[t],%[a],33")                                                       \
    X(extswsli_c, "extswsli. %[t],%[a],63")

ROT(DEF)
static const struct ent rot[] = {ROT(ENT)};

/* Values to rotate, and shift counts (the second operand): the counts straddle 32 and 64 since
 * the shift instructions use one more bit of RB than the width needs. */
static const u64 vals[] = {
    0x0123456789abcdef, 0x8000000000000001, 0xffffffff80000000, 0x000000007fffffff,
    0xffffffffffffffff, 0xfedcba9876543210, 1, 0x80000000,
};
static const u64 counts[] = {0, 1, 4, 31, 32, 33, 63, 64, 65, 127, 128, 0xffffffffffffffe1};

int main(void)
{
    for (int k = 0; k < ARRAY_SIZE(rot); k++) {
        for (int i = 0; i < ARRAY_SIZE(vals); i++) {
            for (int j = 0; j < ARRAY_SIZE(counts); j++) {
                int x = (i + j) & 1;
                u64 in[6] = {vals[i], counts[j], 0, vals[(i + 3) % ARRAY_SIZE(vals)], xers[x],
                             crs[x]};
                u64 o[3];
                rot[k].fn(in, o);
                out(rot[k].name);
                kh("", in[0]);
                kh("", in[1]);
                kh("", in[3]);
                out(" ->");
                kh("", o[0]);
                kh("", o[1]);
                kh("", o[2]);
                nl();
            }
        }
    }
    return 0;
}
