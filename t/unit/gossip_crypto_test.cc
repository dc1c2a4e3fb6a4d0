/*
 * gossip_crypto_test: the envelope and keyring (cluster/gossip_crypto.h):
 * plain messages carry the cluster tag; sealed ones open only under a key
 * in the ring and the same cluster name; any flipped bit fails; rotation
 * works in the documented order; key files parse strictly.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "cluster/gossip_crypto.h"

namespace {

using Bytes = std::vector<uint8_t>;

struct Key {
    uint8_t k[GOSSIP_KEY_LEN];
    explicit Key(uint8_t fill)
    {
        for (int i = 0; i < GOSSIP_KEY_LEN; i++) {
            k[i] = (uint8_t)(fill + i);
        }
    }
};

struct Ring {
    struct gossip_keyring *kr = gossip_keyring_create();
    Ring() = default;
    Ring(std::initializer_list<uint8_t> fills)
    {
        bool first = true;

        for (uint8_t f : fills) {
            Key k(f);
            EXPECT_EQ(gossip_keyring_add(kr, k.k, first), 0);
            first = false;
        }
    }
    ~Ring() { gossip_keyring_destroy(&kr); }
};

const Bytes kBody = { 5, 0, 0, 0, 1, 1, 'a', 0xff };

Bytes Seal(const struct gossip_keyring *kr, const char *cluster,
           const Bytes &body = kBody)
{
    Bytes out(body.size() + GOSSIP_ENVELOPE_SEALED);
    size_t n = gossip_seal(kr, cluster, body.data(), body.size(), out.data(),
                           out.size());

    EXPECT_EQ(n, body.size() + gossip_envelope_overhead(kr));
    out.resize(n);
    return out;
}

enum gossip_open_status Open(const struct gossip_keyring *kr,
                             const char *cluster, const Bytes &in,
                             Bytes *body = nullptr)
{
    Bytes scratch(in.size());
    const uint8_t *b = nullptr;
    size_t blen = 0;
    enum gossip_open_status st = gossip_open(kr, cluster, in.data(),
                                             in.size(), scratch.data(),
                                             scratch.size(), &b, &blen);

    if (st == GOSSIP_OPEN_OK && body != nullptr) {
        body->assign(b, b + blen);
    }
    return st;
}

TEST(GossipCrypto, PlainCarriesTheClusterName)
{
    Bytes env = Seal(nullptr, "prod"), body;

    EXPECT_EQ(env.size(), kBody.size() + GOSSIP_ENVELOPE_PLAIN);
    ASSERT_EQ(Open(nullptr, "prod", env, &body), GOSSIP_OPEN_OK);
    EXPECT_EQ(body, kBody);
    EXPECT_EQ(Open(nullptr, "staging", env), GOSSIP_OPEN_WRONG_CLUSTER);
    EXPECT_EQ(Open(nullptr, "", env), GOSSIP_OPEN_WRONG_CLUSTER);
}

TEST(GossipCrypto, SealedOpensOnlyWithKeyAndClusterName)
{
    Ring a{ 1 }, b{ 2 };
    Bytes env = Seal(a.kr, "prod"), body;

    ASSERT_EQ(Open(a.kr, "prod", env, &body), GOSSIP_OPEN_OK);
    EXPECT_EQ(body, kBody);
    EXPECT_EQ(Open(b.kr, "prod", env), GOSSIP_OPEN_AUTH);
    EXPECT_EQ(Open(a.kr, "prod2", env), GOSSIP_OPEN_AUTH);
    EXPECT_EQ(Open(nullptr, "prod", env), GOSSIP_OPEN_NO_KEY);
    /* A keyed node refuses unsealed traffic, even of its own cluster. */
    EXPECT_EQ(Open(a.kr, "prod", Seal(nullptr, "prod")),
              GOSSIP_OPEN_UNSEALED);
    /* The body does not appear in clear. */
    EXPECT_EQ(std::search(env.begin(), env.end(), kBody.begin(),
                          kBody.end()),
              env.end());
}

TEST(GossipCrypto, EveryFlippedBitFails)
{
    Ring a{ 1 };
    Bytes env = Seal(a.kr, "prod");

    for (size_t i = 0; i < env.size(); i++) {
        for (int bit = 0; bit < 8; bit++) {
            Bytes t = env;

            t[i] ^= (uint8_t)(1 << bit);
            EXPECT_NE(Open(a.kr, "prod", t), GOSSIP_OPEN_OK)
                << "byte " << i << " bit " << bit;
        }
    }
    for (size_t n = 0; n < env.size(); n++) {
        EXPECT_NE(Open(a.kr, "prod", Bytes(env.begin(), env.begin() + n)),
                  GOSSIP_OPEN_OK) << n;
    }
}

TEST(GossipCrypto, NoncesAreFreshAndEmptyBodiesWork)
{
    Ring a{ 1 };
    Bytes x = Seal(a.kr, "c"), y = Seal(a.kr, "c"), e = Seal(a.kr, "c", {});
    Bytes body = { 1 };

    EXPECT_NE(Bytes(x.begin() + 2, x.begin() + 14),
              Bytes(y.begin() + 2, y.begin() + 14));
    ASSERT_EQ(Open(a.kr, "c", e, &body), GOSSIP_OPEN_OK);
    EXPECT_TRUE(body.empty());
}

TEST(GossipCrypto, KeyRotation)
{
    Ring a{ 1 }, b{ 1 };
    Key k1(1), k2(2);

    /* 1. install k2 everywhere as a secondary: both still seal with k1 */
    ASSERT_EQ(gossip_keyring_add(a.kr, k2.k, false), 0);
    ASSERT_EQ(gossip_keyring_add(b.kr, k2.k, false), 0);
    EXPECT_EQ(Open(b.kr, "c", Seal(a.kr, "c")), GOSSIP_OPEN_OK);
    /* 2. make k2 primary on a: b opens it with its secondary */
    ASSERT_EQ(gossip_keyring_add(a.kr, k2.k, true), 0);
    EXPECT_EQ(gossip_keyring_count(a.kr), 2u);
    EXPECT_EQ(Open(b.kr, "c", Seal(a.kr, "c")), GOSSIP_OPEN_OK);
    EXPECT_EQ(Open(a.kr, "c", Seal(b.kr, "c")), GOSSIP_OPEN_OK);
    /* 3. primary everywhere, then drop k1 */
    ASSERT_EQ(gossip_keyring_add(b.kr, k2.k, true), 0);
    EXPECT_EQ(gossip_keyring_remove(a.kr, k1.k), 0);
    EXPECT_EQ(gossip_keyring_remove(a.kr, k2.k), -1);  /* the primary */
    EXPECT_EQ(Open(a.kr, "c", Seal(b.kr, "c")), GOSSIP_OPEN_OK);

    /* A message sealed with a retired key no longer opens. */
    Ring old{ 1 };
    EXPECT_EQ(Open(a.kr, "c", Seal(old.kr, "c")), GOSSIP_OPEN_AUTH);

    /* The ring is bounded. */
    Ring full;
    for (int i = 0; i < GOSSIP_KEYRING_MAX; i++) {
        Key k((uint8_t)(10 + i));
        EXPECT_EQ(gossip_keyring_add(full.kr, k.k, false), 0);
    }
    Key extra(100);
    EXPECT_EQ(gossip_keyring_add(full.kr, extra.k, false), -1);
}

TEST(GossipCrypto, OtherVersionsAndModesAreRefused)
{
    Bytes env = Seal(nullptr, "c");

    env[0] = GOSSIP_WIRE_VERSION + 1;
    EXPECT_EQ(Open(nullptr, "c", env), GOSSIP_OPEN_VERSION);
    env = Seal(nullptr, "c");
    env[1] = 7;
    EXPECT_EQ(Open(nullptr, "c", env), GOSSIP_OPEN_MALFORMED);
    EXPECT_EQ(Open(nullptr, "c", Bytes{ GOSSIP_WIRE_VERSION }),
              GOSSIP_OPEN_MALFORMED);
    EXPECT_EQ(Open(nullptr, "c", Bytes{ GOSSIP_WIRE_VERSION, 0, 1 }),
              GOSSIP_OPEN_MALFORMED);

    /* Output that does not fit is refused, not truncated. */
    uint8_t out[GOSSIP_ENVELOPE_PLAIN + 2];
    EXPECT_EQ(gossip_seal(nullptr, "c", kBody.data(), kBody.size(), out,
                          sizeof(out)), 0u);
}

TEST(GossipCrypto, KeyFileParsing)
{
    std::string k1(64, 'a'), k2 = "00112233445566778899AABBCCDDEEFF"
                                  "00112233445566778899aabbccddeeff";
    std::string text = "# cluster keys\n\n  " + k1 + "  \r\n" + k2 + "\n";
    Ring r;

    EXPECT_EQ(gossip_keyring_parse(r.kr, text.data(), text.size()), 2);
    EXPECT_EQ(gossip_keyring_count(r.kr), 2u);

    /* The first key is primary: a ring holding only k1 opens its seal. */
    Ring only1;
    std::string t1 = k1 + "\n";
    ASSERT_EQ(gossip_keyring_parse(only1.kr, t1.data(), t1.size()), 1);
    EXPECT_EQ(Open(only1.kr, "c", Seal(r.kr, "c")), GOSSIP_OPEN_OK);

    for (std::string bad : { k1.substr(1), k1 + "0", "zz" + k1.substr(2),
                             k1 + " x" }) {
        Ring x;
        std::string t = k2 + "\n" + bad + "\n";
        EXPECT_EQ(gossip_keyring_parse(x.kr, t.data(), t.size()), -1) << bad;
        EXPECT_EQ(gossip_keyring_count(x.kr), 0u) << "nothing added";
    }
    Ring none;
    EXPECT_EQ(gossip_keyring_parse(none.kr, "# only\n", 7), 0);
}

}  // namespace
