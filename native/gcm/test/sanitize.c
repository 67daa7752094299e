/*
 * gcm-vaes.c under AddressSanitizer and UndefinedBehaviorSanitizer, against OpenSSL's
 * AES-256-GCM (the system's libcrypto): 20,000 random keys, nonces, AAD (0..299 bytes) and
 * texts (0..1199 bytes, then up to 70,000), every buffer on the heap at its exact size so that
 * a read or write past it is caught. Sealed piece by piece at random cuts; opened apart and
 * overlapping its ciphertext (shifted -40..40 bytes); a changed byte refused with the
 * ciphertext left unchanged. Not part of `npm test` (it needs a compiler with the sanitizers
 * and libssl-dev); run it after changing gcm-vaes.c, on a processor with VAES:
 *
 *   gcc -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -Inative/gcm/src \
 *     -o /tmp/gcm-sanitize native/gcm/test/sanitize.c native/gcm/src/gcm-vaes.c -lcrypto && /tmp/gcm-sanitize
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcm-vaes.h"

static void reference(const unsigned char *key, const unsigned char *nonce, const unsigned char *aad, size_t aad_bytes, const unsigned char *plain, size_t n,
                      unsigned char *out) {
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int len;
  EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce);
  if (aad_bytes > 0) EVP_EncryptUpdate(c, NULL, &len, aad, (int)aad_bytes);
  if (n > 0) EVP_EncryptUpdate(c, out, &len, plain, (int)n);
  EVP_EncryptFinal_ex(c, out + n, &len);
  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + n);
  EVP_CIPHER_CTX_free(c);
}

static unsigned char *heap(const unsigned char *from, size_t n) {
  unsigned char *d = malloc(n > 0 ? n : 1);
  if (from != NULL && n > 0) memcpy(d, from, n);
  return d;
}

static unsigned char *random_bytes(size_t n) {
  unsigned char *d = heap(NULL, n);
  if (n > 0) RAND_bytes(d, (int)n);
  return d;
}

/* Seals through begin/update/final, each piece its own exact-size heap buffer. */
static void seal_in_pieces(const vaes_key *k, const unsigned char *nonce, const unsigned char *aad, size_t aad_bytes, const unsigned char *plain, size_t n,
                           unsigned char *out) {
  vaes_segment s;
  vaes_begin(k, &s, nonce, aad, aad_bytes);
  for (size_t at = 0; at < n;) {
    size_t m = rand() % 4 == 0 ? (size_t)(rand() % 20) : (size_t)(rand() % (n - at + 1));
    if (m > n - at) m = n - at;
    unsigned char *piece = heap(plain + at, m), *o = heap(NULL, m);
    vaes_seal_update(k, &s, piece, o, m);
    if (m > 0) memcpy(out + at, o, m);
    free(piece);
    free(o);
    at += m;
  }
  unsigned char *tag = heap(NULL, 16);
  vaes_seal_final(k, &s, tag);
  memcpy(out + n, tag, 16);
  free(tag);
}

int main(void) {
  if (!vaes_available()) {
    puts("this processor has no VAES: nothing to check");
    return 1;
  }
  int bad = 0;
  for (int t = 0; t < 20000; t++) {
    unsigned char key[32], nonce[12];
    RAND_bytes(key, 32);
    RAND_bytes(nonce, 12);
    size_t aad_bytes = (size_t)(rand() % 300), n = t < 15000 ? (size_t)(rand() % 1200) : (size_t)(rand() % 70000);
    unsigned char *aad = random_bytes(aad_bytes), *plain = random_bytes(n), *expected = heap(NULL, n + 16), *sealed = heap(NULL, n + 16);
    reference(key, nonce, aad, aad_bytes, plain, n, expected);
    vaes_key k;
    vaes_init(&k, key);
    seal_in_pieces(&k, nonce, aad, aad_bytes, plain, n, sealed);
    if (memcmp(sealed, expected, n + 16) != 0) bad++, printf("seal: n %zu aad %zu\n", n, aad_bytes);
    unsigned char *ct = heap(expected, n), *pt = heap(NULL, n);
    if (!vaes_open(&k, nonce, aad, aad_bytes, ct, n, expected + n, pt) || (n > 0 && memcmp(pt, plain, n) != 0)) bad++, printf("open apart: n %zu\n", n);
    int shift = rand() % 81 - 40;
    size_t base = 64;
    unsigned char *buf = heap(NULL, n + 128);
    memcpy(buf + base, expected, n);
    if (!vaes_open(&k, nonce, aad, aad_bytes, buf + base, n, expected + n, buf + base + shift) || (n > 0 && memcmp(buf + base + shift, plain, n) != 0)) {
      bad++, printf("open overlapping: n %zu shift %d\n", n, shift);
    }
    if (n > 0) {
      memcpy(buf + base, expected, n);
      buf[base + (size_t)rand() % n] ^= 1;
      unsigned char *before = heap(buf + base, n);
      if (vaes_open(&k, nonce, aad, aad_bytes, buf + base, n, expected + n, buf + base + shift) || memcmp(before, buf + base, n) != 0) bad++, printf("tampered: n %zu\n", n);
      free(before);
    }
    free(buf), free(ct), free(pt), free(sealed), free(expected), free(aad), free(plain);
  }
  printf("%d of 20000 failed\n", bad);
  return bad != 0;
}
