/* Shared scaffolding of the fixed-point programs: each instruction runs with XER and CR preset and
 * RT preset (for instructions that read it); RT, XER and CR are printed after it.
 * Operands: %[t] RT (in/out), %[a] %[b] %[d] three sources (never r0, so RA|0 forms read them). */
#ifndef FIXED_H
#define FIXED_H
#include "rt.h"

struct ent {
    const char *name;
    void (*fn)(const u64 *in, u64 *o);
};

/* in: a, b, d, t, xer, cr; o: t, xer, cr. */
#define INSN(fn, text)                                                                           \
    static void fn(const u64 *in, u64 *o)                                                        \
    {                                                                                            \
        u64 t = in[3], x, c;                                                                     \
        __asm__ volatile("mtxer %[xi]\n\tmtcrf 0xff,%[ci]\n\t" text "\n\tmfxer %[x]\n\tmfcr %[c]" \
                         : [t] "+&b"(t), [x] "=&r"(x), [c] "=&r"(c)                              \
                         : [a] "b"(in[0]), [b] "b"(in[1]), [d] "b"(in[2]), [xi] "r"(in[4]),      \
                           [ci] "r"(in[5])                                                       \
                         : "cr0", "cr1", "cr2", "cr3", "cr4", "cr5", "cr6", "cr7", "xer");       \
        o[0] = t;                                                                                \
        o[1] = x;                                                                                \
        o[2] = c;                                                                                \
    }

#define DEF(n, s) INSN(f_##n, s)
#define ENT(n, s) {s, f_##n},

/* The four OE/Rc forms of an XO-form instruction, and the two Rc forms. */
#define XO4(X, n, ops)                                                                           \
    X(n, #n " " ops)                                                                             \
    X(n##_, #n ". " ops)                                                                         \
    X(n##o, #n "o " ops)                                                                         \
    X(n##o_, #n "o. " ops)
#define RC2(X, n, ops)                                                                           \
    X(n, #n " " ops)                                                                             \
    X(n##_, #n ". " ops)

/* XER states: clear, and SO OV CA OV32 CA32 all set; CR preset to match. */
static const u64 xers[] = {0, 0xe00c0000};
static const u64 crs[] = {0x12345678, 0xedcba987};

/* XER bits that exist (SO OV CA OV32 CA32, byte count). mtxer of reserved bits: whether they
 * read back is implementation-dependent (QEMU keeps them). */
#define XER_DEFINED 0xe00c007fUL

typedef int (*defined_fn)(const char *name, u64 a, u64 b);

/* Runs `e` over all pairs from vals[0..na) x vals[0..nb), alternating the XER/CR state. Prints
 * "mnemonic a b -> t xer cr" (the d and t inputs derive from the pair). */
static void run_one(const struct ent *e, const u64 *vals, int na, int nb, defined_fn def,
                    u64 tmask, u64 crmask)
{
    for (int i = 0; i < na; i++) {
        for (int j = 0; j < nb; j++) {
            if (def && !def(e->name, vals[i], vals[j]))
                continue;
            int x = (i + j) & 1;
            u64 in[6] = {vals[i], vals[j], vals[(i + 2 * j + 1) % na], vals[(3 * i + j + 5) % na],
                         xers[x], crs[x]};
            u64 o[3];
            e->fn(in, o);
            outname(e->name);
            kh("", in[0]);
            kh("", in[1]);
            out(" ->");
            kh("", o[0] & tmask);
            kh("", e->name[0] == 'm' && e->name[2] == 'x' ? o[1] & XER_DEFINED : o[1]);
            kh("", o[2] & crmask);
            nl();
        }
    }
}

static void run_table(const struct ent *tab, int n, const u64 *vals, int na, int nb)
{
    for (int k = 0; k < n; k++)
        run_one(&tab[k], vals, na, nb, 0, ~0UL, ~0UL);
}

#endif
