/* The C runtime of the big-endian bare-metal test programs (see rt.h). Everything here runs in
 * real mode with translation off; every pointer handed to the firmware is a real address below
 * 4 GiB, so it fits the firmware's 32-bit cells. */
#include <stdarg.h>
#include "rt.h"

u64 ci_entry;

void *memcpy(void *d, const void *s, unsigned long n)
{
    u8 *dp = d;
    const u8 *sp = s;
    while (n--)
        *dp++ = *sp++;
    return d;
}

void *memset(void *d, int c, unsigned long n)
{
    u8 *dp = d;
    while (n--)
        *dp++ = (u8)c;
    return d;
}

int memcmp(const void *a, const void *b, unsigned long n)
{
    const u8 *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x < *y ? -1 : 1;
    return 0;
}

unsigned long strlen(const char *s)
{
    unsigned long n = 0;
    while (s[n])
        n++;
    return n;
}

static u32 cell(const void *p)
{
    return (u32)(u64)p;
}

/* ---- console ---- */

void put_bytes(const char *s, unsigned long n)
{
    while (n) {
        unsigned long k = n < 16 ? n : 16;
        /* H_PUT_TERM_CHAR takes the bytes packed into r6:r7 in memory order: on a big-endian
         * CPU that is exactly two doubleword loads of the bytes. */
        u64 w[2] = { 0, 0 };
        memcpy(w, s, k);
        hcall(H_PUT_TERM_CHAR, VTY_TERMNO, (long)k, (long)w[0], (long)w[1], 0, 0);
        s += k;
        n -= k;
    }
}

struct out {
    char buf[128];
    unsigned long n;
};

static void out_ch(struct out *o, char c)
{
    if (o->n == sizeof o->buf) {
        put_bytes(o->buf, o->n);
        o->n = 0;
    }
    o->buf[o->n++] = c;
}

static void out_num(struct out *o, u64 v, unsigned base, int neg, int width, char pad)
{
    char tmp[24];
    int i = 0;
    do {
        unsigned d = (unsigned)(v % base);
        tmp[i++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    if (neg)
        tmp[i++] = '-';
    for (int w = i; w < width; w++)
        out_ch(o, pad);
    while (i)
        out_ch(o, tmp[--i]);
}

void print(const char *fmt, ...)
{
    struct out o;
    va_list ap;
    o.n = 0;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            out_ch(&o, *fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, lng = 0;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        if (*fmt == 'l') {
            lng = 1;
            fmt++;
        }
        switch (*fmt) {
        case 'd': {
            s64 v = lng ? va_arg(ap, long) : va_arg(ap, int);
            out_num(&o, v < 0 ? -(u64)v : (u64)v, 10, v < 0, width, pad);
            break;
        }
        case 'u':
        case 'x': {
            u64 v = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
            out_num(&o, v, *fmt == 'u' ? 10 : 16, 0, width, pad);
            break;
        }
        case 'p':
            out_ch(&o, '0');
            out_ch(&o, 'x');
            out_num(&o, (u64)va_arg(ap, void *), 16, 0, width, pad);
            break;
        case 'c':
            out_ch(&o, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            while (*s)
                out_ch(&o, *s++);
            break;
        }
        case '%':
            out_ch(&o, '%');
            break;
        default:
            /* Unknown conversion: show it, and stop if the string ended. */
            out_ch(&o, '%');
            if (!*fmt)
                goto done;
            out_ch(&o, *fmt);
        }
    }
done:
    va_end(ap);
    put_bytes(o.buf, o.n);
}

/* ---- Open Firmware client interface ---- */

/* IEEE 1275 argument block: every cell 32-bit, big-endian (our native order). */
static struct {
    u32 service, nargs, nret;
    u32 cells[10];
} prom_args;

long of_call_n(const char *service, int nargs, const u32 *args, int nret, u32 *rets)
{
    if (nargs < 0 || nret < 0 || nargs + nret > 10)
        return -1;
    prom_args.service = cell(service);
    prom_args.nargs = (u32)nargs;
    prom_args.nret = (u32)nret;
    for (int i = 0; i < nargs; i++)
        prom_args.cells[i] = args[i];
    for (int i = 0; i < nret; i++)
        prom_args.cells[nargs + i] = PROM_ERROR;
    long rc = fw_call(&prom_args, 0, ci_entry);
    for (int i = 0; i < nret; i++)
        rets[i] = prom_args.cells[nargs + i];
    return rc;
}

u32 of_call(const char *service, int nargs, ...)
{
    u32 args[9];
    u32 ret = PROM_ERROR;
    va_list ap;
    if (nargs < 0 || nargs > 9)
        return PROM_ERROR;
    va_start(ap, nargs);
    for (int i = 0; i < nargs; i++)
        args[i] = va_arg(ap, u32);
    va_end(ap);
    if (of_call_n(service, nargs, args, 1, &ret) != 0)
        return PROM_ERROR;
    return ret;
}

u32 of_finddevice(const char *path)
{
    return of_call("finddevice", 1, cell(path));
}

s32 of_getprop(u32 phandle, const char *name, void *buf, u32 len)
{
    return (s32)of_call("getprop", 4, phandle, cell(name), cell(buf), len);
}

u32 of_open(const char *path)
{
    return of_call("open", 1, cell(path));
}

/* ---- RTAS ---- */

static u64 rtas_entry;
static int rtas_ready;

int rtas_init(void)
{
    u32 size = 0, rets[2];
    u32 ph = of_finddevice("/rtas");
    if (ph == PROM_ERROR || ph == 0)
        return -1;
    if (of_getprop(ph, "rtas-size", &size, sizeof size) != sizeof size || size == 0)
        return -2;
    if (of_call("claim", 3, RTAS_BASE, size, 0) != RTAS_BASE)
        return -3;
    u32 ih = of_open("/rtas");
    if (ih == PROM_ERROR || ih == 0)
        return -4;
    u32 args[3] = { cell("instantiate-rtas"), ih, RTAS_BASE };
    if (of_call_n("call-method", 3, args, 2, rets) != 0 || rets[0] != 0)
        return -5;
    rtas_entry = rets[1];
    rtas_ready = 1;
    return 0;
}

u32 rtas_token(const char *name)
{
    u32 tok = PROM_ERROR;
    u32 ph = of_finddevice("/rtas");
    if (ph == PROM_ERROR || of_getprop(ph, name, &tok, sizeof tok) != sizeof tok)
        return PROM_ERROR;
    return tok;
}

/* The RTAS argument buffer: token, nargs, nret, then the argument and return cells. */
static struct {
    u32 token, nargs, nret;
    u32 cells[16];
} rtas_args;

s32 rtas_call(u32 token, int nargs, int nret, u32 *rets, ...)
{
    va_list ap;
    if (!rtas_ready || nargs < 0 || nret < 1 || nargs + nret > 16)
        return -999;
    rtas_args.token = token;
    rtas_args.nargs = (u32)nargs;
    rtas_args.nret = (u32)nret;
    va_start(ap, rets);
    for (int i = 0; i < nargs; i++)
        rtas_args.cells[i] = va_arg(ap, u32);
    va_end(ap);
    /* A value RTAS never returns, so a missing write shows. */
    for (int i = 0; i < nret; i++)
        rtas_args.cells[nargs + i] = 0xdeadbeef;
    fw_call(&rtas_args, RTAS_BASE, rtas_entry);
    if (rets)
        for (int i = 0; i < nret; i++)
            rets[i] = rtas_args.cells[nargs + i];
    return (s32)rtas_args.cells[nargs];
}

/* Ends the run: RTAS power-off when RTAS is up, else the client interface's "exit". */
void power_off(void)
{
    if (rtas_ready)
        rtas_call(rtas_token("power-off"), 2, 1, 0, 0xffffffffu, 0xffffffffu);
    else
        of_call_n("exit", 0, 0, 0, 0);
    for (;;)
        ;
}

void os_term(const char *msg)
{
    if (rtas_ready)
        rtas_call(rtas_token("ibm,os-term"), 1, 1, 0, cell(msg));
    else
        of_call_n("exit", 0, 0, 0, 0);
    for (;;)
        ;
}

/* ---- interrupts ---- */

void install_vector(u64 vec)
{
    memcpy((void *)vec, vec_stub, (unsigned long)(vec_stub_end - vec_stub));
    /* The architected sequence for modified instructions (the stub fits one cache block). */
    __asm__ volatile("dcbst 0,%0; sync; icbi 0,%0; isync" : : "r"(vec) : "memory");
}

void install_all_vectors(void)
{
    for (u64 v = 0x100; v <= 0xf00; v += 0x100)
        install_vector(v);
    install_vector(0xf20);
    install_vector(0xf40);
    install_vector(0xf60);
}

__attribute__((weak)) void handle_interrupt(struct regs *r, u64 vec)
{
    print("unexpected interrupt %lx at %lx (srr1 %lx)\n", vec, r->srr0, r->srr1);
    os_term("bare: unexpected interrupt");
}
