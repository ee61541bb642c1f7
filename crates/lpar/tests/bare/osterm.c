/* os-term: ibm,os-term with a message, as an OS does when it panics; lpar stops with exit
 * status 1 and reports the message. */
#include "rt.h"

int main(void)
{
    install_all_vectors();
    int rc = rtas_init();
    if (rc != 0) {
        print("rtas_init failed: %d\n", rc);
        return 1;
    }
    print("calling ibm,os-term\n");
    os_term("bare-metal BE guest says goodbye via ibm,os-term");
}
