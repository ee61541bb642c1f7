/* Branches: bc/bclr/bcctr over every BO class (with hint bits), several BI bits and CR/CTR
 * values, printing whether each was taken and CTR afterwards; link forms (LR is printed relative to
 * the expected return address, so the output does not depend on code placement); loops; b/bl. */
#include "rt.h"

#define CRCLOB "cr0", "cr1", "cr2", "cr3", "cr4", "cr5", "cr6", "cr7"
/* The branch-hint BO encodings are only accepted by the assembler in POWER4+ mode. */
#define P9(s) ".machine push\n\t.machine power9\n\t" s "\n\t.machine pop"

/* bc: taken? and CTR after. */
#define BC(bo, bi)                                                                               \
    static u64 bc_##bo##_##bi(u64 ctr, u64 cr, u64 *co)                                          \
    {                                                                                            \
        u64 t, c;                                                                                \
        __asm__ volatile(P9("mtctr %2\n\tmtcrf 0xff,%3\n\tli %0,1\n\tbc " #bo "," #bi ",1f\n\t"  \
                            "li %0,0\n1:\tmfctr %1")                                             \
                         : "=&r"(t), "=&r"(c) : "r"(ctr), "r"(cr) : "ctr", CRCLOB);             \
        *co = c;                                                                                 \
        return t;                                                                                \
    }
/* bclr: the target (the instruction after `li %0,0`) is put in LR first. */
#define BCLR(bo, bi)                                                                             \
    static u64 bclr_##bo##_##bi(u64 ctr, u64 cr, u64 *co)                                        \
    {                                                                                            \
        u64 t, c;                                                                                \
        __asm__ volatile(P9("mtctr %2\n\tmtcrf 0xff,%3\n\tli %0,1\n\tbcl 20,31,0f\n0:\tmflr %1\n\t" \
                            "addi %1,%1,20\n\tmtlr %1\n\tbclr " #bo "," #bi "\n\tli %0,0\n\t"    \
                            "mfctr %1")                                                          \
                         : "=&r"(t), "=&r"(c) : "r"(ctr), "r"(cr) : "ctr", "lr", CRCLOB);       \
        *co = c;                                                                                 \
        return t;                                                                                \
    }
/* bcctr: the target is put in CTR (so only the BO values that do not decrement CTR). */
#define BCCTR(bo, bi)                                                                            \
    static u64 bcctr_##bo##_##bi(u64 ctr, u64 cr, u64 *co)                                       \
    {                                                                                            \
        u64 t, c;                                                                                \
        (void)ctr;                                                                               \
        __asm__ volatile(P9("mtcrf 0xff,%2\n\tli %0,1\n\tbcl 20,31,0f\n0:\tmflr %1\n\t"          \
                            "addi %1,%1,20\n\tmtctr %1\n\tbcctr " #bo "," #bi "\n\tli %0,0\n\t"  \
                            "nop")                                                               \
                         : "=&r"(t), "=&r"(c) : "r"(cr) : "ctr", "lr", CRCLOB);                  \
        *co = 0;                                                                                 \
        return t;                                                                                \
    }

/* Every BO the ISA defines (z bits 0), with the branch-prediction hint variants. */
#define BOS(X, bi)                                                                               \
    X(0, bi) X(2, bi) X(4, bi) X(6, bi) X(7, bi) X(8, bi) X(10, bi) X(12, bi) X(14, bi)          \
    X(15, bi) X(16, bi) X(18, bi) X(20, bi) X(24, bi) X(25, bi) X(26, bi) X(27, bi)
#define BOS_NODEC(X, bi) X(4, bi) X(6, bi) X(7, bi) X(12, bi) X(14, bi) X(15, bi) X(20, bi)

BOS(BC, 0) BOS(BC, 6) BOS(BC, 31)
BOS(BCLR, 0) BOS(BCLR, 6) BOS(BCLR, 31)
BOS_NODEC(BCCTR, 0) BOS_NODEC(BCCTR, 6) BOS_NODEC(BCCTR, 31)

struct br {
    const char *name;
    u64 (*f)(u64, u64, u64 *);
};
#define EBC(bo, bi) {"bc " #bo "," #bi, bc_##bo##_##bi},
#define EBCLR(bo, bi) {"bclr " #bo "," #bi, bclr_##bo##_##bi},
#define EBCCTR(bo, bi) {"bcctr " #bo "," #bi, bcctr_##bo##_##bi},
static const struct br brs[] = {
    BOS(EBC, 0) BOS(EBC, 6) BOS(EBC, 31)
    BOS(EBCLR, 0) BOS(EBCLR, 6) BOS(EBCLR, 31)
    BOS_NODEC(EBCCTR, 0) BOS_NODEC(EBCCTR, 6) BOS_NODEC(EBCCTR, 31)
};

static const u64 ctrs[] = {0, 1, 2, 0x100000000, 0xffffffffffffffff};
static const u64 crs[] = {0, 0x80000000, 0x02000001, 0xffffffff};

static void links(void)
{
    u64 a, b;
    /* bcl 20,31 is the "get the current address" idiom; bl/blrl/bctrl set LR to the next
     * instruction. Each prints LR minus the expected address (0 when right). */
    __asm__ volatile("bcl 20,31,0f\n0:\tmflr %0\n\tbl 1f\n1:\tmflr %1\n\tsubf %1,%0,%1"
                     : "=&r"(a), "=&r"(b) : : "lr");
    kh("bl: lr-expected", b - 8);
    __asm__ volatile("bcl 20,31,0f\n0:\tmflr %0\n\taddi %0,%0,16\n\tmtlr %0\n\tblrl\n\t"
                     "mflr %1\n\tsubf %1,%0,%1"
                     : "=&r"(a), "=&r"(b) : : "lr");
    kh("blrl", b);
    __asm__ volatile("bcl 20,31,0f\n0:\tmflr %0\n\taddi %0,%0,16\n\tmtctr %0\n\tbctrl\n\t"
                     "mflr %1\n\tsubf %1,%0,%1"
                     : "=&r"(a), "=&r"(b) : : "lr", "ctr");
    kh("bctrl", b);
    /* A conditional branch-and-link that is not taken still sets LR. */
    __asm__ volatile("li %1,0\n\tcmpdi %1,0\n\tbcl 4,2,1f\n0:\tmflr %0\n\tbcl 20,31,1f\n"
                     "1:\tmflr %1\n\tsubf %1,%0,%1"
                     : "=&r"(a), "=&r"(b) : : "lr", "cr0");
    kh("bcl not taken", b);
    /* Backward and forward unconditional branches. */
    __asm__ volatile("li %0,0\n\tb 2f\n1:\taddi %0,%0,1\n\tb 3f\n2:\taddi %0,%0,16\n\tb 1b\n"
                     "3:" : "=&r"(a));
    kh("b fwd/back", a);
    nl();
}

static void loops(void)
{
    u64 n, c;
    /* bdnz: 7 iterations. */
    __asm__ volatile("li %0,0\n\tli %1,7\n\tmtctr %1\n1:\taddi %0,%0,1\n\tbdnz 1b\n\tmfctr %1"
                     : "=&r"(n), "=&r"(c) : : "ctr");
    kh("bdnz iterations", n);
    kh("ctr", c);
    /* bdz: CTR is decremented before the test, so CTR = 1 exits after one iteration. */
    __asm__ volatile("li %0,0\n\tli %1,1\n\tmtctr %1\n1:\taddi %0,%0,1\n\tbdz 2f\n\tb 1b\n"
                     "2:\tmfctr %1"
                     : "=&r"(n), "=&r"(c) : : "ctr");
    kh("bdz iterations", n);
    kh("ctr", c);
    /* bdnzt: count down while CR0[EQ]. */
    __asm__ volatile("li %0,0\n\tli %1,10\n\tmtctr %1\n1:\taddi %0,%0,1\n\tcmpdi %0,4\n\t"
                     "bdnzf 2,1b\n\tmfctr %1"
                     : "=&r"(n), "=&r"(c) : : "ctr", "cr0");
    kh("bdnzf iterations", n);
    kh("ctr", c);
    nl();
}

static void spr(void)
{
    u64 v[3];
    __asm__ volatile("mtlr %3\n\tmtctr %4\n\tmflr %0\n\tmfctr %1\n\tmfspr %2,1\n\tmtspr 1,%2"
                     : "=&r"(v[0]), "=&r"(v[1]), "=&r"(v[2])
                     : "r"(0xfedcba9876543210UL), "r"(0x8000000000000001UL)
                     : "lr", "ctr", "xer");
    kh("lr", v[0]);
    kh("ctr", v[1]);
    kh("xer", v[2]);
    nl();
}

int main(void)
{
    for (int k = 0; k < ARRAY_SIZE(brs); k++) {
        out(brs[k].name);
        for (int c = 0; c < ARRAY_SIZE(ctrs); c++)
            for (int r = 0; r < ARRAY_SIZE(crs); r++) {
                u64 co;
                u64 t = brs[k].f(ctrs[c], crs[r], &co);
                outc(' ');
                outc(t ? 'T' : 'n');
                outh(co);
            }
        nl();
    }
    links();
    loops();
    spr();
    return 0;
}
