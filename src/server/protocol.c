/*
 * protocol: per-connection protocol choice (see protocol.h).
 */
#include "server/protocol.h"

#include <string.h>

#include "proto/binary.h"
#include "server/auth.h"
#include "server/exec_binary.h"
#include "server/exec_text.h"

static const struct conn_handler *text_start;   /* text, maybe behind -Y */

static size_t negotiate_input(struct conn *c, char *buf, size_t len)
{
    const struct conn_handler *h = (unsigned char)buf[0] == BIN_REQ_MAGIC
                                   ? exec_binary_handler() : text_start;

    conn_set_protocol(c, h);
    return h->on_input(c, buf, len);
}

static void negotiate_value(struct conn *c, struct item *it, bool valid)
{
    (void)c;
    (void)it;
    (void)valid;                  /* no request has run yet */
}

static const struct conn_handler negotiate = {
    negotiate_input, negotiate_value, NULL,
};

const struct conn_handler *protocol_handler(const struct settings *s)
{
    const struct conn_handler *ascii_auth =
        auth_ascii_handler(exec_text_handler());

    text_start = ascii_auth != NULL ? ascii_auth : exec_text_handler();
    if (strcmp(s->protocol, "binary") == 0) {
        return exec_binary_handler();
    }
    if (strcmp(s->protocol, "ascii") == 0) {
        return text_start;
    }
    return &negotiate;
}
