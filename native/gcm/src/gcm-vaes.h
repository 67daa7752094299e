/*
 * AES-256-GCM on x86-64 processors with VAES and VPCLMULQDQ (512-bit registers, AVX-512F/BW/VL):
 * sixteen blocks at a time, the counter blocks of four 512-bit registers encrypted together and
 * their GHASH summed against H^16..H^1 with one reduction per sixteen blocks. Used by
 * ferry-gcm.c only where vaes_available() says the processor and the OS support it; elsewhere
 * (and with FERRY_GCM_IMPL=openssl) Node's OpenSSL does the work. The two give the same bytes.
 *
 * GHASH is computed as POLYVAL (RFC 8452, appendix A): each 16-byte block byte-reversed, the
 * key H byte-reversed and multiplied by x, the result byte-reversed back.
 */
#ifndef FERRY_GCM_VAES_H
#define FERRY_GCM_VAES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One key: its AES-256 round keys and the POLYVAL powers of H that GHASH needs. */
typedef struct {
  unsigned char round_keys[15][16];
  /* H^16..H^1 (POLYVAL form, each times x^-128 per power above the first), four to a row in
     the order of the blocks they multiply: row 0 lane 0 multiplies the first of 16 blocks. */
  unsigned char powers[4][64];
} vaes_key;

/* One segment under way: the hash so far, the next counter, a partial block's keystream. */
typedef struct {
  unsigned char hash[16];     /* POLYVAL accumulator */
  unsigned char tag_mask[16]; /* AES(K, J0), J0 = nonce || 00000001 */
  unsigned char nonce[12];
  uint32_t counter;           /* the next data block's counter (inc32: wraps modulo 2^32) */
  unsigned char keystream[16]; /* of the block partly written */
  unsigned char partial[16];   /* ciphertext of that block so far */
  size_t partial_bytes;
  uint64_t aad_bytes;
  uint64_t text_bytes;
} vaes_segment;

/* True when the processor has VAES, VPCLMULQDQ, AVX-512F/BW/VL, AES-NI and PCLMULQDQ and the OS saves 512-bit state. */
bool vaes_available(void);

/* The functions below may be called only when vaes_available() returned true. */
void vaes_init(vaes_key *key, const unsigned char raw[32]);
/* Starts a segment: its nonce (12 bytes) and associated data. */
void vaes_begin(const vaes_key *key, vaes_segment *seg, const unsigned char nonce[12], const unsigned char *aad, size_t aad_bytes);
/* Encrypts n bytes (in and out apart or the same); may be called many times between begin and final. */
void vaes_seal_update(const vaes_key *key, vaes_segment *seg, const unsigned char *in, unsigned char *out, size_t n);
/* Ends the segment: its 16-byte tag. */
void vaes_seal_final(const vaes_key *key, vaes_segment *seg, unsigned char tag[16]);
/*
 * Checks and decrypts one segment of n bytes of ciphertext. In and out may overlap in any way
 * (then the tag is checked before a byte is written, and `in` is used as work space once it
 * is). Returns false when the tag does not match: then no decrypted byte is left in `out` and
 * `in` is unchanged.
 */
bool vaes_open(const vaes_key *key, const unsigned char nonce[12], const unsigned char *aad, size_t aad_bytes, unsigned char *in, size_t n,
               const unsigned char tag[16], unsigned char *out);

#endif
