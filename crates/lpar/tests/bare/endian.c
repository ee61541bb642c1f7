/* endian: big-endian storage order of every access size (MSR[LE] = 0): stores are dumped byte by
 * byte, loads read known bytes; byte-reversed, multiple and string forms; client-interface
 * getprop replies (32- and 64-bit cells) in big-endian order, and a write to the OF console. */
#include "rt.h"

static u8 buf[32] __attribute__((aligned(16)));
static const u8 pattern[16] = { 0x80, 0x91, 0xa2, 0xb3, 0xc4, 0xd5, 0xe6, 0xf7,
                                0x08, 0x19, 0x2a, 0x3b, 0x4c, 0x5d, 0x6e, 0x7f };

/* "xx xx ..." of n bytes at p. */
static const char *hex(const void *p, int n)
{
    static char s[3 * 32];
    static const char digits[] = "0123456789abcdef";
    const u8 *b = p;
    int k = 0;
    for (int i = 0; i < n && i < 32; i++) {
        if (i)
            s[k++] = ' ';
        s[k++] = digits[b[i] >> 4];
        s[k++] = digits[b[i] & 15];
    }
    s[k] = 0;
    return s;
}

static void fill(void)
{
    memset(buf, 0xee, sizeof buf);
}

static void stores(void)
{
    u64 d = 0x0102030405060708ul;
    u64 w = 0x0a0b0c0d, h = 0x1122, b = 0x7f;

    fill();
    __asm__ volatile("std %1,0(%0)" : : "b"(buf), "r"(d) : "memory");
    print("std   %016lx -> %s\n", d, hex(buf, 8));
    fill();
    __asm__ volatile("stw %1,0(%0)" : : "b"(buf), "r"(w) : "memory");
    print("stw   %08lx -> %s\n", w, hex(buf, 4));
    fill();
    __asm__ volatile("sth %1,0(%0)" : : "b"(buf), "r"(h) : "memory");
    print("sth   %04lx -> %s\n", h, hex(buf, 2));
    fill();
    __asm__ volatile("stb %1,0(%0)" : : "b"(buf), "r"(b) : "memory");
    print("stb   %02lx -> %s\n", b, hex(buf, 2));
    fill();
    __asm__ volatile("stdbrx %1,0,%0" : : "r"(buf), "r"(d) : "memory");
    print("stdbrx %016lx -> %s\n", d, hex(buf, 8));
    fill();
    __asm__ volatile("stwbrx %1,0,%0" : : "r"(buf), "r"(w) : "memory");
    print("stwbrx %08lx -> %s\n", w, hex(buf, 4));
    fill();
    __asm__ volatile("sthbrx %1,0,%0" : : "r"(buf), "r"(h) : "memory");
    print("sthbrx %04lx -> %s\n", h, hex(buf, 2));
    /* Unaligned: a word across a doubleword boundary. */
    fill();
    __asm__ volatile("stw %1,6(%0)" : : "b"(buf), "r"(w) : "memory");
    print("stw at +6 -> %s\n", hex(buf + 4, 8));
    /* stmw stores the low words of r30, r31; stswi 6 bytes from r9, r10 (4 per register,
     * from the high end of the low word). */
    fill();
    __asm__ volatile("lis 30,0x0102\n\tori 30,30,0x0304\n\tlis 31,0x0506\n\tori 31,31,0x0708\n\t"
                     "stmw 30,0(%0)"
                     :
                     : "b"(buf)
                     : "r30", "r31", "memory");
    print("stmw  r30=01020304 r31=05060708 -> %s\n", hex(buf, 8));
    fill();
    __asm__ volatile("lis 9,0x0102\n\tori 9,9,0x0304\n\tlis 10,0x0506\n\tori 10,10,0x0708\n\t"
                     "stswi 9,%0,6"
                     :
                     : "b"(buf)
                     : "r9", "r10", "memory");
    print("stswi 6 bytes of r9=01020304 r10=05060708 -> %s\n", hex(buf, 8));
}

static void loads(void)
{
    const u8 *p = pattern;
    u64 v, v2;
    print("memory: %s\n", hex(p, 16));
    __asm__ volatile("ld %0,0(%1)" : "=r"(v) : "b"(p), "m"(pattern));
    print("ld     %016lx\n", v);
    __asm__ volatile("lwz %0,0(%1)" : "=r"(v) : "b"(p), "m"(pattern));
    print("lwz    %016lx\n", v);
    __asm__ volatile("lwa %0,0(%1)" : "=r"(v) : "b"(p), "m"(pattern));
    print("lwa    %016lx\n", v);
    __asm__ volatile("lhz %0,0(%1)" : "=r"(v) : "b"(p), "m"(pattern));
    print("lhz    %016lx\n", v);
    __asm__ volatile("lha %0,0(%1)" : "=r"(v) : "b"(p), "m"(pattern));
    print("lha    %016lx\n", v);
    __asm__ volatile("lbz %0,0(%1)" : "=r"(v) : "b"(p), "m"(pattern));
    print("lbz    %016lx\n", v);
    __asm__ volatile("ldbrx %0,0,%1" : "=r"(v) : "r"(p), "m"(pattern));
    print("ldbrx  %016lx\n", v);
    __asm__ volatile("lwbrx %0,0,%1" : "=r"(v) : "r"(p), "m"(pattern));
    print("lwbrx  %016lx\n", v);
    __asm__ volatile("lhbrx %0,0,%1" : "=r"(v) : "r"(p), "m"(pattern));
    print("lhbrx  %016lx\n", v);
    /* Unaligned (ld is DS-form, so the odd part goes in the base). */
    __asm__ volatile("ld %0,4(%1)" : "=r"(v) : "b"(p + 1), "m"(pattern));
    print("ld at +5 %016lx\n", v);
    __asm__ volatile("lmw 30,4(%2)\n\tmr %0,30\n\tmr %1,31"
                     : "=r"(v), "=r"(v2)
                     : "b"(p), "m"(pattern)
                     : "r30", "r31");
    print("lmw at +4 r30 %016lx r31 %016lx\n", v, v2);
    __asm__ volatile("lswi 9,%2,7\n\tmr %0,9\n\tmr %1,10"
                     : "=r"(v), "=r"(v2)
                     : "b"(p), "m"(pattern)
                     : "r9", "r10");
    print("lswi 7 bytes r9 %016lx r10 %016lx\n", v, v2);
}

/* A property read through the client interface, dumped byte by byte. */
static void prop(const char *path, const char *name, int want)
{
    static u8 val[16];
    memset(val, 0xee, sizeof val);
    u32 ph = of_finddevice(path);
    s32 len = of_getprop(ph, name, val, want);
    print("getprop %s %s: len %d bytes %s", path, name, len, hex(val, want));
    if (len == 4) {
        u32 cellv;
        memcpy(&cellv, val, 4);
        print(" = 0x%x = %u", cellv, cellv);
    } else if (len == 16) {
        u64 a, s;
        memcpy(&a, val, 8);
        memcpy(&s, val + 8, 8);
        print(" = 0x%lx 0x%lx", a, s);
    }
    print("\n");
}

/* The console instance from /chosen "stdout" (an ihandle in a 32-bit cell) writes through the
 * client interface. */
static void of_console(void)
{
    static const char msg[] = "written through the client interface\n";
    u32 ih = 0;
    s32 len = of_getprop(of_finddevice("/chosen"), "stdout", &ih, sizeof ih);
    u32 pkg = of_call("instance-to-package", 1, ih);
    print("getprop /chosen stdout: len %d, instance of the vty %s\n", len,
          pkg == of_finddevice("/vdevice/vty@71000000") && pkg != PROM_ERROR ? "ok" : "BAD");
    u32 n = of_call("write", 3, ih, (u32)(u64)msg, (u32)(sizeof msg - 1));
    print("of write returned %u\n", n);
}

int main(void)
{
    install_all_vectors();
    int rc = rtas_init();
    if (rc != 0) {
        print("rtas_init failed: %d\n", rc);
        return 1;
    }
    stores();
    loads();
    prop("/cpus/PowerPC,POWER9@0", "reg", 4);
    prop("/cpus/PowerPC,POWER9@0", "timebase-frequency", 4);
    prop("/cpus/PowerPC,POWER9@0", "d-cache-block-size", 4);
    prop("/vdevice/vty@71000000", "reg", 4);
    prop("/memory@0", "reg", 16);
    of_console();
    power_off();
}
