/* VSX: the vector and scalar loads/stores (lxv/stxv, lxvx, lxvd2x, lxvw4x, lxvh8x, lxvb16x,
 * lxvl/lxvll with every length class, lxvdsx/lxvwsx splats, the scalar forms incl. single-precision
 * conversion on load/store) in both byte orders; xxperm/xxpermr; conversions between double,
 * single, half and integers with the FPSCR; GPR<->VSR moves. Registers are printed in ISA element
 * order. For scalar loads only doubleword 0 is printed: the older ones (lxsdx, lxsspx, lxsiwax,
 * lxsiwzx) leave doubleword 1 undefined, and for the ISA 3.0 ones (lxsd, lxssp, lxsibzx, lxsihzx)
 * QEMU 7.2 leaves it unchanged while the ISA text we have sets it to 0 (lpar does).
 * FPSCR[FR] is not compared: QEMU never sets it. */
#include "rt.h"

static u8 mem[96] __attribute__((aligned(16)));

static void fillm(void)
{
    for (int i = 0; i < (int)sizeof(mem); i++)
        mem[i] = (u8)(0x40 + i * 5);
}

static const v128 ones = {{0xffffffffffffffff, 0xffffffffffffffff}};
static const v128 pat = {{0x0011223344556677, 0x8899aabbccddeeff}};

/* Load into vs40 (also VR8) / vs8 from p (+ index 0), print; `x` picks the register: vs8 or vs40. */
#define LD(fn, text)                                                                             \
    static void fn(u8 *p, v128 *r)                                                               \
    {                                                                                            \
        __asm__ volatile("lxvd2x 8,0,%2\n\tlxvd2x 40,0,%2\n\tli 9,0\n\t" text "\n\t"             \
                         "stxvd2x 8,0,%0\n\tli 9,16\n\tstxvd2x 40,9,%0"                          \
                         : : "b"(r), "b"(p), "b"(&ones) : "r9", "vs8", "v8", "memory");          \
    }
/* Store vs8 / vs40 (preset to pat) to p. */
#define ST(fn, text)                                                                             \
    static void fn(u8 *p, v128 *r)                                                               \
    {                                                                                            \
        (void)r;                                                                                 \
        __asm__ volatile("lxvd2x 8,0,%1\n\tlxvd2x 40,0,%1\n\tli 9,0\n\t" text                    \
                         : : "b"(p), "b"(&pat) : "r9", "vs8", "v8", "memory");                   \
    }
#define DEFL(n, s, k) LD(f_##n, s)
#define DEFS(n, s, k) ST(f_##n, s)
#define ENT(n, s, k) {s, f_##n, k},

/* k: 0 vector (both doublewords printed), 1 scalar (dw0 only), 2 ISA 3.0 scalar (dw1 is 0). */
#define LOADS(X)                                                                                 \
    X(lxv, "lxv 8,0(%1)", 0)                                                                     \
    X(lxv40, "lxv 40,16(%1)", 0)                                                                 \
    X(lxvx, "lxvx 40,%1,9", 0)                                                                   \
    X(lxvd2x, "lxvd2x 8,%1,9", 0)                                                                \
    X(lxvw4x, "lxvw4x 40,%1,9", 0)                                                               \
    X(lxvh8x, "lxvh8x 8,%1,9", 0)                                                                \
    X(lxvb16x, "lxvb16x 40,%1,9", 0)                                                             \
    X(lxvdsx, "lxvdsx 8,%1,9", 0)                                                                \
    X(lxvwsx, "lxvwsx 40,%1,9", 0)                                                               \
    X(lxsd, "lxsd 8,8(%1)", 2)                                                                   \
    X(lxssp, "lxssp 8,4(%1)", 2)                                                                 \
    X(lxsibzx, "lxsibzx 40,%1,9", 2)                                                             \
    X(lxsihzx, "lxsihzx 8,%1,9", 2)                                                              \
    X(lxsdx, "lxsdx 40,%1,9", 1)                                                                 \
    X(lxsspx, "lxsspx 8,%1,9", 1)                                                                \
    X(lxsiwax, "lxsiwax 40,%1,9", 1)                                                             \
    X(lxsiwzx, "lxsiwzx 8,%1,9", 1)
#define STORES(X)                                                                                \
    X(stxv, "stxv 8,0(%0)", 0)                                                                   \
    X(stxv40, "stxv 40,16(%0)", 0)                                                               \
    X(stxvx, "stxvx 40,%0,9", 0)                                                                 \
    X(stxvd2x, "stxvd2x 8,%0,9", 0)                                                              \
    X(stxvw4x, "stxvw4x 40,%0,9", 0)                                                             \
    X(stxvh8x, "stxvh8x 8,%0,9", 0)                                                              \
    X(stxvb16x, "stxvb16x 40,%0,9", 0)                                                           \
    X(stxsd, "stxsd 8,8(%0)", 0)                                                                 \
    X(stxssp, "stxssp 8,4(%0)", 0)                                                               \
    X(stxsibx, "stxsibx 40,%0,9", 0)                                                             \
    X(stxsihx, "stxsihx 8,%0,9", 0)                                                              \
    X(stxsdx, "stxsdx 40,%0,9", 0)                                                               \
    X(stxsspx, "stxsspx 8,%0,9", 0)                                                              \
    X(stxsiwx, "stxsiwx 40,%0,9", 0)

LOADS(DEFL)
STORES(DEFS)
struct ent {
    const char *name;
    void (*fn)(u8 *, v128 *);
    int kind;
};
static const struct ent loads[] = {LOADS(ENT)};
static const struct ent stores[] = {STORES(ENT)};

static void ldst(void)
{
    static const int offs[] = {0, 1, 4, 8, 13};
    for (int k = 0; k < ARRAY_SIZE(loads); k++)
        for (int o = 0; o < ARRAY_SIZE(offs); o++) {
            v128 r[2];
            fillm();
            loads[k].fn(mem + 16 + offs[o], r);
            outname(loads[k].name);
            kh(" off", offs[o]);
            /* The instruction's target is whichever of vs8/vs40 it names. */
            const char *s = loads[k].name;
            while (*s && *s != ' ')
                s++;
            const v128 *t = (s[1] == '4') ? &r[1] : &r[0];
            if (loads[k].kind != 0)
                kh("dw0=", t->d[0]);
            else
                kvv("", t);
            nl();
        }
    for (int k = 0; k < ARRAY_SIZE(stores); k++)
        for (int o = 0; o < ARRAY_SIZE(offs); o++) {
            fillm();
            stores[k].fn(mem + 16 + offs[o], 0);
            outname(stores[k].name);
            kh(" off", offs[o]);
            dump("mem", mem + 16, 40);
            nl();
        }
}

/* Variable-length loads/stores: the length is RB[0:7]. */
static void lengths(void)
{
    static const u64 lens[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 255};
    for (int i = 0; i < ARRAY_SIZE(lens); i++) {
        v128 r[2];
        u64 rb = lens[i] << 56;
        fillm();
        __asm__ volatile("lxvd2x 8,0,%3\n\tlxvd2x 9,0,%3\n\tlxvl 8,%1,%2\n\tlxvll 9,%1,%2\n\t"
                         "stxvd2x 8,0,%0\n\tli 9,16\n\tstxvd2x 9,9,%0"
                         : : "b"(r), "b"(mem + 16), "r"(rb), "b"(&ones)
                         : "r9", "vs8", "vs9", "memory");
        kh("len", lens[i]);
        kvv("lxvl", &r[0]);
        kvv("lxvll", &r[1]);
        nl();
        fillm();
        __asm__ volatile("lxvd2x 8,0,%2\n\tstxvl 8,%0,%1" : : "b"(mem + 16), "r"(rb), "b"(&pat)
                         : "vs8", "memory");
        dump("stxvl", mem + 16, 24);
        fillm();
        __asm__ volatile("lxvd2x 8,0,%2\n\tstxvll 8,%0,%1" : : "b"(mem + 16), "r"(rb), "b"(&pat)
                         : "vs8", "memory");
        dump("stxvll", mem + 16, 24);
        nl();
    }
}

/* Register operations: a,b,c in vs1,vs2 / vs33 (c), FPSCR in; vs3 out, FPSCR out. The asm
 * uses the field offsets: a 0, b 16, c 32, r 48, fpscr 64, fpscr_out 72. */
struct io {
    v128 a, b, c, r;
    u64 fpscr, fpscr_out;
};
#define XOP(fn, text)                                                                            \
    static void fn(struct io *p)                                                                 \
    {                                                                                            \
        __asm__ volatile("lfd 0,64(%0)\n\tmtfsf 0xff,0\n\tlxvd2x 1,0,%0\n\tli 9,16\n\t"          \
                         "lxvd2x 2,9,%0\n\tli 9,32\n\tlxvd2x 33,9,%0\n\tli 9,48\n\t"             \
                         "lxvd2x 3,9,%0\n\t" text "\n\tli 9,48\n\tstxvd2x 3,9,%0\n\t"            \
                         "mffs 0\n\tstfd 0,72(%0)"                                              \
                         : : "b"(p) : "r9", "r10", "vs0", "vs1", "vs2", "vs3", "v1", "cr6", "memory"); \
    }
#define DEFX(n, s) XOP(f_##n, s)
#define ENTX(n, s) {s, f_##n},
#define XOPS(X)                                                                                  \
    X(xxperm, "xxperm 3,1,33")                                                                   \
    X(xxpermr, "xxpermr 3,1,33")                                                                 \
    X(xxpermdi, "xxpermdi 3,1,2,2")                                                              \
    X(xxsldwi, "xxsldwi 3,1,2,3")                                                                \
    X(xxsel, "xxsel 3,1,2,33")                                                                   \
    X(xxbrq, "xxbrq 3,1")                                                                        \
    X(xxextractuw, "xxextractuw 3,1,5")                                                          \
    X(xxinsertw, "xxinsertw 3,1,8")                                                              \
    X(xscvdpsp, "xscvdpsp 3,1")                                                                  \
    X(xscvdpspn, "xscvdpspn 3,1")                                                                \
    X(xscvspdp, "xscvspdp 3,1")                                                                  \
    X(xscvspdpn, "xscvspdpn 3,1")                                                                \
    X(xvcvdpsp, "xvcvdpsp 3,1")                                                                  \
    X(xvcvspdp, "xvcvspdp 3,1")                                                                  \
    X(xscvdpsxds, "xscvdpsxds 3,1")                                                              \
    X(xscvdpuxws, "xscvdpuxws 3,1")                                                              \
    X(xvcvdpsxws, "xvcvdpsxws 3,1")                                                              \
    X(xvcvspuxds, "xvcvspuxds 3,1")                                                              \
    X(xscvsxddp, "xscvsxddp 3,1")                                                                \
    X(xscvuxdsp, "xscvuxdsp 3,1")                                                                \
    X(xvcvsxwdp, "xvcvsxwdp 3,1")                                                                \
    X(xvcvuxwsp, "xvcvuxwsp 3,1")                                                                \
    X(xscvdphp, "xscvdphp 3,1")                                                                  \
    X(xscvhpdp, "xscvhpdp 3,1")                                                                  \
    X(xvcvsphp, "xvcvsphp 3,1")                                                                  \
    X(xvcvhpsp, "xvcvhpsp 3,1")                                                                  \
    X(xsrdpi, "xsrdpi 3,1")                                                                      \
    X(xvrspic, "xvrspic 3,1")                                                                    \
    X(xsmaddadp, "xsmaddadp 3,1,2")                                                              \
    X(xvmsubmsp, "xvmsubmsp 3,1,2")                                                              \
    X(xsmaxcdp, "xsmaxcdp 3,1,2")                                                                \
    X(xsminjdp, "xsminjdp 3,1,2")                                                                \
    X(xvcmpgtdp_, "xvcmpgtdp. 3,1,2")                                                            \
    X(xststdcdp, "xststdcdp 3,1,0x7f")                                                           \
    X(xsiexpdp, "mfvsrd 9,1\n\tmfvsrld 10,2\n\txsiexpdp 3,9,10")
XOPS(DEFX)
struct xent {
    const char *name;
    void (*fn)(struct io *);
};
static const struct xent xops[] = {XOPS(ENTX)};

static const v128 xv[] = {
    {{0x3ff0000000000000, 0x3f80000040490fdb}}, /* 1.0 ; single 1.0, pi */
    {{0x7ff4000000000001, 0x7fc000007f800001}}, /* SNaN ; single QNaN, SNaN */
    {{0x000fffffffffffff, 0x00000001807fffff}}, /* denormal ; single denormals */
    {{0xc1e0000000200000, 0xcf0000004f800000}}, /* -2^31-1 ; -2^31, 2^32 (single) */
    {{0x47efffffe0000001, 0x3c003c007c00fc00}}, /* just above FLT_MAX ; halves 1,1,inf,-inf */
    {{0x4330000000000001, 0x8000000000000000}}, /* 2^52+1 ; -0 */
    {{0x3f1a36e2eb1c432d, 0x7bff03ff00010400}}, /* 1e-4 ; halves max, denormals, min normal */
    {{0x0706050403020100, 0x1f1e1d1c13121110}}, /* permute control */
    {{0xfffffffffffffffe, 0x80000000ffffffff}},
};

static void regs(void)
{
    for (int k = 0; k < ARRAY_SIZE(xops); k++)
        for (int i = 0; i < ARRAY_SIZE(xv); i++)
            for (int rn = 0; rn < 4; rn += 3) {
                struct io io;
                int n = ARRAY_SIZE(xv);
                io.a = xv[i];
                io.b = xv[(i + 1) % n];
                io.c = xv[(i + 7) % n];
                io.r = pat;
                io.fpscr = (u64)rn;
                /* QEMU 7.2 carries the invalid flag of element 0 of xvcvdpsxws/xvcvdpuxws into
                 * element 1 (giving it the NaN result too); not compared. */
                if (xops[k].name[1] == 'v' && xops[k].name[5] == 'p' && xops[k].name[8] == 'w' &&
                    ((io.a.d[0] >> 52) & 0x7ff) == 0x7ff)
                    continue;
                xops[k].fn(&io);
                outname(xops[k].name);
                kh(" rn", rn);
                kh("i", i);
                kvv("r", &io.r);
                /* Conversions to half precision: QEMU 7.2 does not set UX for a tiny inexact
                 * result (the ISA, following IEEE, does); UX is not compared for them. */
                u64 fm = ~(1UL << 18);
                if (xops[k].name[2] == 'c' && xops[k].name[6] == 'h')
                    fm &= ~(1UL << 27);
                kh("fpscr", io.fpscr_out & fm);
                nl();
            }
}

static void moves(void)
{
    for (int i = 0; i < n_edge64; i++) {
        v128 r[5];
        u64 g[3];
        u64 a = edge64[i], b = edge64[(i + 5) % n_edge64];
        __asm__ volatile("mtvsrdd 40,%3,%4\n\tmtvsrws 41,%3\n\tmtvsrwa 42,%3\n\tmtvsrwz 43,%3\n\t"
                         "mtvsrd 44,%4\n\t"
                         "li 9,0\n\tstxvd2x 40,9,%5\n\tli 9,16\n\tstxvd2x 41,9,%5\n\t"
                         "li 9,32\n\tstxvd2x 42,9,%5\n\tli 9,48\n\tstxvd2x 43,9,%5\n\t"
                         "li 9,64\n\tstxvd2x 44,9,%5\n\t"
                         "mfvsrd %0,40\n\tmfvsrld %1,40\n\tmfvsrwz %2,40"
                         : "=&r"(g[0]), "=&r"(g[1]), "=&r"(g[2])
                         : "r"(a), "r"(b), "b"(r)
                         : "r9", "v8", "v9", "v10", "v11", "v12", "memory");
        kh("a", a);
        kh("b", b);
        kvv("mtvsrdd", &r[0]);
        kvv("mtvsrws", &r[1]);
        /* mtvsrwa/mtvsrwz/mtvsrd: doubleword 1 is undefined. */
        kh("mtvsrwa", r[2].d[0]);
        kh("mtvsrwz", r[3].d[0]);
        kh("mtvsrd", r[4].d[0]);
        kh("mfvsrd", g[0]);
        kh("mfvsrld", g[1]);
        kh("mfvsrwz", g[2]);
        nl();
    }
}

int main(void)
{
    ldst();
    lengths();
    regs();
    moves();
    return 0;
}
