/*
 * hostport: address splitting (see hostport.h).
 */
#include "util/hostport.h"

#include <stdlib.h>
#include <string.h>

int hostport_split(const char *spec, size_t len, char *host, size_t cap,
                   int *port)
{
    const char *start = spec, *end = spec + len, *colon;
    char num[16];

    if (len > 0 && spec[0] == '[') {
        const char *close = memchr(spec, ']', len);

        if (close == NULL || (close + 1 != end && close[1] != ':')) {
            return -1;
        }
        start = spec + 1;
        colon = close + 1 != end ? close + 1 : NULL;
        end = close;
    } else {
        colon = memchr(spec, ':', len);
        /* Two colons or more: a bare IPv6 address, no port. */
        if (colon != NULL && memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
            colon = NULL;
        }
        if (colon != NULL) {
            end = colon;
        }
    }
    if ((size_t)(end - start) >= cap) {
        return -1;
    }
    memcpy(host, start, (size_t)(end - start));
    host[end - start] = '\0';
    if (colon != NULL) {
        size_t n = (size_t)(spec + len - colon - 1);

        if (n >= sizeof(num)) {
            return -1;
        }
        memcpy(num, colon + 1, n);
        num[n] = '\0';
        *port = atoi(num);
    }
    return 0;
}
