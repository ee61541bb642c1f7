/* Runtime: entry point, buffered output, exit. See rt.h. */
#include "rt.h"

/* Sets up the TOC pointer itself (the loaders differ in what they leave in r12), aligns the
 * stack, calls main and exits with its return value. */
__asm__(".globl _start\n"
        "_start:\n"
        "\tlis 2,.TOC.@ha\n"
        "\taddi 2,2,.TOC.@l\n"
        "\tclrrdi 1,1,4\n"
        "\tli 0,0\n"
        "\tstdu 0,-256(1)\n"
        "\tbl main\n"
        "\tnop\n"
        "\tbl rt_exit\n"
        "\tnop\n");

static long sys3(long n, long a, long b, long c)
{
    register long r0 __asm__("r0") = n;
    register long r3 __asm__("r3") = a;
    register long r4 __asm__("r4") = b;
    register long r5 __asm__("r5") = c;
    __asm__ volatile("sc"
                     : "+r"(r0), "+r"(r3), "+r"(r4), "+r"(r5)
                     :
                     : "memory", "cr0", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "ctr", "xer");
    return r3;
}

static char obuf[8192];
static int olen;

static void flush(void)
{
    int off = 0;
    while (off < olen) {
        long n = sys3(4, 1, (long)(obuf + off), olen - off);
        if (n <= 0)
            break;
        off += n;
    }
    olen = 0;
}

void outc(char c)
{
    if (olen == (int)sizeof(obuf))
        flush();
    obuf[olen++] = c;
}

void out(const char *s)
{
    while (*s)
        outc(*s++);
}

void outxn(u64 v, int digits)
{
    for (int i = digits - 1; i >= 0; i--)
        outc("0123456789abcdef"[(v >> (4 * i)) & 15]);
}

void outx(u64 v)
{
    outxn(v, 16);
}

void outh(u64 v)
{
    int d = 1;
    while (d < 16 && (v >> (4 * d)) != 0)
        d++;
    outxn(v, d);
}

void kh(const char *name, u64 v)
{
    outc(' ');
    out(name);
    outh(v);
}

void outname(const char *s)
{
    while (*s && *s != ' ')
        outc(*s++);
}

/* Each line is written as it completes, so when a run dies the output ends at the test that
 * killed it. */
void nl(void)
{
    outc('\n');
    flush();
}

void kv(const char *name, u64 v)
{
    outc(' ');
    out(name);
    outc('=');
    outx(v);
}

void kvv(const char *name, const v128 *v)
{
    outc(' ');
    out(name);
    outc('=');
    outx(v->d[0]);
    outc('_');
    outx(v->d[1]);
}

void dump(const char *name, const void *p, int n)
{
    const u8 *b = p;
    outc(' ');
    out(name);
    outc('=');
    for (int i = 0; i < n; i++)
        outxn(b[i], 2);
}

void rt_exit(int code)
{
    flush();
    sys3(234, code, 0, 0);
    for (;;)
        ;
}

void *memset(void *d, int c, unsigned long n)
{
    u8 *p = d;
    while (n--)
        *p++ = (u8)c;
    return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
    u8 *p = d;
    const u8 *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

const u64 edge64[] = {
    0,
    1,
    2,
    0x7f,
    0x80,
    0xffff,
    0x7fffffff,
    0x80000000,
    0xffffffff,
    0x100000000,
    0x7fffffffffffffff,
    0x8000000000000000,
    0xffffffff80000000,
    0xfffffffffffffffe,
    0xffffffffffffffff,
    0x0123456789abcdef,
    0xfedcba9876543210,
};
const int n_edge64 = ARRAY_SIZE(edge64);
const u64 edge10[10] = {
    0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x7fffffffffffffff, 0x8000000000000000,
    0xfffffffffffffffe, 0xffffffffffffffff, 0x0123456789abcdef,
};
