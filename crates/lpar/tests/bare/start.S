/*
 * Start code of the big-endian bare-metal test programs, the calls into lpar's hypervisor,
 * client interface and RTAS, and the interrupt entry.
 *
 * lpar enters _start like a Linux kernel: 64-bit big-endian supervisor real mode (MSR = SF|ME),
 * r5 = the Open Firmware client-interface entry, r1 = a firmware stack, r3/r4 = initrd or 0.
 *
 * ABI: ELFv1, the compiler's default for big-endian ppc64. _start is a plain code label (lpar
 * jumps to e_entry, it does not read a function descriptor); the functions C calls get ELFv1
 * descriptors through FUNC so that C may treat them as ordinary functions.
 */

#define STACK_SIZE 0x10000

/* Interrupt frame: the ABI's 288-byte protected zone below the interrupted r1 is skipped, then a
 * 112-byte ELFv1 frame header (for the C handler's saves) and struct regs (rt.h), 40 doublewords. */
#define PROTECTED 288
#define HDR 112
#define REGS HDR
#define R(n) (REGS + 8 * (n))
#define LR_SLOT R(32)
#define CTR_SLOT R(33)
#define CR_SLOT R(34)
#define XER_SLOT R(35)
#define SRR0_SLOT R(36)
#define SRR1_SLOT R(37)
#define VEC_SLOT R(38)
#define FRAME (HDR + 8 * 40)
#define TOTAL (PROTECTED + FRAME)

#define SPRG1 273
#define SPRG2 274
#define SRR0 26
#define SRR1 27

/* An ELFv1 function: the descriptor in .opd under the name, the code at .L.name. */
#define FUNC(name)                              \
    .section ".opd", "aw";                      \
    .balign 8;                                  \
    .globl name;                                \
name:                                           \
    .quad .L.name, .TOC.@tocbase, 0;            \
    .previous;                                  \
    .type name, @function;                      \
.L.name:

#define LOAD_TOC                                \
    lis %r2, .TOC.@ha;                          \
    addi %r2, %r2, .TOC.@l

    .section .text.start, "ax"
    .globl _start
_start:
    LOAD_TOC
    /* Zero .bss (incl. our stack); lpar's loader does too, but the programs do not rely on it. */
    lis %r6, __bss_start@ha
    addi %r6, %r6, __bss_start@l
    lis %r7, __bss_end@ha
    addi %r7, %r7, __bss_end@l
    li %r8, 0
1:  cmpld %r6, %r7
    bge 2f
    std %r8, 0(%r6)
    addi %r6, %r6, 8
    b 1b
2:  lis %r6, ci_entry@ha
    std %r5, ci_entry@l(%r6)
    /* Our own stack, with a zero back chain ending stack walks. */
    lis %r1, stack_top@ha
    addi %r1, %r1, stack_top@l
    li %r0, 0
    stdu %r0, -HDR(%r1)
    bl main
    nop
    bl power_off
    nop
3:  b 3b

    .text

/* long hcall(long nr, long a1, ..., long a6): arguments are already in r3..r9. The hypervisor
 * may change r0 and r3-r12, all volatile in the ABI. */
FUNC(hcall)
    sc 1
    blr

/* long hcall_ret(u64 ret[4], long nr, long a1, ..., long a5): as hcall, and stores the returned
 * r4..r7 in ret. ret waits in the ABI's protected zone below r1 meanwhile. */
FUNC(hcall_ret)
    std %r3, -8(%r1)
    mr %r3, %r4
    mr %r4, %r5
    mr %r5, %r6
    mr %r6, %r7
    mr %r7, %r8
    mr %r8, %r9
    sc 1
    ld %r12, -8(%r1)
    std %r4, 0(%r12)
    std %r5, 8(%r12)
    std %r6, 16(%r12)
    std %r7, 24(%r12)
    blr

/* long fw_call(void *args, unsigned long base, unsigned long entry): calls a firmware entry
 * (client interface or RTAS) with r3 = args, r4 = base, ctr = entry. The
 * firmware entry returns with blr; r2 is saved in case the firmware changes it. */
FUNC(fw_call)
    mflr %r0
    std %r0, 16(%r1)
    std %r2, 40(%r1)
    stdu %r1, -HDR(%r1)
    mtctr %r5
    bctrl
    addi %r1, %r1, HDR
    ld %r2, 40(%r1)
    ld %r0, 16(%r1)
    mtlr %r0
    blr

/* unsigned long mfmsr_(void) */
FUNC(mfmsr_)
    mfmsr %r3
    blr

/* Runs one illegal instruction (an all-zero word: primary opcode 0 is reserved). */
FUNC(do_illegal)
    .globl illegal_insn
illegal_insn:
    .long 0
    blr

/* Traps unconditionally (tw 31,0,0): a program interrupt for a trap. */
FUNC(do_trap)
    .globl trap_insn
trap_insn:
    trap
    blr

/* Makes a system call (sc with LEV = 0): a system call interrupt at 0xc00. */
FUNC(do_sc0)
    .globl sc0_insn
sc0_insn:
    sc
    blr

/*
 * The interrupt vector stub, copied to each vector by the programs (it is position independent:
 * the only address in it is the absolute one of int_common). It saves r12 and LR in SPRG1/2 and
 * branches to int_common with LR = the vector + (vec_stub_end - vec_stub).
 */
    .globl vec_stub, vec_stub_end
vec_stub:
    mtspr SPRG1, %r12
    mflr %r12
    mtspr SPRG2, %r12
    lis %r12, int_common@ha
    addi %r12, %r12, int_common@l
    mtlr %r12
    blrl
vec_stub_end:

/* Entered from a vector stub with LR = the vector + the stub's size; saves the interrupted state
 * on the interrupted stack, calls handle_interrupt(regs, vector), restores the (possibly
 * changed) state and returns with rfid. */
int_common:
    mflr %r12
    stdu %r1, -TOTAL(%r1)
    std %r0, R(0)(%r1)
    .irp n, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    std %r\n, R(\n)(%r1)
    .endr
    addi %r0, %r1, TOTAL
    std %r0, R(1)(%r1)
    mfspr %r0, SPRG1
    std %r0, R(12)(%r1)
    mfspr %r0, SPRG2
    std %r0, LR_SLOT(%r1)
    mfctr %r0
    std %r0, CTR_SLOT(%r1)
    mfcr %r0
    std %r0, CR_SLOT(%r1)
    mfxer %r0
    std %r0, XER_SLOT(%r1)
    mfspr %r0, SRR0
    std %r0, SRR0_SLOT(%r1)
    mfspr %r0, SRR1
    std %r0, SRR1_SLOT(%r1)
    addi %r4, %r12, -(vec_stub_end - vec_stub)
    std %r4, VEC_SLOT(%r1)
    LOAD_TOC
    addi %r3, %r1, REGS
    bl handle_interrupt
    nop
    ld %r0, SRR0_SLOT(%r1)
    mtspr SRR0, %r0
    ld %r0, SRR1_SLOT(%r1)
    mtspr SRR1, %r0
    ld %r0, LR_SLOT(%r1)
    mtlr %r0
    ld %r0, CTR_SLOT(%r1)
    mtctr %r0
    ld %r0, CR_SLOT(%r1)
    mtcrf 0xff, %r0
    ld %r0, XER_SLOT(%r1)
    mtxer %r0
    ld %r0, R(0)(%r1)
    .irp n, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    ld %r\n, R(\n)(%r1)
    .endr
    ld %r1, R(1)(%r1)
    rfid

    .section .bss
    .balign 16
stack:
    .space STACK_SIZE
stack_top:
