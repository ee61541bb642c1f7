/* hostile: a guest that tries to make lpar grow without bound (crates/lpar/tests/hostile.rs checks
 * lpar's peak RSS and stderr size). The mode is the kernel command line (-append):
 *   pages      runs one instruction (a trap) on every 4 KiB page from 16 MiB to the end of RAM;
 *   pages-alt  the same, each page once big-endian and once little-endian (two decodings);
 *   illegal    executes ILLEGAL_WORDS distinct illegal instruction words, one after another;
 *   hcalls     makes HCALLS hypercalls, each with a number lpar does not know.
 * Each run prints one line with its count and powers off. */
#include "rt.h"

#define MSR_LE (1ul << 0)
#define TRAP 0x7fe00008u /* tw 31,0,0 */
#define PAGE 4096ul
#define FIRST_PAGE (16ul << 20)
#define ILLEGAL_BASE (16ul << 20)
#define ILLEGAL_WORDS 1000000ul
#define HCALLS 2000000ul

static u64 ram_end;
/* Where a program interrupt resumes: set by run_at, taken by handle_interrupt. */
static volatile u64 resume_at;
static volatile u64 traps, illegals;

static u32 swab32(u32 v)
{
    return v >> 24 | (v >> 8 & 0xff00) | (v << 8 & 0xff0000) | v << 24;
}

/* Starts executing at `pc` in the byte order `le` (rfid); a program interrupt there comes back
 * through handle_interrupt to label 1, with every register as it was. */
static void run_at(u64 pc, int le)
{
    u64 msr = mfmsr_() | (le ? MSR_LE : 0);
    __asm__ volatile("lis %%r9, 1f@ha\n\t"
                     "addi %%r9, %%r9, 1f@l\n\t"
                     "std %%r9, 0(%2)\n\t"
                     "mtsrr0 %0\n\t"
                     "mtsrr1 %1\n\t"
                     "rfid\n"
                     "1:"
                     :
                     : "r"(pc), "r"(msr), "r"(&resume_at)
                     : "r9", "memory");
}

void handle_interrupt(struct regs *r, u64 vec)
{
    if (vec != 0x700) {
        print("unexpected interrupt %lx at %lx (srr1 %lx)\n", vec, r->srr0, r->srr1);
        os_term("hostile: unexpected interrupt");
    }
    /* SRR1 bit 46 (trap) or 44 (illegal). */
    if (r->srr1 & (1ul << (63 - 46)))
        traps++;
    else
        illegals++;
    r->srr0 = resume_at;
    r->srr1 &= ~MSR_LE;
}

static void pages(int both)
{
    u64 n = 0;
    for (u64 p = FIRST_PAGE; p < ram_end; p += PAGE) {
        *(volatile u32 *)p = TRAP;
        run_at(p, 0);
        n++;
        if (both) {
            /* The stale big-endian decoding of this page is left in place (no icbi). */
            *(volatile u32 *)p = swab32(TRAP);
            run_at(p, 1);
            n++;
        }
    }
    print("pages: %lu runs, %lu traps\n", n, traps);
}

static void illegal(void)
{
    volatile u32 *w = (volatile u32 *)ILLEGAL_BASE;
    /* Primary opcode 0 is reserved: words 1..N are distinct illegal instructions. */
    for (u64 i = 0; i < ILLEGAL_WORDS; i++)
        w[i] = (u32)(i + 1);
    for (u64 i = 0; i < ILLEGAL_WORDS; i++)
        run_at(ILLEGAL_BASE + 4 * i, 0);
    print("illegal: %lu words, %lu program interrupts\n", ILLEGAL_WORDS, illegals);
}

static void hcalls(void)
{
    u64 unknown = 0;
    for (u64 i = 0; i < HCALLS; i++)
        if (hcall((long)(0x100000 + 4 * i), 0, 0, 0, 0, 0, 0) == -2) /* H_FUNCTION */
            unknown++;
    print("hcalls: %lu made, %lu H_FUNCTION\n", HCALLS, unknown);
}

int main(void)
{
    char mode[32];
    u32 reg[4];
    u32 chosen = of_finddevice("/chosen");
    s32 len = of_getprop(chosen, "bootargs", mode, sizeof mode - 1);
    if (len <= 0)
        os_term("hostile: no mode in bootargs");
    mode[len] = 0;
    if (of_getprop(of_finddevice("/memory@0"), "reg", reg, sizeof reg) != sizeof reg)
        os_term("hostile: no /memory@0 reg");
    ram_end = (u64)reg[2] << 32 | reg[3];
    install_all_vectors();
    if (rtas_init() != 0)
        os_term("hostile: no RTAS");
    if (!memcmp(mode, "pages-alt", 10))
        pages(1);
    else if (!memcmp(mode, "pages", 6))
        pages(0);
    else if (!memcmp(mode, "illegal", 8))
        illegal();
    else if (!memcmp(mode, "hcalls", 7))
        hcalls();
    else
        os_term("hostile: unknown mode");
    return 0;
}
