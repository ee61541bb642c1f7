/* The small C runtime of the big-endian bare-metal test programs: console output through
 * H_PUT_TERM_CHAR, the Open Firmware client interface, RTAS, interrupt vectors. */
#ifndef BARE_RT_H
#define BARE_RT_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef int s32;
typedef long s64;

/* Hypercalls and constants (PAPR). */
#define H_SUCCESS 0
#define H_REMOVE 0x04
#define H_ENTER 0x08
#define H_PUT_TERM_CHAR 0x58
#define H_EOI 0x64
#define H_CPPR 0x68
#define H_IPI 0x6c
#define H_XIRR 0x74
#define H_CEDE 0xe0
/* The timebase ticks at 512 MHz on pseries. */
#define TB_PER_SEC 512000000ul
#define VTY_TERMNO 0x71000000
/* The failure value of a client-interface return cell. */
#define PROM_ERROR 0xffffffffu
/* Where the programs instantiate RTAS (claimed from the client interface first). */
#define RTAS_BASE 0x300000

/* The interrupted state, as start.S's int_common saves it; handle_interrupt may change it
 * (e.g. srr0 to resume elsewhere). */
struct regs {
    u64 gpr[32];
    u64 lr, ctr, cr, xer, srr0, srr1, vec, pad;
};

/* start.S */
extern u64 ci_entry;
long hcall(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
long hcall_ret(u64 ret[4], long nr, long a1, long a2, long a3, long a4, long a5);
long fw_call(void *args, u64 base, u64 entry);
u64 mfmsr_(void);
void do_illegal(void);
void do_sc0(void);
void do_trap(void);
extern char illegal_insn[], sc0_insn[], trap_insn[], vec_stub[], vec_stub_end[];

/* Register helpers shared by the programs. */
static inline u64 mftb(void)
{
    u64 v;
    __asm__ volatile("mfspr %0,268" : "=r"(v));
    return v;
}

/* This vCPU's number (PIR). */
static inline u64 mfpir(void)
{
    u64 v;
    __asm__ volatile("mfspr %0,1023" : "=r"(v));
    return v;
}

/* mtmsrd with L = 1 changes only EE and RI: external interrupts on or off. */
static inline void set_ee(int on)
{
    u64 v = on ? (1ul << 15) | (1ul << 1) : (1ul << 1);
    __asm__ volatile("mtmsrd %0,1" : : "r"(v) : "memory");
}

/* Called by int_common with interrupts off; the default reports and terminates. */
void handle_interrupt(struct regs *r, u64 vec);

/* Library. */
void *memcpy(void *d, const void *s, unsigned long n);
void *memset(void *d, int c, unsigned long n);
int memcmp(const void *a, const void *b, unsigned long n);
unsigned long strlen(const char *s);

/* Console: a tiny printf (%s %c %d %u %x %p, 'l' modifier, '0' flag and width). */
void put_bytes(const char *s, unsigned long n);
void print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Client interface. of_call returns the first return cell, or PROM_ERROR when the call failed. */
long of_call_n(const char *service, int nargs, const u32 *args, int nret, u32 *rets);
u32 of_call(const char *service, int nargs, ...);
u32 of_finddevice(const char *path);
s32 of_getprop(u32 phandle, const char *name, void *buf, u32 len);
u32 of_open(const char *path);

/* RTAS: rtas_init instantiates it at RTAS_BASE (0 on success); rtas_call returns the status
 * (return cell 0), or -999 without RTAS or with a bad cell count, and stores the nret return
 * cells in rets (which may be 0). */
int rtas_init(void);
u32 rtas_token(const char *name);
s32 rtas_call(u32 token, int nargs, int nret, u32 *rets, ...);
void power_off(void) __attribute__((noreturn));
void os_term(const char *msg) __attribute__((noreturn));

/* Copies the vector stub to real address vec and makes it visible to instruction fetch. */
void install_vector(u64 vec);
/* Installs the reporting handler on every vector, so a crash ends the run at once. */
void install_all_vectors(void);

#endif
