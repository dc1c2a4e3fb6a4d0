/*
 * peer_accept: admitting another node's connection (see peer_accept.h).
 */
#include "server/peer_accept.h"

#include <string.h>

#include "cluster/cluster.h"
#include "cluster/peer_auth.h"
#include "proto/text.h"
#include "server/auth.h"
#include "server/exec_binary.h"
#include "server/exec_text.h"

static uint64_t refused;          /* relaxed atomic */

uint64_t peer_accept_refused(void)
{
    return __atomic_load_n(&refused, __ATOMIC_RELAXED);
}

static void refuse(struct conn *c, const char *why)
{
    __atomic_add_fetch(&refused, 1, __ATOMIC_RELAXED);
    conn_out_line(c, why);
    conn_close_after_write(c);
}

static void admit(struct conn *c, bool binary)
{
    struct conn_auth *a = conn_auth(c);

    a->peer_challenged = false;
    a->authenticated = true;
    conn_set_from_peer(c);
    conn_out_line(c, "OK");
    conn_set_protocol(c, binary ? exec_binary_handler() : exec_text_handler());
}

static void on_peer(struct conn *c, struct text_token *t, size_t n)
{
    struct conn_auth *a = conn_auth(c);
    bool binary = n >= 3 && strcmp(t[2].value, "binary") == 0;

    if (n < 2 || (n >= 3 && !binary && strcmp(t[2].value, "text") != 0)) {
        conn_out_line(c, "ERROR");
        return;
    }
    if (!cluster_enabled()) {
        refuse(c, "SERVER_ERROR not in a cluster");
        return;
    }
    if (peer_auth_enabled()) {
        if (a->peer_challenged || !peer_auth_nonce(a->peer_nonce)) {
            refuse(c, "SERVER_ERROR cannot challenge");
            return;
        }
        a->peer_challenged = true;
        a->peer_binary = binary;
        conn_out(c, "CHALLENGE ", 10);
        conn_out_line(c, a->peer_nonce);
        return;
    }
    if (auth_required()) {
        refuse(c, "CLIENT_ERROR peers must authenticate: set "
                  "--cluster-key-file");
        return;
    }
    admit(c, binary);
}

bool peer_accept_line(struct conn *c, char *line, size_t len)
{
    struct conn_auth *a = conn_auth(c);
    struct text_token t[4];
    size_t n;

    if (strncmp(line, "rc_peer ", 8) != 0 &&
        strncmp(line, "rc_auth ", 8) != 0) {
        if (a->peer_challenged) {
            refuse(c, "CLIENT_ERROR authentication required");
            return true;
        }
        return false;             /* a client's line: left as it came */
    }
    if (len > 0 && line[len - 1] == '\r') {
        line[--len] = '\0';
    }
    n = text_tokenize(line, t, 4) - 1;
    if (strcmp(t[0].value, "rc_peer") == 0) {
        on_peer(c, t, n);
    } else if (!a->peer_challenged || n != 2) {
        refuse(c, "CLIENT_ERROR authentication required");
    } else if (peer_auth_verify(a->peer_nonce, a->peer_binary, t[1].value,
                                t[1].length)) {
        admit(c, a->peer_binary);
    } else {
        refuse(c, "CLIENT_ERROR authentication failure");
    }
    return true;
}
