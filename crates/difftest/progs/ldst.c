/* Loads and stores of every size: D/DS/X forms, update forms (RA written back), byte-reversed,
 * quadword (lq/stq), load-and-reserve / store-conditional (success and failure), FP loads and
 * stores with their single<->double conversions, dcbz, and in big-endian mode the string and
 * multiple forms (which are invalid in little-endian mode). Memory is printed in address order. */
#include "rt.h"

static u8 buf[512] __attribute__((aligned(256)));

static void fill(void)
{
    for (int i = 0; i < (int)sizeof(buf); i++)
        buf[i] = (u8)(i * 0x3b + 0x81);
}

/* Each load at displacement 4 (DS: 4, DQ: 16) from a base, and X-form with an index. */
#define LD_D(n)                                                                                  \
    static u64 f_##n(u8 *p)                                                                      \
    {                                                                                            \
        u64 t;                                                                                   \
        __asm__ volatile(#n " %0,4(%1)" : "=r"(t) : "b"(p) : "memory");                          \
        return t;                                                                                \
    }
#define LD_U(n)                                                                                  \
    static u64 f_##n(u8 *p, u64 *ra)                                                             \
    {                                                                                            \
        u64 t;                                                                                   \
        u8 *b = p;                                                                               \
        __asm__ volatile(#n " %0,4(%1)" : "=&r"(t), "+b"(b) : : "memory");                       \
        *ra = (u64)(b - p);                                                                      \
        return t;                                                                                \
    }
#define LD_X(n)                                                                                  \
    static u64 f_##n(u8 *p, u64 i)                                                               \
    {                                                                                            \
        u64 t;                                                                                   \
        __asm__ volatile(#n " %0,%1,%2" : "=r"(t) : "b"(p), "r"(i) : "memory");                  \
        return t;                                                                                \
    }
#define LD_UX(n)                                                                                 \
    static u64 f_##n(u8 *p, u64 i, u64 *ra)                                                      \
    {                                                                                            \
        u64 t;                                                                                   \
        u8 *b = p;                                                                               \
        __asm__ volatile(#n " %0,%1,%2" : "=&r"(t), "+b"(b) : "r"(i) : "memory");                \
        *ra = (u64)(b - p);                                                                      \
        return t;                                                                                \
    }
#define ST_D(n)                                                                                  \
    static void f_##n(u8 *p, u64 v)                                                              \
    {                                                                                            \
        __asm__ volatile(#n " %1,4(%0)" : : "b"(p), "r"(v) : "memory");                          \
    }
#define ST_U(n)                                                                                  \
    static u64 f_##n(u8 *p, u64 v)                                                               \
    {                                                                                            \
        u8 *b = p;                                                                               \
        __asm__ volatile(#n " %1,4(%0)" : "+b"(b) : "r"(v) : "memory");                          \
        return (u64)(b - p);                                                                     \
    }
#define ST_X(n)                                                                                  \
    static void f_##n(u8 *p, u64 i, u64 v)                                                       \
    {                                                                                            \
        __asm__ volatile(#n " %2,%0,%1" : : "b"(p), "r"(i), "r"(v) : "memory");                  \
    }
#define ST_UX(n)                                                                                 \
    static u64 f_##n(u8 *p, u64 i, u64 v)                                                        \
    {                                                                                            \
        u8 *b = p;                                                                               \
        __asm__ volatile(#n " %2,%0,%1" : "+b"(b) : "r"(i), "r"(v) : "memory");                  \
        return (u64)(b - p);                                                                     \
    }

LD_D(lbz) LD_D(lhz) LD_D(lha) LD_D(lwz) LD_D(lwa) LD_D(ld)
LD_U(lbzu) LD_U(lhzu) LD_U(lhau) LD_U(lwzu) LD_U(ldu)
LD_X(lbzx) LD_X(lhzx) LD_X(lhax) LD_X(lwzx) LD_X(lwax) LD_X(ldx)
LD_X(lhbrx) LD_X(lwbrx) LD_X(ldbrx)
LD_UX(lbzux) LD_UX(lhzux) LD_UX(lhaux) LD_UX(lwzux) LD_UX(lwaux) LD_UX(ldux)
ST_D(stb) ST_D(sth) ST_D(stw) ST_D(std)
ST_U(stbu) ST_U(sthu) ST_U(stwu) ST_U(stdu)
ST_X(stbx) ST_X(sthx) ST_X(stwx) ST_X(stdx) ST_X(sthbrx) ST_X(stwbrx) ST_X(stdbrx)
ST_UX(stbux) ST_UX(sthux) ST_UX(stwux) ST_UX(stdux)

struct ld_d { const char *n; u64 (*f)(u8 *); };
struct ld_u { const char *n; u64 (*f)(u8 *, u64 *); };
struct ld_x { const char *n; u64 (*f)(u8 *, u64); };
struct ld_ux { const char *n; u64 (*f)(u8 *, u64, u64 *); };
#define E(n) {#n, f_##n},

static const struct ld_d ld_d[] = {E(lbz) E(lhz) E(lha) E(lwz) E(lwa) E(ld)};
static const struct ld_u ld_u[] = {E(lbzu) E(lhzu) E(lhau) E(lwzu) E(ldu)};
static const struct ld_x ld_x[] = {E(lbzx) E(lhzx) E(lhax) E(lwzx) E(lwax) E(ldx) E(lhbrx)
                                       E(lwbrx) E(ldbrx)};
static const struct ld_ux ld_ux[] = {E(lbzux) E(lhzux) E(lhaux) E(lwzux) E(lwaux) E(ldux)};

static const int offs[] = {0, 1, 2, 3, 4, 5, 7, 13};
static const u64 sval = 0x8192a3b4c5d6e7f8;

static void loads(void)
{
    fill();
    for (int k = 0; k < ARRAY_SIZE(ld_d); k++)
        for (int o = 0; o < ARRAY_SIZE(offs); o++) {
            out(ld_d[k].n);
            kh("off=", offs[o]);
            kh("->", ld_d[k].f(buf + 64 + offs[o]));
            nl();
        }
    for (int k = 0; k < ARRAY_SIZE(ld_u); k++)
        for (int o = 0; o < ARRAY_SIZE(offs); o++) {
            u64 ra;
            u64 v = ld_u[k].f(buf + 64 + offs[o], &ra);
            out(ld_u[k].n);
            kh("off=", offs[o]);
            kh("->", v);
            kh("ra+", ra);
            nl();
        }
    for (int k = 0; k < ARRAY_SIZE(ld_x); k++)
        for (int o = 0; o < ARRAY_SIZE(offs); o++) {
            out(ld_x[k].n);
            kh("off=", offs[o]);
            kh("->", ld_x[k].f(buf + 64, offs[o]));
            /* A negative index. */
            kh("", ld_x[k].f(buf + 128, (u64)(offs[o] - 40)));
            nl();
        }
    for (int k = 0; k < ARRAY_SIZE(ld_ux); k++)
        for (int o = 0; o < ARRAY_SIZE(offs); o++) {
            u64 ra;
            u64 v = ld_ux[k].f(buf + 64, offs[o], &ra);
            out(ld_ux[k].n);
            kh("off=", offs[o]);
            kh("->", v);
            kh("ra+", ra);
            nl();
        }
}

#define SHOW(name)                                                                               \
    do {                                                                                         \
        out(name);                                                                               \
        kh("off=", offs[o]);                                                                     \
        dump("mem", buf + 64, 24);                                                               \
    } while (0)

static void stores(void)
{
    for (int o = 0; o < ARRAY_SIZE(offs); o++) {
        u8 *p = buf + 64 + offs[o];
        fill(); f_stb(p, sval); SHOW("stb"); nl();
        fill(); f_sth(p, sval); SHOW("sth"); nl();
        fill(); f_stw(p, sval); SHOW("stw"); nl();
        fill(); f_std(p, sval); SHOW("std"); nl();
        fill(); kh("stbu ra+", f_stbu(p, sval)); SHOW(""); nl();
        fill(); kh("sthu ra+", f_sthu(p, sval)); SHOW(""); nl();
        fill(); kh("stwu ra+", f_stwu(p, sval)); SHOW(""); nl();
        fill(); kh("stdu ra+", f_stdu(p, sval)); SHOW(""); nl();
        p = buf + 64;
        fill(); f_stbx(p, offs[o], sval); SHOW("stbx"); nl();
        fill(); f_sthx(p, offs[o], sval); SHOW("sthx"); nl();
        fill(); f_stwx(p, offs[o], sval); SHOW("stwx"); nl();
        fill(); f_stdx(p, offs[o], sval); SHOW("stdx"); nl();
        fill(); f_sthbrx(p, offs[o], sval); SHOW("sthbrx"); nl();
        fill(); f_stwbrx(p, offs[o], sval); SHOW("stwbrx"); nl();
        fill(); f_stdbrx(p, offs[o], sval); SHOW("stdbrx"); nl();
        fill(); kh("stbux ra+", f_stbux(p, offs[o], sval)); SHOW(""); nl();
        fill(); kh("sthux ra+", f_sthux(p, offs[o], sval)); SHOW(""); nl();
        fill(); kh("stwux ra+", f_stwux(p, offs[o], sval)); SHOW(""); nl();
        fill(); kh("stdux ra+", f_stdux(p, offs[o], sval)); SHOW(""); nl();
    }
}

/* lq/stq: RTp is an even/odd register pair, r10:r11. */
static void quad(void)
{
    fill();
    u64 hi, lo;
    __asm__ volatile("lq 10,16(%2)\n\tmr %0,10\n\tmr %1,11" : "=r"(hi), "=r"(lo) : "b"(buf + 64)
                     : "r10", "r11", "memory");
    out("lq");
    kh("", hi);
    kh("", lo);
    nl();
    __asm__ volatile("mr 10,%0\n\tmr 11,%1\n\tstq 10,32(%2)" : : "r"(0x0011223344556677UL),
                     "r"(0x8899aabbccddeeffUL), "b"(buf + 64)
                     : "r10", "r11", "memory");
    dump("stq", buf + 96, 16);
    nl();
}

/* Reservations: a store-conditional succeeds after a load-and-reserve to the same address, and
 * fails (CR0 EQ=0, memory unchanged) once the reservation has been used. CR0 is printed. */
#define RESV(lx, stx, off)                                                                       \
    static void r_##lx(void)                                                                     \
    {                                                                                            \
        u64 t, c1, c2;                                                                           \
        u8 *p = buf + 64 + off;                                                                  \
        fill();                                                                                  \
        __asm__ volatile("li 0,0\n\tmtxer 0\n\t" #lx " %0,0,%3\n\t" #stx " %4,0,%3\n\t"          \
                         "mfcr %1\n\t" #stx " %0,0,%3\n\tmfcr %2"                                 \
                         : "=&r"(t), "=&r"(c1), "=&r"(c2)                                        \
                         : "b"(p), "r"(sval)                                                     \
                         : "r0", "cr0", "xer", "memory");                                        \
        out(#lx "/" #stx);                                                                       \
        kh("", t);                                                                               \
        kh("cr", c1 >> 28);                                                                      \
        kh("cr", c2 >> 28);                                                                      \
        dump("mem", buf + 64, 24);                                                               \
        nl();                                                                                    \
    }
RESV(lbarx, stbcx., 3)
RESV(lharx, sthcx., 2)
RESV(lwarx, stwcx., 4)
RESV(ldarx, stdcx., 8)

/* lqarx: only the load is compared. QEMU 7.2's user mode fails every stqcx. (even straight after
 * lqarx to the same address), which the ISA permits (a reservation may be lost at any time), so
 * the store-conditional outcome is not a property both must share. */
static void resv_q(void)
{
    u64 hi, lo;
    fill();
    __asm__ volatile("lqarx 10,0,%2\n\tmr %0,10\n\tmr %1,11"
                     : "=&r"(hi), "=&r"(lo)
                     : "b"(buf + 64)
                     : "r10", "r11", "memory");
    out("lqarx");
    kh("", hi);
    kh("", lo);
    nl();
}

/* FP loads/stores: lfs converts single to double (denormals normalised, SNaN kept), stfs converts
 * double to single without rounding (truncating, denormalising small values). */
static const u32 singles[] = {0x3f800000, 0x00000001, 0x007fffff, 0x80400000, 0x7f800001,
                              0xffc00001, 0x7f7fffff, 0xff800000};
static const u64 doubles[] = {
    0x3ff0000000000000, 0x3ff0000010000000, 0x3ff00000f0000000, 0x36a0000000000000,
    0x380fffffffffffff, 0x3800000000000001, 0x47efffffffffffff,
    0x7ff0000000000001, 0xfff8000000000001, 0x8000000000000000, 0xc00921fb54442d18,
};
/* Not stored with stfs: nonzero values below 2^-149 (exponent < 874), whose stored word the ISA
 * leaves undefined. */

static void fp(void)
{
    for (int k = 0; k < ARRAY_SIZE(singles); k++) {
        u64 d, d2, d3;
        u32 *sp = (u32 *)(buf + 64);
        *sp = singles[k];
        __asm__ volatile("lfs 1,0(%3)\n\tstfd 1,8(%3)\n\tld %0,8(%3)\n\t"
                         "lfsx 2,%3,%4\n\tstfd 2,16(%3)\n\tld %1,16(%3)\n\t"
                         "lfiwax 3,0,%3\n\tstfd 3,24(%3)\n\tld %2,24(%3)"
                         : "=&r"(d), "=&r"(d2), "=&r"(d3)
                         : "b"(sp), "r"(0UL)
                         : "fr1", "fr2", "fr3", "memory");
        out("lfs");
        kh("", singles[k]);
        kh("->", d);
        kh("", d2);
        kh("lfiwax", d3);
        __asm__ volatile("lfiwzx 3,0,%1\n\tstfd 3,24(%1)\n\tld %0,24(%1)"
                         : "=&r"(d3) : "b"(sp) : "fr3", "memory");
        kh("lfiwzx", d3);
        nl();
    }
    for (int k = 0; k < ARRAY_SIZE(doubles); k++) {
        u64 *dp = (u64 *)(buf + 64);
        u64 back, u;
        memset(buf + 64, 0xee, 48);
        dp[0] = doubles[k];
        u8 *b = buf + 64;
        __asm__ volatile("lfd 1,0(%2)\n\tstfs 1,8(%2)\n\tstfiwx 1,%2,%3\n\t"
                         "lfdu 2,0(%1)\n\tstfdx 2,%2,%4\n\tlfdx 3,%2,%4\n\tstfsu 3,24(%1)\n\t"
                         "ld %0,16(%2)"
                         : "=&r"(back), "+b"(b)
                         : "b"(buf + 64), "r"(12UL), "r"(16UL)
                         : "fr1", "fr2", "fr3", "memory");
        u = (u64)(b - (buf + 64));
        out("stfs");
        kh("", doubles[k]);
        dump("mem", buf + 64, 32);
        kh("ra+", u);
        kh("", back);
        nl();
    }
    /* lfdp/stfdp: an even/odd FPR pair. */
    {
        u64 *dp = (u64 *)(buf + 64);
        dp[0] = 0x1111111111111111;
        dp[1] = 0x2222222222222222;
        __asm__ volatile("lfdp 6,0(%0)\n\tstfdp 6,16(%0)" : : "b"(dp) : "fr6", "fr7", "memory");
        dump("lfdp/stfdp", buf + 80, 16);
        nl();
    }
}

static void cache(void)
{
    /* dcbz zeroes one cache block (128 bytes on POWER9) containing the address. */
    memset(buf, 0xff, sizeof(buf));
    __asm__ volatile("dcbz %0,%1" : : "b"(buf + 128), "r"(77UL) : "memory");
    int first = -1, last = -1;
    for (int i = 0; i < (int)sizeof(buf); i++)
        if (buf[i] == 0) {
            if (first < 0)
                first = i;
            last = i;
        }
    kh("dcbz zeroed", first);
    kh("..", last);
    nl();
    /* Cache hints must be no-ops. */
    __asm__ volatile("dcbt 0,%0\n\tdcbtst 0,%0\n\tdcbf 0,%0\n\tdcbst 0,%0\n\ticbi 0,%0\n\tsync\n\t"
                     "lwsync\n\teieio\n\tisync"
                     : : "b"(buf) : "memory");
    out("hints ok");
    nl();
}

#ifdef __BIG_ENDIAN__
/* String and multiple: big-endian only (they take an alignment interrupt in LE mode). */
static void string(void)
{
    u64 r[4];
    fill();
    __asm__ volatile("lswi 5,%4,7\n\tmr %0,5\n\tmr %1,6" : "=&r"(r[0]), "=&r"(r[1]), "=r"(r[2]),
                     "=r"(r[3]) : "b"(buf + 65) : "r5", "r6", "memory");
    out("lswi 7");
    kh("", r[0]);
    kh("", r[1]);
    nl();
    for (int n = 0; n <= 9; n += 3) {
        u64 a = 0x5555, b = 0x6666, c = 0x7777;
        __asm__ volatile("mtxer %3\n\tli 8,1\n\tli 9,2\n\tli 10,3\n\tlswx 8,%4,%5\n\t"
                         "mr %0,8\n\tmr %1,9\n\tmr %2,10"
                         : "+&r"(a), "+&r"(b), "+&r"(c)
                         : "r"((u64)n), "b"(buf + 64), "r"(3UL)
                         : "r8", "r9", "r10", "xer", "memory");
        out("lswx");
        kh("n=", n);
        kh("", a);
        kh("", b);
        kh("", c);
        nl();
        fill();
        __asm__ volatile("mtxer %0\n\tlis 8,0x0102\n\tori 8,8,0x0304\n\tlis 9,0x0506\n\t"
                         "ori 9,9,0x0708\n\tlis 10,0x090a\n\tstswx 8,%1,%2"
                         : : "r"((u64)n), "b"(buf + 64), "r"(1UL) : "r8", "r9", "r10", "xer", "memory");
        out("stswx");
        kh("n=", n);
        dump("mem", buf + 64, 16);
        nl();
    }
    fill();
    __asm__ volatile("lis 8,0x0102\n\tori 8,8,0x0304\n\tlis 9,0x0506\n\tstswi 8,%0,6"
                     : : "b"(buf + 67) : "r8", "r9", "memory");
    dump("stswi 6", buf + 64, 16);
    nl();
    /* lmw/stmw: r28..r31. */
    {
        u64 v[4];
        fill();
        __asm__ volatile("lmw 28,4(%4)\n\tmr %0,28\n\tmr %1,29\n\tmr %2,30\n\tmr %3,31\n\t"
                         "stmw 28,64(%4)"
                         : "=&r"(v[0]), "=&r"(v[1]), "=&r"(v[2]), "=&r"(v[3])
                         : "b"(buf + 64)
                         : "r28", "r29", "r30", "r31", "memory");
        out("lmw");
        for (int i = 0; i < 4; i++)
            kh("", v[i]);
        dump("stmw", buf + 128, 16);
        nl();
    }
}
#endif

int main(void)
{
    loads();
    stores();
    quad();
    r_lbarx();
    r_lharx();
    r_lwarx();
    r_ldarx();
    resv_q();
    fp();
    cache();
#ifdef __BIG_ENDIAN__
    string();
#endif
    return 0;
}
