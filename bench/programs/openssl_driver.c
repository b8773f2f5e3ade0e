/* openssl: drives the static libcrypto (OpenSSL 3) through its EVP interfaces.
 * Fills 256 KiB with a fixed pseudo-random pattern, then prints
 *   - the digests SHA-256, SHA-512, SHA3-256, BLAKE2b-512, MD5 and SHAKE128 of it,
 *   - HMAC-SHA256 of it (EVP_MAC), and a PBKDF2-HMAC-SHA256 key (2,000 iterations),
 *   - the SHA-256 of its AES-256-CBC, AES-256-GCM (with the tag) and
 *     ChaCha20-Poly1305 encryptions under fixed keys, and that each decrypts back,
 *   - a BIGNUM modular exponentiation,
 * all as hex. Everything is deterministic (no RNG is used).
 * Exit status 0, or 1 with a message when an OpenSSL call fails. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA_SIZE (256 * 1024)

static unsigned char data[DATA_SIZE];
static unsigned char out[DATA_SIZE + 64];
static unsigned char back[DATA_SIZE + 64];

static void fail(const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    printf("openssl error in %s: %s\n", what, e ? buf : "?");
    exit(1);
}

static void print_hex(const char *label, const unsigned char *p, size_t n)
{
    printf("%-22s ", label);
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
}

static void digest(const char *name, const unsigned char *p, size_t n, size_t xof_len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD *md_type = EVP_MD_fetch(NULL, name, NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!md_type || !ctx || !EVP_DigestInit_ex(ctx, md_type, NULL) || !EVP_DigestUpdate(ctx, p, n))
        fail(name);
    if (xof_len) {
        if (!EVP_DigestFinalXOF(ctx, md, xof_len))
            fail(name);
        len = (unsigned int)xof_len;
    } else if (!EVP_DigestFinal_ex(ctx, md, &len)) {
        fail(name);
    }
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md_type);
    print_hex(name, md, len);
}

static void sha256_of(const char *label, const unsigned char *p, size_t n)
{
    unsigned char md[32];
    unsigned int len = 0;
    if (!EVP_Digest(p, n, md, &len, EVP_sha256(), NULL))
        fail(label);
    print_hex(label, md, len);
}

/* Encrypts data with CIPHER, prints the SHA-256 of the ciphertext (and the AEAD
 * tag), decrypts it again and checks that the plaintext comes back. */
static void cipher(const char *name, const unsigned char *key, const unsigned char *iv, int aead)
{
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char tag[16];
    static const unsigned char aad[] = "jitld bench associated data";
    int n = 0, m = 0;
    if (!c || !ctx || !EVP_EncryptInit_ex2(ctx, c, key, iv, NULL))
        fail(name);
    if (aead && !EVP_EncryptUpdate(ctx, NULL, &n, aad, sizeof aad - 1))
        fail(name);
    if (!EVP_EncryptUpdate(ctx, out, &n, data, DATA_SIZE) || !EVP_EncryptFinal_ex(ctx, out + n, &m))
        fail(name);
    int clen = n + m;
    char label[64];
    snprintf(label, sizeof label, "%s sha256", name);
    sha256_of(label, out, (size_t)clen);
    if (aead) {
        if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, sizeof tag, tag))
            fail(name);
        snprintf(label, sizeof label, "%s tag", name);
        print_hex(label, tag, sizeof tag);
    }
    if (!EVP_DecryptInit_ex2(ctx, c, key, iv, NULL))
        fail(name);
    if (aead && (!EVP_DecryptUpdate(ctx, NULL, &n, aad, sizeof aad - 1) ||
                 !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, sizeof tag, tag)))
        fail(name);
    if (!EVP_DecryptUpdate(ctx, back, &n, out, clen) || !EVP_DecryptFinal_ex(ctx, back + n, &m))
        fail(name);
    printf("%-22s %s (%d bytes)\n", name, n + m == DATA_SIZE && !memcmp(back, data, DATA_SIZE) ? "round trip ok" : "ROUND TRIP FAILED", clen);
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(c);
}

static void hmac(void)
{
    static const unsigned char key[] = "an HMAC key of some length";
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t len = 0;
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
    if (!ctx || !EVP_MAC_init(ctx, key, sizeof key - 1, params) || !EVP_MAC_update(ctx, data, DATA_SIZE) ||
        !EVP_MAC_final(ctx, mac, &len, sizeof mac))
        fail("HMAC");
    print_hex("HMAC-SHA256", mac, len);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
}

static void pbkdf2(void)
{
    unsigned char key[32];
    static const unsigned char salt[] = "NaCl and pepper";
    if (!PKCS5_PBKDF2_HMAC("correct horse battery staple", -1, salt, sizeof salt - 1, 2000, EVP_sha256(),
                           sizeof key, key))
        fail("PBKDF2");
    print_hex("PBKDF2-SHA256", key, sizeof key);
}

static void bignum(void)
{
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *base = NULL, *exp = NULL, *mod = NULL, *r = BN_new();
    if (!ctx || !r || !BN_hex2bn(&base, "123456789abcdef0fedcba9876543210") || !BN_dec2bn(&exp, "65537") ||
        !BN_hex2bn(&mod, "f7e75fdc469067ffdc4e847c51f452df"
                         "ab4d1a5d0ff6a1c1fbb1a4ae4a6c8e2b"
                         "0b8b5b1a37d1a4c8f9d2b7e3c5a69b1d"
                         "e3f1c7b5a99d2e4f6a8c0b1d3e5f7a9b") ||
        !BN_mod_exp(r, base, exp, mod, ctx))
        fail("BN_mod_exp");
    char *hex = BN_bn2hex(r);
    printf("%-22s %s\n", "BN_mod_exp", hex);
    OPENSSL_free(hex);
    BN_free(base);
    BN_free(exp);
    BN_free(mod);
    BN_free(r);
    BN_CTX_free(ctx);
}

int main(void)
{
    unsigned x = 0x9e3779b9u;
    for (size_t i = 0; i < DATA_SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (unsigned char)(x >> 11);
    }
    printf("OpenSSL major version %d\n", OPENSSL_VERSION_MAJOR);
    digest("SHA256", data, DATA_SIZE, 0);
    digest("SHA512", data, DATA_SIZE, 0);
    digest("SHA3-256", data, DATA_SIZE, 0);
    digest("BLAKE2B-512", data, DATA_SIZE, 0);
    digest("MD5", data, DATA_SIZE, 0);
    digest("SHAKE128", data, DATA_SIZE, 24);
    hmac();
    pbkdf2();

    unsigned char key[32], iv[16];
    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)(i * 7 + 1);
    for (int i = 0; i < 16; i++)
        iv[i] = (unsigned char)(0xa0 + i);
    cipher("AES-256-CBC", key, iv, 0);
    cipher("AES-256-GCM", key, iv, 1);
    cipher("ChaCha20-Poly1305", key, iv, 1);
    bignum();
    return 0;
}
