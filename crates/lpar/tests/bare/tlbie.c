/* tlbie: a page-table change on one vCPU reaches the other's TLB before the hcall returns.
 *
 * With the hash MMU (the machine's default until a guest registers a radix table), vCPU 0 maps
 * two 4 KiB pages of segment 1 (VSID 0x1234) with H_ENTER: TEST (EA 0x10000000 -> real page OLD)
 * and FLAG (EA 0x10001000 -> real page FLAGPAGE). vCPU 1 turns data translation on and loops
 * reading TEST and FLAG through its TLB, publishing its read count in FLAG. Once it has read
 * TEST many times (so its translation is cached), vCPU 0 remaps TEST to page NEW (H_REMOVE +
 * H_ENTER) and only then sets the flag. vCPU 1's first TEST read after seeing the flag must come
 * from NEW: a TLB entry that survived the H_REMOVE would still read OLD. Then vCPU 0 removes the
 * mapping for good, and vCPU 1's next read of TEST must fault (data storage interrupt, DAR TEST).
 * (A read between the H_REMOVE and the H_ENTER of the remap faults too; it is retried.) */
#include "rt.h"

#define MSR_DR (1ul << 4)
#define VSID 0x1234ul
#define TEST_EA 0x10000000ul
#define OLD 0x800000ul
#define NEW 0x801000ul
#define FLAGPAGE 0x802000ul
/* FLAGPAGE doublewords: 0 the flag, 1 the read count, 2 the TEST value read after the flag. */
#define FLAG_WORD(i) ((volatile u64 *)(FLAGPAGE + 8 * (i)))

u8 tlbie_stack[1 << 14] __attribute__((aligned(16)));
static volatile u64 faults, fault_dar, reader_done, final_unmap, remap_faults;
static u64 hash_mask;

/* start-cpu enters here in real mode: a stack, the TOC, reader_main. */
__asm__("    .text\n"
        "    .globl tlbie_entry\n"
        "tlbie_entry:\n"
        "    lis 2, .TOC.@ha\n"
        "    addi 2, 2, .TOC.@l\n"
        "    lis 1, tlbie_stack@ha\n"
        "    addi 1, 1, tlbie_stack@l\n"
        "    addi 1, 1, 0x3f80\n"
        "    li 0, 0\n"
        "    stdu 0, -112(1)\n"
        "    bl reader_main\n"
        "    nop\n"
        "1:  b 1b\n");
extern char tlbie_entry[];

static u64 ptex_of(u64 ea)
{
    u64 hash = VSID ^ ((ea & 0x0fffffff) >> 12);
    return (hash & hash_mask) * 8;
}

/* Enters a 4 KiB read/write (PP = 2), coherent (WIMG = M) mapping ea -> ra of segment VSID (256M segment: AVPN is
 * VA >> 23 from bit 7, V = 1); returns the slot or -1. */
static long enter(u64 ea, u64 ra)
{
    u64 ret[4];
    u64 pteh = ((VSID << 28) >> 23) << 7 | 1;
    long rc = hcall_ret(ret, H_ENTER, 0, (long)ptex_of(ea), (long)pteh, (long)(ra | 0x10 | 2), 0);
    return rc == 0 ? (long)ret[0] : -1;
}

void handle_interrupt(struct regs *r, u64 vec)
{
    if (vec == 0x300 && mfpir() == 1) {
        u64 dar;
        __asm__ volatile("mfspr %0,19" : "=r"(dar));
        if (!final_unmap) {
            /* TEST was between H_REMOVE and H_ENTER: retry the load. */
            remap_faults++;
            return;
        }
        faults++;
        fault_dar = dar;
        /* Leave the translated loop: resume at the label in r5, data translation off. */
        r->srr0 = r->gpr[5];
        r->srr1 &= ~MSR_DR;
        return;
    }
    print("unexpected interrupt %lx on vCPU %lu at %lx (srr1 %lx)\n", vec, mfpir(), r->srr0,
          r->srr1);
    os_term("tlbie: unexpected interrupt");
}

/* vCPU 1: the reader. Its translated loop touches only TEST and FLAG (no stack). */
void reader_main(void)
{
    /* slbmte: RS = VSID << 12 (Ks = Kp = 0), RB = ESID 1 | V | entry 0. */
    u64 rs = VSID << 12, rb = TEST_EA | (1ul << 27);
    __asm__ volatile("slbmte %0,%1; isync" : : "r"(rs), "r"(rb) : "memory");
    u64 msr = mfmsr_() | MSR_DR;
    __asm__ volatile("    lis 5, 3f@ha\n"
                     "    addi 5, 5, 3f@l\n" /* where a fault resumes */
                     "    lis 9, 1f@ha\n"
                     "    addi 9, 9, 1f@l\n"
                     "    mtsrr0 9\n"
                     "    mtsrr1 %0\n"
                     "    lis 6, 0x1000\n"     /* TEST */
                     "    addi 8, 6, 0x1000\n" /* FLAG */
                     "    li 7, 0\n"
                     "    rfid\n"
                     "1:  ld 11, 0(6)\n"
                     "    addi 7, 7, 1\n"
                     "    std 7, 8(8)\n"
                     "    ld 10, 0(8)\n"
                     "    cmpdi 10, 0\n"
                     "    beq 1b\n"
                     "    ld 11, 0(6)\n"
                     "    std 11, 16(8)\n"
                     "4:  ld 11, 0(6)\n" /* until the unmapping makes it fault */
                     "    b 4b\n"
                     "3:  nop\n"
                     :
                     : "r"(msr)
                     : "r5", "r6", "r7", "r8", "r9", "r10", "r11", "cr0", "memory");
    reader_done = 1;
    for (;;)
        ;
}

static int wait_until(volatile u64 *v, u64 at_least)
{
    u64 t0 = mftb();
    while (*v < at_least)
        if (mftb() - t0 > 30 * TB_PER_SEC)
            return 0;
    return 1;
}

int main(void)
{
    install_all_vectors();
    if (rtas_init() != 0)
        os_term("tlbie: no RTAS");
    u32 pft[2];
    if (of_getprop(of_finddevice("/cpus/PowerPC,POWER9@0"), "ibm,pft-size", pft, sizeof pft) !=
        sizeof pft)
        os_term("tlbie: no ibm,pft-size");
    hash_mask = (1ul << (pft[1] - 7)) - 1; /* 128-byte groups */
    *(volatile u64 *)OLD = 0x01d01d;
    *(volatile u64 *)NEW = 0x0e30e3;
    memset((void *)FLAGPAGE, 0, 4096);
    long test = enter(TEST_EA, OLD), flag = enter(TEST_EA + 0x1000, FLAGPAGE);
    if (test < 0 || flag < 0)
        os_term("tlbie: H_ENTER failed");
    u32 start = rtas_token("start-cpu");
    if (rtas_call(start, 3, 1, 0, 1, (u32)(u64)tlbie_entry, 0) != 0)
        os_term("tlbie: start-cpu failed");
    /* vCPU 1 has read TEST through its TLB many times. */
    if (!wait_until(FLAG_WORD(1), 10000))
        os_term("tlbie: the reader does not read");
    long removed = hcall(H_REMOVE, 0, test, 0, 0, 0, 0);
    long moved = enter(TEST_EA, NEW);
    *FLAG_WORD(0) = 1;
    if (!wait_until(FLAG_WORD(2), 1))
        os_term("tlbie: the reader did not see the flag");
    u64 v = *FLAG_WORD(2);
    print("remap: H_REMOVE %ld, H_ENTER %s, read after the flag %s\n", removed,
          moved >= 0 ? "ok" : "failed",
          v == 0x0e30e3 ? "NEW ok" : (v == 0x01d01d ? "OLD: stale translation" : "other"));
    final_unmap = 1;
    long gone = hcall(H_REMOVE, 0, moved, 0, 0, 0, 0);
    int done = wait_until(&reader_done, 1);
    print("unmap: H_REMOVE %ld, reader faulted %s at %s\n", gone, done && faults == 1 ? "ok" : "BAD",
          fault_dar == TEST_EA ? "TEST ok" : "wrong address");
    return 0;
}
