/* hello: one line on the console through H_PUT_TERM_CHAR, then power-off through RTAS (found
 * with the client interface and instantiated at RTAS_BASE). */
#include "rt.h"

int main(void)
{
    static const char msg[] = "Hello from a big-endian bare-metal guest on lpar!\n";
    install_all_vectors();
    put_bytes(msg, sizeof msg - 1);
    int rc = rtas_init();
    if (rc != 0) {
        print("rtas_init failed: %d\n", rc);
        return 1;
    }
    power_off();
}
