/* rtas: get-time-of-day, an nvram-store/nvram-fetch round trip, display-character and an
 * invalid token, with big-endian argument buffers; prints what came back, then powers off. */
#include "rt.h"

static void time_of_day(void)
{
    u32 r[8];
    s32 st = rtas_call(rtas_token("get-time-of-day"), 0, 8, r);
    /* r: status, year, month, day, hour, minute, second, nanoseconds. */
    int valid = r[2] >= 1 && r[2] <= 12 && r[3] >= 1 && r[3] <= 31 && r[4] < 24 && r[5] < 60 &&
                r[6] < 60 && r[7] < 1000000000;
    print("get-time-of-day: status %d year %u\n", st, r[1]);
    print("year >= 2024: %s, fields %s\n", r[1] >= 2024 ? "yes" : "NO", valid ? "valid" : "INVALID");
}

static void nvram(void)
{
    static const char data[] = "big-endian nvram!";
    static char back[32];
    const u32 n = sizeof data - 1, off = 0x123;
    u32 r[2];
    u32 store = rtas_token("nvram-store"), fetch = rtas_token("nvram-fetch");
    s32 st = rtas_call(store, 3, 2, r, off, (u32)(u64)data, n);
    print("nvram-store: status %d stored %u\n", st, r[1]);
    memset(back, 0, sizeof back);
    st = rtas_call(fetch, 3, 2, r, off, (u32)(u64)back, n);
    print("nvram-fetch: status %d fetched %u, %s\n", st, r[1],
          memcmp(back, data, n) == 0 && back[n] == 0 ? "round trip ok" : "MISMATCH");
    print("nvram says: %s\n", back);
    /* Two bytes in, one out: the NVRAM keeps bytes, in order. */
    memset(back, 0, sizeof back);
    st = rtas_call(fetch, 3, 2, r, off + 2, (u32)(u64)back, 3);
    print("nvram-fetch at +2: status %d fetched %u \"%s\"\n", st, r[1], back);
    /* Past the end of the NVRAM (its size is /vdevice/nvram "#bytes"). */
    u32 size = 0;
    u32 ph = of_finddevice("/vdevice/nvram@71000001");
    s32 len = of_getprop(ph, "#bytes", &size, sizeof size);
    st = rtas_call(fetch, 3, 2, r, size - 2, (u32)(u64)back, 4);
    print("nvram #bytes: len %d, fetch across the end: status %d\n", len, st);
}

static void display(void)
{
    static const char msg[] = "display-character ok\n";
    u32 tok = rtas_token("display-character");
    int bad = 0;
    for (const char *p = msg; *p; p++)
        if (rtas_call(tok, 1, 1, 0, (u32)(u8)*p) != 0)
            bad++;
    print("display-character failures: %d\n", bad);
}

int main(void)
{
    install_all_vectors();
    int rc = rtas_init();
    if (rc != 0) {
        print("rtas_init failed: %d\n", rc);
        return 1;
    }
    time_of_day();
    nvram();
    display();
    /* No service has this token: RTAS answers -3 (parameter error / not supported). */
    print("invalid token: status %d\n", rtas_call(0xdead, 0, 1, 0));
    print("unknown name: token %x\n", rtas_token("no-such-service"));
    power_off();
}
