/* Fixed-point arithmetic, logical, compare and CR/XER instructions: results with XER (SO OV CA
 * OV32 CA32) and CR effects, over edge operand values. */
#include "fixed.h"

#define TAB3 "%[t],%[a],%[b]"
#define TAB2 "%[t],%[a]"

#define ARITH(X)                                                                                 \
    XO4(X, add, TAB3)                                                                            \
    XO4(X, addc, TAB3)                                                                           \
    XO4(X, adde, TAB3)                                                                           \
    XO4(X, subf, TAB3)                                                                           \
    XO4(X, subfc, TAB3)                                                                          \
    XO4(X, subfe, TAB3)                                                                          \
    XO4(X, neg, TAB2)                                                                            \
    XO4(X, addme, TAB2)                                                                          \
    XO4(X, addze, TAB2)                                                                          \
    XO4(X, subfme, TAB2)                                                                         \
    XO4(X, subfze, TAB2)                                                                         \
    XO4(X, mullw, TAB3)                                                                          \
    XO4(X, mulld, TAB3)                                                                          \
    RC2(X, mulhd, TAB3)                                                                          \
    RC2(X, mulhdu, TAB3)                                                                         \
    XO4(X, divd, TAB3)                                                                           \
    XO4(X, divdu, TAB3)                                                                          \
    X(maddld, "maddld %[t],%[a],%[b],%[d]")                                                      \
    X(maddhd, "maddhd %[t],%[a],%[b],%[d]")                                                      \
    X(maddhdu, "maddhdu %[t],%[a],%[b],%[d]")                                                    \
    X(modsd, "modsd %[t],%[a],%[b]")                                                             \
    X(modud, "modud %[t],%[a],%[b]")                                                             \
    X(addex, "addex %[t],%[a],%[b],0")                                                           \
    X(addi, "addi %[t],%[a],-32768")                                                             \
    X(addis, "addis %[t],%[a],0x7fff")                                                           \
    X(addis_m, "addis %[t],%[a],-1")                                                             \
    X(li, "li %[t],-2")                                                                          \
    X(lis, "lis %[t],-32768")                                                                    \
    X(addic, "addic %[t],%[a],-1")                                                               \
    X(addic_, "addic. %[t],%[a],1")                                                              \
    X(subfic, "subfic %[t],%[a],0")                                                              \
    X(subfic_m, "subfic %[t],%[a],-1")                                                           \
    X(mulli, "mulli %[t],%[a],-7")

#define LOGIC(X)                                                                                 \
    RC2(X, and, TAB3)                                                                            \
    RC2(X, andc, TAB3)                                                                           \
    RC2(X, or, TAB3)                                                                             \
    RC2(X, orc, TAB3)                                                                            \
    RC2(X, xor, TAB3)                                                                            \
    RC2(X, nand, TAB3)                                                                           \
    RC2(X, nor, TAB3)                                                                            \
    RC2(X, eqv, TAB3)                                                                            \
    RC2(X, extsb, TAB2)                                                                          \
    RC2(X, extsh, TAB2)                                                                          \
    RC2(X, extsw, TAB2)                                                                          \
    RC2(X, cntlzw, TAB2)                                                                         \
    RC2(X, cntlzd, TAB2)                                                                         \
    RC2(X, cnttzw, TAB2)                                                                         \
    RC2(X, cnttzd, TAB2)                                                                         \
    X(popcntb, "popcntb %[t],%[a]")                                                              \
    X(popcntw, "popcntw %[t],%[a]")                                                              \
    X(popcntd, "popcntd %[t],%[a]")                                                              \
    X(prtyw, "prtyw %[t],%[a]")                                                                  \
    X(prtyd, "prtyd %[t],%[a]")                                                                  \
    X(cmpb, "cmpb %[t],%[a],%[b]")                                                               \
    X(bpermd, "bpermd %[t],%[a],%[b]")                                                           \
    X(andi_, "andi. %[t],%[a],0x8001")                                                           \
    X(andis_, "andis. %[t],%[a],0x8000")                                                         \
    X(ori, "ori %[t],%[a],0xffff")                                                               \
    X(oris, "oris %[t],%[a],0x8000")                                                             \
    X(xori, "xori %[t],%[a],0x5555")                                                             \
    X(xoris, "xoris %[t],%[a],0xffff")                                                           \
    X(isel, "isel %[t],%[a],%[b],2")                                                             \
    X(isel0, "isel %[t],0,%[b],31")

#define CMP(X)                                                                                   \
    X(cmpw, "cmpw 3,%[a],%[b]")                                                                  \
    X(cmpd, "cmpd 0,%[a],%[b]")                                                                  \
    X(cmplw, "cmplw 7,%[a],%[b]")                                                                \
    X(cmpld, "cmpld 1,%[a],%[b]")                                                                \
    X(cmpwi, "cmpwi 2,%[a],-1")                                                                  \
    X(cmpdi, "cmpdi 5,%[a],0")                                                                   \
    X(cmplwi, "cmplwi 6,%[a],0xffff")                                                            \
    X(cmpldi, "cmpldi 4,%[a],1")                                                                 \
    X(cmprb0, "cmprb 1,0,%[a],%[b]")                                                             \
    X(cmprb1, "cmprb 2,1,%[a],%[b]")                                                             \
    X(cmpeqb, "cmpeqb 3,%[a],%[b]")                                                              \
    X(setb0, "setb %[t],0")                                                                      \
    X(setb7, "setb %[t],7")                                                                      \
    X(mcrxrx, "mcrxrx 4")                                                                        \
    X(mtcrf, "mtcrf 0x81,%[a]")                                                                  \
    X(mtocrf, "mtocrf 0x10,%[a]")                                                                \
    X(mfocrf, "mfocrf %[t],0x02")                                                                \
    X(mcrf, "mcrf 6,1")                                                                          \
    X(crand, "crand 0,5,10")                                                                     \
    X(crnor, "crnor 31,31,31")                                                                   \
    X(crxor, "crxor 4,4,4")                                                                      \
    X(creqv, "creqv 12,13,14")                                                                   \
    X(crorc, "crorc 1,2,3")                                                                      \
    X(crandc, "crandc 30,29,28")                                                                 \
    X(crnand, "crnand 7,8,9")                                                                    \
    X(cror, "cror 15,16,17")                                                                     \
    X(mtxer, "mtxer %[a]")                                                                       \
    X(mfxer, "mfxer %[t]")

ARITH(DEF)
LOGIC(DEF)
CMP(DEF)

static const struct ent arith[] = {ARITH(ENT)};
static const struct ent logic[] = {LOGIC(ENT)};
static const struct ent cmp[] = {CMP(ENT)};

/* 32-bit forms whose high result word the ISA leaves undefined are printed masked: their low
 * words are what both must agree on. */
#define W32(X)                                                                                   \
    RC2(X, mulhw, TAB3)                                                                          \
    RC2(X, mulhwu, TAB3)                                                                         \
    XO4(X, divw, TAB3)                                                                           \
    XO4(X, divwu, TAB3)                                                                          \
    XO4(X, divwe, TAB3)                                                                          \
    XO4(X, divweu, TAB3)                                                                         \
    X(modsw, "modsw %[t],%[a],%[b]")                                                             \
    X(moduw, "moduw %[t],%[a],%[b]")
W32(DEF)
static const struct ent w32[] = {W32(ENT)};

/* Divisions by zero or that overflow leave RT (and CR0 LT/GT/EQ) undefined: only pairs with a
 * representable quotient are run. */
static int w32_defined(const char *name, u64 a, u64 b)
{
    u32 wa = (u32)a, wb = (u32)b;
    if (name[0] == 'm' && name[1] == 'u') /* mulhw */
        return 1;
    if (wb == 0)
        return 0;
    int ext = 0, uns = 0;
    for (const char *p = name; *p && *p != ' '; p++) {
        if (p[0] == 'e' && p[-1] == 'w')
            ext = 1;
        if (p[0] == 'u')
            uns = 1;
    }
    if (name[0] == 'm') /* modsw / moduw */
        return uns || !(wa == 0x80000000 && wb == 0xffffffff);
    if (!ext)
        return uns || !(wa == 0x80000000 && wb == 0xffffffff);
    if (uns)
        return ((u64)wa << 32) / wb <= 0xffffffffUL;
    i64 q;
    i64 da = (i64)((u64)wa << 32);
    i64 db = (i32)wb;
    if (da == (i64)0x8000000000000000 && db == -1)
        return 0;
    q = da / db;
    return q == (i32)q;
}

static int d_defined(const char *name, u64 a, u64 b)
{
    if (name[0] != 'd' && name[0] != 'm')
        return 1;
    if (name[0] == 'm' && name[1] != 'o')
        return 1; /* mul*, madd*: not divisions */
    if (b == 0)
        return 0;
    int uns = 0;
    for (const char *p = name; *p && *p != ' '; p++)
        if (*p == 'u')
            uns = 1;
    return uns || !(a == 0x8000000000000000UL && b == 0xffffffffffffffffUL);
}

int main(void)
{
    for (int k = 0; k < ARRAY_SIZE(arith); k++)
        run_one(&arith[k], edge10, 10, 10, d_defined, ~0UL, ~0UL);
    /* 32-bit forms: RT[0:31] and, for record forms, CR0 LT/GT/EQ are undefined (64-bit mode). */
    for (int k = 0; k < ARRAY_SIZE(w32); k++)
        run_one(&w32[k], edge10, 10, 10, w32_defined, 0xffffffff, 0x1fffffff);
    run_table(logic, ARRAY_SIZE(logic), edge64, n_edge64, 4);
    run_table(cmp, ARRAY_SIZE(cmp), edge10, 10, 10);
    return 0;
}
