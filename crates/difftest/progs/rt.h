/* Minimal freestanding runtime for the differential test programs: no libc, output through the
 * write system call, everything printed as hex so lpar and QEMU outputs compare byte for byte.
 * Vector registers are loaded and stored with lxvd2x/stxvd2x, which keep doubleword 0 first in
 * either byte order, so printed register values are in ISA element order. */
#ifndef RT_H
#define RT_H

typedef unsigned long u64;
typedef long i64;
typedef unsigned int u32;
typedef int i32;
typedef unsigned short u16;
typedef unsigned char u8;

/* A 128-bit register image: d[0] is doubleword 0 (the ISA's high-order half). */
typedef struct {
    u64 d[2];
} __attribute__((aligned(16))) v128;

void out(const char *s);
void outc(char c);
void outx(u64 v);             /* 16 hex digits */
void outxn(u64 v, int digits); /* low `digits` hex digits */
void nl(void);
/* Minimal-width hex, and " name" + minimal hex. */
void outh(u64 v);
void kh(const char *name, u64 v);
/* The mnemonic of an asm template: up to the first blank. */
void outname(const char *s);
/* " name=value" with 16 hex digits. */
void kv(const char *name, u64 v);
/* " name=dw0_dw1". */
void kvv(const char *name, const v128 *v);
/* Hex dump of n bytes, in address order. */
void dump(const char *name, const void *p, int n);
void rt_exit(int code) __attribute__((noreturn));

void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);

/* Edge values used by several programs. */
extern const u64 edge64[];
extern const int n_edge64;
/* A smaller set for pairwise tests. */
extern const u64 edge10[10];

#define ARRAY_SIZE(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Load VSR `vsr` from a v128 in memory, store it back. */
#define LDV(vsr) "lxvd2x " #vsr ",0,"
#define STV(vsr) "stxvd2x " #vsr ",0,"

#endif
