/* smp: every vCPU of the machine at once. vCPU 0 finds the others with RTAS
 * query-cpu-stopped-state and starts them with start-cpu; then all of them
 *   - add 1 to a shared word (lwarx/stwcx.) and a shared doubleword (ldarx/stdcx.) ITER (10^6)
 *     times each,
 *   - take a spinlock (lwarx/stwcx. + isync, released after lwsync) LOCK_ITER times and update
 *     two plain (non-atomic) counters under it;
 * and the totals must be exact. Then vCPUs 0 and 1 play IPI ping-pong through XICS (H_IPI,
 * H_XIRR, H_EOI) for ROUNDS rounds while the others idle in H_CEDE. */
#include "rt.h"

#define MAXCPU 8
#define STACK_SHIFT 14
#define ITER 1000000u
#define LOCK_ITER 50000u
#define ROUNDS 1000u

u8 smp_stacks[MAXCPU][1 << STACK_SHIFT] __attribute__((aligned(16)));
static volatile u32 counter32, done, lock, pings, pongs, ready;
static volatile u64 counter64, plain_a, plain_b;

/* start-cpu enters here in real mode with r3 = the vCPU number: a stack of its own, the TOC,
 * then secondary_main. */
__asm__("    .text\n"
        "    .globl secondary_entry\n"
        "secondary_entry:\n"
        "    lis 2, .TOC.@ha\n"
        "    addi 2, 2, .TOC.@l\n"
        "    lis 4, smp_stacks@ha\n"
        "    addi 4, 4, smp_stacks@l\n"
        "    addi 5, 3, 1\n"
        "    sldi 5, 5, 14\n"
        "    add 1, 4, 5\n"
        "    li 0, 0\n"
        "    stdu 0, -112(1)\n"
        "    bl secondary_main\n"
        "    nop\n"
        "1:  b 1b\n");
extern char secondary_entry[];

static void inc32(volatile u32 *p)
{
    u32 t;
    __asm__ volatile("1: lwarx %0,0,%1\n"
                     "   addi %0,%0,1\n"
                     "   stwcx. %0,0,%1\n"
                     "   bne- 1b"
                     : "=&b"(t)
                     : "r"(p)
                     : "cr0", "memory");
}

static void inc64(volatile u64 *p)
{
    u64 t;
    __asm__ volatile("1: ldarx %0,0,%1\n"
                     "   addi %0,%0,1\n"
                     "   stdcx. %0,0,%1\n"
                     "   bne- 1b"
                     : "=&b"(t)
                     : "r"(p)
                     : "cr0", "memory");
}

static void spin_lock(volatile u32 *l)
{
    u32 t;
    __asm__ volatile("1: lwarx %0,0,%1\n"
                     "   cmpwi %0,0\n"
                     "   bne- 1b\n"
                     "   li %0,1\n"
                     "   stwcx. %0,0,%1\n"
                     "   bne- 1b\n"
                     "   isync"
                     : "=&b"(t)
                     : "r"(l)
                     : "cr0", "memory");
}

static void spin_unlock(volatile u32 *l)
{
    __asm__ volatile("lwsync" : : : "memory");
    *l = 0;
}

static void work(void)
{
    for (u32 i = 0; i < ITER; i++) {
        inc32(&counter32);
        inc64(&counter64);
    }
    for (u32 i = 0; i < LOCK_ITER; i++) {
        spin_lock(&lock);
        plain_a = plain_a + 1;
        plain_b = plain_b + 2;
        spin_unlock(&lock);
    }
    inc32(&done);
}

/* IPI ping-pong: vCPU 1 answers every IPI from 0 with one back, until ROUNDS. */
void handle_interrupt(struct regs *r, u64 vec)
{
    if (vec != 0x500) {
        print("unexpected interrupt %lx on vCPU %lu at %lx\n", vec, mfpir(), r->srr0);
        os_term("smp: unexpected interrupt");
    }
    u64 me = mfpir();
    u64 ret[4];
    hcall_ret(ret, H_XIRR, 0, 0, 0, 0, 0);
    hcall(H_IPI, (long)me, 0xff, 0, 0, 0, 0);
    hcall(H_EOI, (long)ret[0], 0, 0, 0, 0, 0);
    if ((ret[0] & 0xffffff) != 2)
        return; /* not the IPI source */
    if (me == 1) {
        pongs++;
        hcall(H_IPI, 0, 5, 0, 0, 0, 0);
    } else if (me == 0) {
        pings++;
        if (pings < ROUNDS)
            hcall(H_IPI, 1, 5, 0, 0, 0, 0);
    }
}

void secondary_main(u64 cpu)
{
    (void)cpu;
    work();
    hcall(H_CPPR, 0xff, 0, 0, 0, 0, 0);
    inc32(&ready);
    for (;;)
        hcall(H_CEDE, 0, 0, 0, 0, 0, 0); /* turns EE on; IPIs come in here */
}

static int wait_for(volatile u32 *v, u32 want)
{
    u64 t0 = mftb();
    while (*v < want)
        if (mftb() - t0 > 30 * TB_PER_SEC)
            return 0;
    return 1;
}

static const char *ok(int c)
{
    return c ? "ok" : "BAD";
}

int main(void)
{
    install_all_vectors();
    if (rtas_init() != 0)
        os_term("smp: no RTAS");
    u32 query = rtas_token("query-cpu-stopped-state"), start = rtas_token("start-cpu");
    u32 n = 1;
    for (; n < MAXCPU; n++) {
        u32 state[2];
        if (rtas_call(query, 1, 2, state, n) != 0)
            break;
    }
    print("cpus: %u\n", n);
    for (u32 i = 1; i < n; i++) {
        s32 rc = rtas_call(start, 3, 1, 0, i, (u32)(u64)secondary_entry, i);
        if (rc != 0)
            print("start-cpu %u: %d\n", i, rc);
    }
    work();
    if (!wait_for(&done, n))
        print("only %u of %u vCPUs finished\n", done, n);
    print("lwarx/stwcx. counter: %u, %s\n", counter32, ok(counter32 == n * ITER));
    print("ldarx/stdcx. counter: %lu, %s\n", counter64, ok(counter64 == n * (u64)ITER));
    print("spinlock: a %lu b %lu, %s\n", plain_a, plain_b,
          ok(plain_a == n * (u64)LOCK_ITER && plain_b == 2 * n * (u64)LOCK_ITER));
    if (n >= 2) {
        wait_for(&ready, n - 1);
        hcall(H_CPPR, 0xff, 0, 0, 0, 0, 0);
        set_ee(1);
        hcall(H_IPI, 1, 5, 0, 0, 0, 0);
        int fine = wait_for(&pings, ROUNDS);
        set_ee(0);
        print("ipi ping-pong: %u pings %u pongs, %s\n", pings, pongs,
              ok(fine && pings == ROUNDS && pongs == ROUNDS));
    }
    return 0;
}
