/*
 * auth: SASL (-S) and ASCII token (-Y) authentication (see auth.h).
 *
 * SASL itself is Cyrus SASL's: this file only carries the binary opcodes
 * to sasl_server_start/step and their results back, with memcached's
 * status codes. Passwords from the -Y file are compared in constant time
 * (CRYPTO_memcmp) so that response timing does not leak them.
 */
#include "config.h"
#include "server/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sasl/sasl.h>

#include "proto/text.h"
#include "server/exec_binary.h"
#include "server/peer_accept.h"
#include "util/numparse.h"

#define AUTHFILE_MAX_ENTRIES 8    /* memcached's limit */
#define AUTHFILE_MAX_LINE 256
#define SASL_MECH_MAX 32          /* memcached's MAX_SASL_MECH_LEN */
#define ASCII_AUTH_PROBE 2048     /* no newline by then: junk, close */
/* memcached reads the token into its 16 KiB read buffer and closes a
 * connection whose token and \r\n do not fit; so do we, which also keeps
 * what a client can make us buffer before it has authenticated small. */
#define ASCII_AUTH_TOKEN_MAX 16384

struct auth_entry {
    char user[AUTHFILE_MAX_LINE];
    size_t ulen;
    char pass[AUTHFILE_MAX_LINE];
    size_t plen;
};

static bool sasl_on;
static struct auth_entry entries[AUTHFILE_MAX_ENTRIES];
static size_t nentries;
static bool ascii_auth_on;
static const struct conn_handler *after_ascii_auth;
static uint64_t auth_cmds, auth_errors;

static void count(bool failed)
{
    __atomic_add_fetch(&auth_cmds, 1, __ATOMIC_RELAXED);
    if (failed) {
        __atomic_add_fetch(&auth_errors, 1, __ATOMIC_RELAXED);
    }
}

void auth_stats(uint64_t *cmds, uint64_t *errors)
{
    *cmds = __atomic_load_n(&auth_cmds, __ATOMIC_RELAXED);
    *errors = __atomic_load_n(&auth_errors, __ATOMIC_RELAXED);
}

/* ---- -Y: the token file ---------------------------------------------- */

static int load_authfile(const char *path)
{
    char line[AUTHFILE_MAX_LINE + 2];
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        fprintf(stderr, "Could not open authfile [%s] for reading, "
                "error %s\n", path, strerror(errno));
        return -1;
    }
    while (nentries < AUTHFILE_MAX_ENTRIES &&
           fgets(line, sizeof(line), f) != NULL) {
        struct auth_entry *e = &entries[nentries];
        char *colon = strchr(line, ':');
        size_t n = strcspn(line, "\r\n");

        if (colon == NULL || (size_t)(colon - line) >= n) {
            fprintf(stderr, "Authfile [%s] has a malformed entry. Should "
                    "be 'user:password'\n", path);
            fclose(f);
            return -1;
        }
        e->ulen = (size_t)(colon - line);
        memcpy(e->user, line, e->ulen);
        e->plen = n - e->ulen - 1;
        memcpy(e->pass, colon + 1, e->plen);
        nentries++;
    }
    fclose(f);
    return 0;
}

static bool authfile_check(const char *user, size_t ulen, const char *pass,
                           size_t plen)
{
    bool ok = false;
    size_t i;

    /* Every entry is compared, match or not, to keep timing flat. */
    for (i = 0; i < nentries; i++) {
        const struct auth_entry *e = &entries[i];

        if (ulen == e->ulen && plen == e->plen &&
            CRYPTO_memcmp(user, e->user, ulen) == 0 &&
            CRYPTO_memcmp(pass, e->pass, plen) == 0) {
            ok = true;
        }
    }
    return ok;
}

/* memcached reuses one response object until it is written, so of the
 * answers an unauthenticated connection earns in one batch only the last
 * is sent. Same bytes out: drop what is queued before answering. */
static void auth_reply(struct conn *c, const char *line)
{
    conn_out_discard(c);
    conn_out_line(c, line);
}

/*
 * The handler of an unauthenticated text connection. Like memcached, it
 * looks only for "set <key> <flags> <exptime> <n>\r\n" followed by n bytes
 * and \r\n; anything else is refused with "CLIENT_ERROR unauthenticated".
 */
static size_t ascii_auth_input(struct conn *c, char *buf, size_t len)
{
    struct conn_auth *a = conn_auth(c);
    struct text_token tokens[TEXT_MAX_TOKENS];
    size_t used = 0, ntokens;
    uint32_t size;
    char *nl;

    if (!a->started) {
        nl = memchr(buf, '\n', len);
        if (nl == NULL) {
            if (len > ASCII_AUTH_PROBE) {
                conn_close_now(c);
            }
            return 0;
        }
        *nl = '\0';
        used = (size_t)(nl - buf) + 1;
        /* Another node's link authenticates with the cluster key. */
        if (peer_accept_line(c, buf, used - 1)) {
            return used;
        }
        /* A trailing \r stays in the last token: memcached's number
         * parser takes it as the end of the number. */
        ntokens = text_tokenize(buf, tokens, TEXT_MAX_TOKENS);
        if (ntokens < 6 || strcmp(tokens[0].value, "set") != 0 ||
            !num_parse_u32(tokens[4].value, &size)) {
            auth_reply(c, "CLIENT_ERROR unauthenticated");
            return used;
        }
        if ((size_t)size + 2 > ASCII_AUTH_TOKEN_MAX) {
            conn_close_now(c);
            return 0;
        }
        a->started = true;
        a->token_len = (size_t)size + 2;
        /* Report progress; the token is taken on a later call. */
        return used;
    }
    if (len < a->token_len) {
        return 0;
    }
    used = a->token_len;
    a->started = false;
    if (buf[used - 2] != '\r' || buf[used - 1] != '\n') {
        auth_reply(c, "CLIENT_ERROR bad command line termination");
        return used;
    }
    buf[used - 2] = '\0';
    ntokens = text_tokenize(buf, tokens, TEXT_MAX_TOKENS);
    if (ntokens < 3) {
        auth_reply(c, "CLIENT_ERROR bad authentication token format");
        return used;
    }
    if (authfile_check(tokens[0].value, tokens[0].length, tokens[1].value,
                       tokens[1].length)) {
        count(false);
        a->authenticated = true;
        auth_reply(c, "STORED");
        conn_set_protocol(c, after_ascii_auth);
    } else {
        count(true);
        auth_reply(c, "CLIENT_ERROR authentication failure");
    }
    return used;
}

static void ascii_auth_value(struct conn *c, struct item *it, bool valid)
{
    (void)c;
    (void)it;
    (void)valid;                  /* never reads values */
}

static const struct conn_handler ascii_auth = {
    ascii_auth_input, ascii_auth_value, NULL,
};

const struct conn_handler *auth_ascii_handler(
    const struct conn_handler *next)
{
    if (!ascii_auth_on) {
        return NULL;
    }
    after_ascii_auth = next;
    return &ascii_auth;
}

/* ---- -S: SASL ------------------------------------------------------ */

/* memcached's search order for memcached.conf. */
static int sasl_conf_path(void *context, char **path)
{
    static const char *const dirs[] = { "/etc/sasl", "/etc/sasl2", NULL };
    const char *env = getenv("SASL_CONF_PATH");
    size_t i;

    (void)context;
    if (env != NULL) {
        *path = (char *)env;
        return SASL_OK;
    }
    for (i = 0; dirs[i] != NULL; i++) {
        char file[64];

        snprintf(file, sizeof(file), "%s/memcached.conf", dirs[i]);
        if (access(file, F_OK) == 0) {
            *path = (char *)dirs[i];
            return SASL_OK;
        }
    }
    fprintf(stderr, "Failed to locate a config path\n");
    return SASL_FAIL;
}

static sasl_callback_t sasl_callbacks[] = {
    { SASL_CB_GETCONFPATH, (int (*)(void))(void (*)(void))sasl_conf_path,
      NULL },
    { SASL_CB_LIST_END, NULL, NULL },
};

static void release_sasl(void *sasl)
{
    sasl_dispose((sasl_conn_t **)&sasl);
}

bool auth_required(void)
{
    return sasl_on || ascii_auth_on;
}

bool auth_sasl_enabled(void)
{
    return sasl_on;
}

bool auth_sasl_allows(struct conn *c, uint8_t opcode)
{
    switch (opcode) {
    case BIN_SASL_LIST_MECHS:
    case BIN_SASL_AUTH:
    case BIN_SASL_STEP:
    case BIN_VERSION:
        return true;
    default:
        return conn_auth(c)->authenticated;
    }
}

static sasl_conn_t *sasl_for(struct conn *c)
{
    struct conn_auth *a = conn_auth(c);
    sasl_conn_t *sc = NULL;

    if (a->sasl == NULL &&
        sasl_server_new("memcached", NULL, NULL, NULL, NULL, NULL, 0,
                        &sc) == SASL_OK) {
        a->sasl = sc;
    }
    return a->sasl;
}

void auth_sasl_request(struct conn *c, const struct bin_header *h,
                       const char *key)
{
    struct conn_auth *a = conn_auth(c);
    sasl_conn_t *sc = sasl_for(c);
    const char *out = NULL;
    const char *data = key + h->keylen;
    unsigned outlen = 0, dlen = h->bodylen - h->keylen;
    char mech[SASL_MECH_MAX + 1];
    int rc = SASL_FAIL;

    if (h->opcode == BIN_SASL_LIST_MECHS) {
        if (sc == NULL || sasl_listmech(sc, NULL, "", " ", "", &out, &outlen,
                                        NULL) != SASL_OK) {
            exec_binary_error(c, h, BIN_AUTH_ERROR);
            return;
        }
        exec_binary_reply(c, h, BIN_SUCCESS, out, outlen);
        return;
    }
    if (h->keylen > SASL_MECH_MAX) {
        exec_binary_error(c, h, BIN_EINVAL);
        return;
    }
    memcpy(mech, key, h->keylen);
    mech[h->keylen] = '\0';
    if (sc != NULL && h->opcode == BIN_SASL_AUTH) {
        rc = sasl_server_start(sc, mech, dlen ? data : NULL, dlen, &out,
                               &outlen);
        a->started = rc == SASL_OK || rc == SASL_CONTINUE;
    } else if (sc != NULL && a->started) {
        rc = sasl_server_step(sc, dlen ? data : NULL, dlen, &out, &outlen);
    }
    if (rc == SASL_OK) {
        a->authenticated = true;
        count(false);
        exec_binary_reply(c, h, BIN_SUCCESS, "Authenticated", 13);
    } else if (rc == SASL_CONTINUE) {
        exec_binary_reply(c, h, BIN_AUTH_CONTINUE, out, outlen);
    } else {
        count(true);
        exec_binary_error(c, h, BIN_AUTH_ERROR);
    }
}

int auth_setup(const struct settings *s)
{
    if (s->auth_file != NULL) {
        if (load_authfile(s->auth_file) != 0) {
            return -1;
        }
        ascii_auth_on = true;
    }
    if (s->sasl) {
        if (sasl_server_init(sasl_callbacks, "memcached") != SASL_OK) {
            fprintf(stderr, "Error initializing sasl.\n");
            return -1;
        }
        sasl_on = true;
        conn_set_auth_release(release_sasl);
    }
    return 0;
}

void auth_teardown(void)
{
    if (sasl_on) {
        sasl_server_done();
    }
}
