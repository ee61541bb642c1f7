/* interrupts: real-mode (no AIL) big-endian interrupt delivery. Copies the vector stub to 0x700
 * (program), 0x900 (decrementer), 0x500 (external) and 0xc00 (system call); runs an illegal
 * instruction and a trap, waits for a decrementer interrupt with MSR[EE] on, idles in H_CEDE
 * until the decrementer, takes an XICS IPI, makes an `sc 0` system call; checks SRR0/SRR1 and
 * the MSR the handlers run with, then powers off. */
#include "rt.h"

#define MSR_SF (1ul << 63)
#define MSR_EE (1ul << 15)
#define MSR_PR (1ul << 14)
#define MSR_ME (1ul << 12)
#define MSR_IR (1ul << 5)
#define MSR_DR (1ul << 4)
#define MSR_LE (1ul << 0)
/* SRR1 bits of a program interrupt (ISA bits 43..46: FP, illegal, privileged, trap). */
#define SRR1_FP (1ul << (63 - 43))
#define SRR1_ILLEGAL (1ul << (63 - 44))
#define SRR1_PRIV (1ul << (63 - 45))
#define SRR1_TRAP (1ul << (63 - 46))

struct seen {
    int count;
    u64 vec, srr0, srr1, msr;
};

static volatile struct seen prog, trp, dec, ext, sys;
static volatile u64 ext_xirr;
static volatile long ext_eoi;

static void record(volatile struct seen *s, struct regs *r, u64 msr)
{
    s->count++;
    s->vec = r->vec;
    s->srr0 = r->srr0;
    s->srr1 = r->srr1;
    s->msr = msr;
}

static void mtdec(u64 v)
{
    __asm__ volatile("mtspr 22,%0" : : "r"(v));
}

static u64 mfdec(void)
{
    u64 v;
    __asm__ volatile("mfspr %0,22" : "=r"(v));
    return v;
}

void handle_interrupt(struct regs *r, u64 vec)
{
    u64 msr = mfmsr_();
    switch (vec) {
    case 0x700:
        record(r->srr1 & SRR1_TRAP ? &trp : &prog, r, msr);
        /* Resume after the illegal instruction or trap. */
        r->srr0 += 4;
        break;
    case 0x500: {
        /* Accept the interrupt, clear the IPI's MFRR, then end it with the XIRR accepted. */
        u64 ret[4];
        record(&ext, r, msr);
        hcall_ret(ret, H_XIRR, 0, 0, 0, 0, 0);
        ext_xirr = ret[0];
        hcall(H_IPI, 0, 0xff, 0, 0, 0, 0);
        ext_eoi = hcall(H_EOI, (long)ret[0], 0, 0, 0, 0, 0);
        break;
    }
    case 0x900:
        record(&dec, r, msr);
        /* The decrementer interrupt stays pending while DEC is negative. */
        mtdec(0x7fffffff);
        break;
    case 0xc00:
        /* SRR0 already points past the sc. */
        record(&sys, r, msr);
        break;
    default:
        print("unexpected interrupt %lx at %lx (srr1 %lx)\n", vec, r->srr0, r->srr1);
        os_term("interrupts: unexpected interrupt");
    }
}

/* Interrupts are taken big-endian (LPCR[ILE] = 0), 64-bit, real mode, with EE off. */
static const char *handler_msr(u64 msr)
{
    u64 want = MSR_SF | MSR_ME;
    u64 mask = MSR_SF | MSR_EE | MSR_PR | MSR_ME | MSR_IR | MSR_DR | MSR_LE;
    return (msr & mask) == want ? "ok" : "BAD";
}

static const char *ok(int c)
{
    return c ? "ok" : "BAD";
}

static void program_interrupt(void)
{
    do_illegal();
    u64 srr1 = prog.srr1;
    print("program: count %d, vector %lx, srr0 %s, srr1 bit 44 %s, other reasons %s, "
          "srr1 msr %s, handler msr %s\n",
          prog.count, prog.vec, ok(prog.srr0 == (u64)illegal_insn), ok(srr1 & SRR1_ILLEGAL),
          ok(!(srr1 & (SRR1_FP | SRR1_PRIV | SRR1_TRAP))),
          ok((srr1 & (MSR_SF | MSR_ME | MSR_EE | MSR_LE)) == (MSR_SF | MSR_ME)),
          handler_msr(prog.msr));
    if (prog.count != 1 || prog.srr0 != (u64)illegal_insn)
        print("  srr0 %lx srr1 %lx, illegal instruction at %p\n", prog.srr0, srr1, illegal_insn);
}

static void trap(void)
{
    do_trap();
    u64 srr1 = trp.srr1;
    print("trap: count %d, vector %lx, srr0 %s, srr1 bit 46 %s, other reasons %s\n", trp.count,
          trp.vec, ok(trp.srr0 == (u64)trap_insn), ok(srr1 & SRR1_TRAP),
          ok(!(srr1 & (SRR1_FP | SRR1_ILLEGAL | SRR1_PRIV))));
}

static void decrementer(void)
{
    /* DEC counts down at the timebase frequency (from a value far from wrapping). */
    mtdec(0x7fffffff);
    u64 d0 = mfdec();
    u64 t0 = mftb();
    while (mftb() - t0 < 1000)
        ;
    u64 d1 = mfdec();
    print("dec counts down: %s\n", ok((u32)d1 < (u32)d0));

    /* ~20 us, then wait up to one second for the interrupt. */
    mtdec(10000);
    set_ee(1);
    t0 = mftb();
    while (!dec.count && mftb() - t0 < TB_PER_SEC)
        ;
    set_ee(0);
    if (dec.count == 1 && dec.vec == 0x900 && (dec.srr1 & MSR_EE) && !(dec.msr & MSR_EE))
        print("dec ok\n");
    else
        print("dec BAD: count %d srr0 %lx srr1 %lx msr %lx\n", dec.count, dec.srr0, dec.srr1,
              dec.msr);
    print("decrementer: handler msr %s\n", handler_msr(dec.msr));
}

/* An OS idle loop: H_CEDE turns MSR[EE] on and sleeps until an interrupt is pending. */
static void cede(void)
{
    int before = dec.count;
    mtdec(TB_PER_SEC / 1000);
    long rc = hcall(H_CEDE, 0, 0, 0, 0, 0, 0);
    int woken = dec.count == before + 1;
    set_ee(0);
    print("cede: rc %ld, woken by the decrementer %s\n", rc, ok(woken));
}

/* An IPI to ourselves through XICS: an external interrupt at 0x500 once CPPR lets it in. */
static void external(void)
{
    u64 ret[4];
    hcall(H_CPPR, 0xff, 0, 0, 0, 0, 0);
    long rc = hcall(H_IPI, 0, 5, 0, 0, 0, 0);
    set_ee(1);
    u64 t0 = mftb();
    while (!ext.count && mftb() - t0 < TB_PER_SEC)
        ;
    set_ee(0);
    print("external: h_ipi %ld, count %d, vector %lx, xirr %lx, eoi %ld, srr1 ee %s, "
          "handler msr %s\n",
          rc, ext.count, ext.vec, ext_xirr, ext_eoi, ok(ext.srr1 & MSR_EE), handler_msr(ext.msr));
    hcall_ret(ret, H_XIRR, 0, 0, 0, 0, 0);
    print("external: then xirr %lx\n", ret[0]);
}

static void system_call(void)
{
    do_sc0();
    u64 srr1 = sys.srr1;
    print("syscall: count %d, vector %lx, srr0 %s, srr1 msr %s, handler msr %s\n", sys.count,
          sys.vec,
          ok(sys.srr0 == (u64)sc0_insn + 4),
          ok((srr1 & (MSR_SF | MSR_ME | MSR_EE | MSR_LE)) == (MSR_SF | MSR_ME)),
          handler_msr(sys.msr));
    if (sys.srr0 != (u64)sc0_insn + 4)
        print("  srr0 %lx, sc at %p\n", sys.srr0, sc0_insn);
}

int main(void)
{
    install_all_vectors();
    int rc = rtas_init();
    if (rc != 0) {
        print("rtas_init failed: %d\n", rc);
        return 1;
    }
    print("msr at entry: %s\n",
          ok((mfmsr_() & (MSR_SF | MSR_EE | MSR_PR | MSR_IR | MSR_DR | MSR_LE)) == MSR_SF));
    /* The three vectors this test is about, installed again explicitly. */
    install_vector(0x700);
    install_vector(0x900);
    install_vector(0x500);
    install_vector(0xc00);
    unsigned long n = (unsigned long)(vec_stub_end - vec_stub);
    print("vectors installed: %s\n",
          ok(memcmp((void *)0x700, vec_stub, n) == 0 && memcmp((void *)0x900, vec_stub, n) == 0 &&
             memcmp((void *)0x500, vec_stub, n) == 0 && memcmp((void *)0xc00, vec_stub, n) == 0));
    program_interrupt();
    trap();
    decrementer();
    cede();
    external();
    system_call();
    power_off();
}
