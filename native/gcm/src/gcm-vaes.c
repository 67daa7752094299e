/*
 * AES-256-GCM with VAES and VPCLMULQDQ on 512-bit registers (see gcm-vaes.h for the contract).
 *
 * Layout. A 512-bit register holds four 16-byte blocks, block order = lane order (lane 0 is the
 * lowest address). The main loop takes 256 bytes (16 blocks, 4 registers) at a time: the 16
 * counter blocks go through the 14 AES rounds together, and the 16 ciphertext blocks are hashed
 * as sum(X_i * H^(17-i)) with the running hash added to X_1, using precomputed powers of H,
 * carry-less products of each lane summed unreduced and one reduction at the end.
 *
 * POLYVAL. With every GHASH block byte-reversed, a block is a polynomial whose x^0 coefficient
 * is bit 0 of byte 0, the layout PCLMULQDQ works on; POLYVAL's product is
 * dot(a, b) = a * b * x^-128 mod P, P = x^128 + x^127 + x^126 + x^121 + 1, and
 * GHASH(H, X) = reverse(POLYVAL(mulX(reverse(H)), reverse(X_1), ...)) (RFC 8452, appendix A).
 * x^-128 is two Montgomery steps of 64 bits: since x^-64 = x^64 + x^63 + x^62 + x^57 (mod P),
 * v * x^-64 = swap64(v) + clmul(low64(v), 0xc200000000000000) for a 128-bit v.
 */
#include "gcm-vaes.h"

#include <openssl/crypto.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) ? __clang_major__ >= 8 : (defined(__GNUC__) && __GNUC__ >= 10))

#include <cpuid.h>
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,vaes,vpclmulqdq,aes,pclmul,ssse3,sse4.1")))
#define INLINE static inline __attribute__((always_inline)) TARGET

#define GROUP_BYTES 256

/* ---- processor support ---- */

static uint64_t xcr0(void) {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((uint64_t)edx << 32) | eax;
}

bool vaes_available(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  /* PCLMULQDQ (1), SSSE3 (9), SSE4.1 (19), AES (25), OSXSAVE (27), AVX (28). */
  const unsigned leaf1 = 1u << 1 | 1u << 9 | 1u << 19 | 1u << 25 | 1u << 27 | 1u << 28;
  if ((c & leaf1) != leaf1) return false;
  /* The OS saves SSE (bit 1), AVX (2), opmask (5) and all 512-bit register state (6, 7). */
  if ((xcr0() & 0xe6) != 0xe6) return false;
  if (__get_cpuid_max(0, NULL) < 7) return false;
  __cpuid_count(7, 0, a, b, c, d);
  /* AVX512F (16), AVX512BW (30), AVX512VL (31); VAES (9), VPCLMULQDQ (10). */
  const unsigned leaf7b = 1u << 16 | 1u << 30 | 1u << 31;
  const unsigned leaf7c = 1u << 9 | 1u << 10;
  return (b & leaf7b) == leaf7b && (c & leaf7c) == leaf7c;
}

/* ---- AES-256 ---- */

INLINE __m128i expand_step(__m128i two_back, __m128i assist) {
  two_back = _mm_xor_si128(two_back, _mm_slli_si128(two_back, 4));
  two_back = _mm_xor_si128(two_back, _mm_slli_si128(two_back, 4));
  two_back = _mm_xor_si128(two_back, _mm_slli_si128(two_back, 4));
  return _mm_xor_si128(two_back, assist);
}

/* Round key i from the two before it: even i with SubWord(RotWord(w)) ^ rcon, odd i with SubWord(w). */
#define EXPAND_EVEN(rk, i, rcon) rk[i] = expand_step(rk[(i) - 2], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[(i) - 1], rcon), 0xff))
#define EXPAND_ODD(rk, i) rk[i] = expand_step(rk[(i) - 2], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[(i) - 1], 0), 0xaa))

INLINE __m128i aes_block(const vaes_key *key, __m128i block) {
  block = _mm_xor_si128(block, _mm_loadu_si128((const __m128i *)key->round_keys[0]));
  for (int r = 1; r < 14; r++) block = _mm_aesenc_si128(block, _mm_loadu_si128((const __m128i *)key->round_keys[r]));
  return _mm_aesenclast_si128(block, _mm_loadu_si128((const __m128i *)key->round_keys[14]));
}

/* ---- POLYVAL arithmetic ---- */

INLINE __m128i reverse_bytes(__m128i v) {
  return _mm_shuffle_epi8(v, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

/* (hi * x^128 + lo) * x^-128 mod P. */
INLINE __m128i reduce(__m128i lo, __m128i hi) {
  const __m128i c = _mm_set_epi64x(0, (long long)0xc200000000000000ULL);
  lo = _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4e), _mm_clmulepi64_si128(lo, c, 0x00));
  lo = _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4e), _mm_clmulepi64_si128(lo, c, 0x00));
  return _mm_xor_si128(hi, lo);
}

INLINE __m128i dot(__m128i a, __m128i b) {
  __m128i lo = _mm_clmulepi64_si128(a, b, 0x00);
  __m128i hi = _mm_clmulepi64_si128(a, b, 0x11);
  __m128i mid = _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01), _mm_clmulepi64_si128(a, b, 0x10));
  return reduce(_mm_xor_si128(lo, _mm_slli_si128(mid, 8)), _mm_xor_si128(hi, _mm_srli_si128(mid, 8)));
}

/* v * x mod P, without a branch on the key. */
INLINE __m128i times_x(__m128i v) {
  uint64_t lo = (uint64_t)_mm_cvtsi128_si64(v);
  uint64_t hi = (uint64_t)_mm_extract_epi64(v, 1);
  uint64_t carry = 0 - (hi >> 63);
  hi = (hi << 1 | lo >> 63) ^ (carry & 0xc200000000000000ULL);
  lo = (lo << 1) ^ (carry & 1);
  return _mm_set_epi64x((long long)hi, (long long)lo);
}

INLINE __m512i reverse_lanes_bytes(__m512i v) {
  const __m512i m = _mm512_broadcast_i32x4(_mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  return _mm512_shuffle_epi8(v, m);
}

#define CLMUL4(a, b, which) _mm512_clmulepi64_epi128(a, b, which)

/*
 * The hash after 16 more blocks (d0..d3, already byte-reversed, block order): reduce of
 * (s + X_1) * H^16 + X_2 * H^15 + ... + X_16 * H^1, h holding the powers in that order.
 */
INLINE __m128i hash16(const __m512i h[4], __m128i s, __m512i d0, __m512i d1, __m512i d2, __m512i d3) {
  d0 = _mm512_xor_si512(d0, _mm512_inserti32x4(_mm512_setzero_si512(), s, 0));
  __m512i lo = _mm512_ternarylogic_epi64(CLMUL4(d0, h[0], 0x00), CLMUL4(d1, h[1], 0x00), CLMUL4(d2, h[2], 0x00), 0x96);
  __m512i hi = _mm512_ternarylogic_epi64(CLMUL4(d0, h[0], 0x11), CLMUL4(d1, h[1], 0x11), CLMUL4(d2, h[2], 0x11), 0x96);
  __m512i mid = _mm512_ternarylogic_epi64(CLMUL4(d0, h[0], 0x01), CLMUL4(d0, h[0], 0x10), CLMUL4(d1, h[1], 0x01), 0x96);
  mid = _mm512_ternarylogic_epi64(mid, CLMUL4(d1, h[1], 0x10), CLMUL4(d2, h[2], 0x01), 0x96);
  mid = _mm512_ternarylogic_epi64(mid, CLMUL4(d2, h[2], 0x10), CLMUL4(d3, h[3], 0x01), 0x96);
  mid = _mm512_xor_si512(mid, CLMUL4(d3, h[3], 0x10));
  lo = _mm512_ternarylogic_epi64(lo, CLMUL4(d3, h[3], 0x00), _mm512_bslli_epi128(mid, 8), 0x96);
  hi = _mm512_ternarylogic_epi64(hi, CLMUL4(d3, h[3], 0x11), _mm512_bsrli_epi128(mid, 8), 0x96);
  /* The four lanes' sums, then one reduction (reducing is linear). */
  __m256i lo2 = _mm256_xor_si256(_mm512_castsi512_si256(lo), _mm512_extracti64x4_epi64(lo, 1));
  __m256i hi2 = _mm256_xor_si256(_mm512_castsi512_si256(hi), _mm512_extracti64x4_epi64(hi, 1));
  __m128i lo1 = _mm_xor_si128(_mm256_castsi256_si128(lo2), _mm256_extracti128_si256(lo2, 1));
  __m128i hi1 = _mm_xor_si128(_mm256_castsi256_si128(hi2), _mm256_extracti128_si256(hi2, 1));
  return reduce(lo1, hi1);
}

INLINE void load_powers(const vaes_key *key, __m512i h[4]) {
  for (int i = 0; i < 4; i++) h[i] = _mm512_loadu_si512(key->powers[i]);
}

/* ---- counters ---- */

/* Four counter registers' worth of state: lanes nonce || counter, the counter little-endian (for adding). */
INLINE __m512i counters(const vaes_segment *seg) {
  unsigned char b[16];
  memcpy(b, seg->nonce, 12);
  memcpy(b + 12, &seg->counter, 4);
  __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)b));
  return _mm512_add_epi32(v, _mm512_set_epi32(3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0));
}

INLINE __m512i add_blocks(__m512i ctr, int n) {
  return _mm512_add_epi32(ctr, _mm512_set_epi32(n, 0, 0, 0, n, 0, 0, 0, n, 0, 0, 0, n, 0, 0, 0));
}

/* The counter blocks as AES takes them: the counter big-endian. */
INLINE __m512i counter_blocks(__m512i ctr) {
  return _mm512_shuffle_epi8(ctr, _mm512_broadcast_i32x4(_mm_set_epi8(12, 13, 14, 15, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)));
}

/* AES of 16 counter blocks (ctr, ctr+4, ctr+8, ctr+12 lane-wise). */
INLINE void keystream16(const __m512i rk[15], __m512i ctr, __m512i x[4]) {
  for (int i = 0; i < 4; i++) x[i] = _mm512_xor_si512(counter_blocks(add_blocks(ctr, 4 * i)), rk[0]);
  for (int r = 1; r < 14; r++) {
    for (int i = 0; i < 4; i++) x[i] = _mm512_aesenc_epi128(x[i], rk[r]);
  }
  for (int i = 0; i < 4; i++) x[i] = _mm512_aesenclast_epi128(x[i], rk[14]);
}

INLINE void load_round_keys(const vaes_key *key, __m512i rk[15]) {
  for (int r = 0; r < 15; r++) rk[r] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)key->round_keys[r]));
}

/* ---- whole groups of 16 blocks ---- */

enum mode { SEAL, OPEN, CRYPT_ONLY, HASH_ONLY };

/*
 * `groups` times 256 bytes from in: SEAL encrypts to out and hashes what it wrote; OPEN hashes
 * what it reads and decrypts to out; CRYPT_ONLY only en/decrypts; HASH_ONLY only hashes `in`.
 * Each group is read whole before any of it is written, so out may be in itself or before it.
 */
INLINE void groups_of_16(const vaes_key *key, vaes_segment *seg, const unsigned char *in, unsigned char *out, size_t groups, enum mode mode) {
  __m512i rk[15], h[4];
  if (mode != HASH_ONLY) load_round_keys(key, rk);
  if (mode != CRYPT_ONLY) load_powers(key, h);
  __m128i s = _mm_loadu_si128((const __m128i *)seg->hash);
  __m512i ctr = counters(seg);
  /* Sealing hashes each group's ciphertext while the next group's counters are encrypted. */
  __m512i written[4];
  for (size_t g = 0; g < groups; g++, in += GROUP_BYTES, out += GROUP_BYTES) {
    __m512i p[4], x[4];
    for (int i = 0; i < 4; i++) p[i] = _mm512_loadu_si512(in + 64 * i);
    if (mode != HASH_ONLY) {
      keystream16(rk, ctr, x);
      ctr = add_blocks(ctr, 16);
    }
    if (mode == SEAL && g > 0) s = hash16(h, s, written[0], written[1], written[2], written[3]);
    if (mode == OPEN || mode == HASH_ONLY) s = hash16(h, s, reverse_lanes_bytes(p[0]), reverse_lanes_bytes(p[1]), reverse_lanes_bytes(p[2]), reverse_lanes_bytes(p[3]));
    if (mode == HASH_ONLY) continue;
    for (int i = 0; i < 4; i++) {
      x[i] = _mm512_xor_si512(x[i], p[i]);
      _mm512_storeu_si512(out + 64 * i, x[i]);
      written[i] = reverse_lanes_bytes(x[i]);
    }
  }
  if (mode == SEAL && groups > 0) s = hash16(h, s, written[0], written[1], written[2], written[3]);
  _mm_storeu_si128((__m128i *)seg->hash, s);
  if (mode != HASH_ONLY) seg->counter += (uint32_t)(groups * 16);
}

/* The four specialisations, so that each loop is compiled without the mode's tests. */
static TARGET void seal_groups(const vaes_key *k, vaes_segment *s, const unsigned char *in, unsigned char *out, size_t g) { groups_of_16(k, s, in, out, g, SEAL); }
static TARGET void open_groups(const vaes_key *k, vaes_segment *s, const unsigned char *in, unsigned char *out, size_t g) { groups_of_16(k, s, in, out, g, OPEN); }
static TARGET void crypt_groups(const vaes_key *k, vaes_segment *s, const unsigned char *in, unsigned char *out, size_t g) { groups_of_16(k, s, in, out, g, CRYPT_ONLY); }
static TARGET void hash_groups(const vaes_key *k, vaes_segment *s, const unsigned char *in, size_t g) { groups_of_16(k, s, in, NULL, g, HASH_ONLY); }

/* ---- what is left after the groups (under 256 bytes) ---- */

/* Hashes n bytes (1..256), the last block padded with zeros: laid out at the end of 16 blocks. */
static TARGET void hash_tail(const vaes_key *key, vaes_segment *seg, const unsigned char *data, size_t n) {
  if (n == 0) return;
  unsigned char buf[GROUP_BYTES] = {0};
  size_t at = GROUP_BYTES - (n + 15) / 16 * 16;
  memcpy(buf + at, data, n);
  /* The hash so far joins the first block (the zero blocks before it add nothing). */
  __m128i first = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(buf + at)), reverse_bytes(_mm_loadu_si128((const __m128i *)seg->hash)));
  _mm_storeu_si128((__m128i *)(buf + at), first);
  __m512i h[4], d[4];
  load_powers(key, h);
  for (int i = 0; i < 4; i++) d[i] = reverse_lanes_bytes(_mm512_loadu_si512(buf + 64 * i));
  _mm_storeu_si128((__m128i *)seg->hash, hash16(h, _mm_setzero_si128(), d[0], d[1], d[2], d[3]));
  OPENSSL_cleanse(buf, sizeof buf);
}

/* En/decrypts n bytes (1..256) from the segment's counter; advances it by the blocks begun. */
static TARGET void crypt_tail(const vaes_key *key, vaes_segment *seg, const unsigned char *in, unsigned char *out, size_t n) {
  if (n == 0) return;
  unsigned char buf[GROUP_BYTES] = {0};
  memcpy(buf, in, n);
  __m512i rk[15], x[4];
  load_round_keys(key, rk);
  keystream16(rk, counters(seg), x);
  for (int i = 0; i < 4; i++) _mm512_storeu_si512(buf + 64 * i, _mm512_xor_si512(x[i], _mm512_loadu_si512(buf + 64 * i)));
  memcpy(out, buf, n);
  seg->counter += (uint32_t)((n + 15) / 16);
  OPENSSL_cleanse(buf, sizeof buf);
  OPENSSL_cleanse(x, sizeof x);
}

static TARGET void hash_bytes(const vaes_key *key, vaes_segment *seg, const unsigned char *data, size_t n) {
  size_t groups = n / GROUP_BYTES;
  hash_groups(key, seg, data, groups);
  hash_tail(key, seg, data + groups * GROUP_BYTES, n - groups * GROUP_BYTES);
}

/* ---- the contract ---- */

TARGET void vaes_init(vaes_key *key, const unsigned char raw[32]) {
  __m128i rk[15];
  rk[0] = _mm_loadu_si128((const __m128i *)raw);
  rk[1] = _mm_loadu_si128((const __m128i *)(raw + 16));
  EXPAND_EVEN(rk, 2, 0x01);
  EXPAND_ODD(rk, 3);
  EXPAND_EVEN(rk, 4, 0x02);
  EXPAND_ODD(rk, 5);
  EXPAND_EVEN(rk, 6, 0x04);
  EXPAND_ODD(rk, 7);
  EXPAND_EVEN(rk, 8, 0x08);
  EXPAND_ODD(rk, 9);
  EXPAND_EVEN(rk, 10, 0x10);
  EXPAND_ODD(rk, 11);
  EXPAND_EVEN(rk, 12, 0x20);
  EXPAND_ODD(rk, 13);
  EXPAND_EVEN(rk, 14, 0x40);
  for (int r = 0; r < 15; r++) _mm_storeu_si128((__m128i *)key->round_keys[r], rk[r]);
  /* H = AES(K, 0); POLYVAL's key is mulX(reverse(H)); its powers for 16 blocks. */
  __m128i h1 = times_x(reverse_bytes(aes_block(key, _mm_setzero_si128())));
  __m128i power = h1;
  for (int p = 1; p <= 16; p++) {
    int position = 16 - p; /* the block (0..15 in a group) that H^p multiplies */
    _mm_storeu_si128((__m128i *)(key->powers[position / 4] + 16 * (position % 4)), power);
    power = dot(power, h1);
  }
  OPENSSL_cleanse(rk, sizeof rk);
}

TARGET void vaes_begin(const vaes_key *key, vaes_segment *seg, const unsigned char nonce[12], const unsigned char *aad, size_t aad_bytes) {
  memset(seg, 0, sizeof *seg);
  memcpy(seg->nonce, nonce, 12);
  unsigned char j0[16] = {0};
  memcpy(j0, nonce, 12);
  j0[15] = 1;
  _mm_storeu_si128((__m128i *)seg->tag_mask, aes_block(key, _mm_loadu_si128((const __m128i *)j0)));
  seg->counter = 2;
  seg->aad_bytes = aad_bytes;
  hash_bytes(key, seg, aad, aad_bytes);
}

TARGET void vaes_seal_update(const vaes_key *key, vaes_segment *seg, const unsigned char *in, unsigned char *out, size_t n) {
  seg->text_bytes += n;
  /* The rest of a block begun by the last update. */
  if (seg->partial_bytes > 0) {
    size_t m = 16 - seg->partial_bytes < n ? 16 - seg->partial_bytes : n;
    for (size_t i = 0; i < m; i++) {
      out[i] = in[i] ^ seg->keystream[seg->partial_bytes + i];
      seg->partial[seg->partial_bytes + i] = out[i];
    }
    seg->partial_bytes += m;
    in += m;
    out += m;
    n -= m;
    if (seg->partial_bytes < 16) return;
    hash_tail(key, seg, seg->partial, 16);
    seg->partial_bytes = 0;
  }
  size_t groups = n / GROUP_BYTES;
  seal_groups(key, seg, in, out, groups);
  in += groups * GROUP_BYTES;
  out += groups * GROUP_BYTES;
  n -= groups * GROUP_BYTES;
  size_t whole = n / 16 * 16;
  crypt_tail(key, seg, in, out, whole);
  hash_tail(key, seg, out, whole);
  /* A block begun: its keystream kept for the next update, its ciphertext for the hash. */
  if (n > whole) {
    unsigned char block[16] = {0};
    crypt_tail(key, seg, block, seg->keystream, 16);
    seg->partial_bytes = n - whole;
    for (size_t i = 0; i < seg->partial_bytes; i++) {
      out[whole + i] = in[whole + i] ^ seg->keystream[i];
      seg->partial[i] = out[whole + i];
    }
  }
}

/* The tag: the lengths block hashed, the hash byte-reversed back to GHASH and masked with AES(K, J0). */
static TARGET void finish(const vaes_key *key, vaes_segment *seg, unsigned char tag[16]) {
  __m128i lengths = _mm_set_epi64x((long long)(seg->aad_bytes * 8), (long long)(seg->text_bytes * 8));
  __m128i h1 = _mm_loadu_si128((const __m128i *)(key->powers[3] + 48));
  __m128i s = dot(_mm_xor_si128(_mm_loadu_si128((const __m128i *)seg->hash), lengths), h1);
  _mm_storeu_si128((__m128i *)tag, _mm_xor_si128(reverse_bytes(s), _mm_loadu_si128((const __m128i *)seg->tag_mask)));
}

TARGET void vaes_seal_final(const vaes_key *key, vaes_segment *seg, unsigned char tag[16]) {
  hash_tail(key, seg, seg->partial, seg->partial_bytes);
  seg->partial_bytes = 0;
  finish(key, seg, tag);
  OPENSSL_cleanse(seg, sizeof *seg);
}

static bool apart(const unsigned char *a, const unsigned char *b, size_t n) {
  return n == 0 || a + n <= b || b + n <= a;
}

TARGET bool vaes_open(const vaes_key *key, const unsigned char nonce[12], const unsigned char *aad, size_t aad_bytes, unsigned char *in, size_t n,
                      const unsigned char tag[16], unsigned char *out) {
  vaes_segment seg;
  vaes_begin(key, &seg, nonce, aad, aad_bytes);
  seg.text_bytes = n;
  size_t groups = n / GROUP_BYTES, done = groups * GROUP_BYTES;
  bool separate = apart(in, out, n);
  if (separate) {
    /* One pass: hash and decrypt together; the output is wiped if the tag does not match. */
    open_groups(key, &seg, in, out, groups);
    hash_tail(key, &seg, in + done, n - done);
    crypt_tail(key, &seg, in + done, out + done, n - done);
  } else {
    /* Overlapping: nothing is written before the tag is known good. */
    hash_bytes(key, &seg, in, n);
  }
  unsigned char expected[16];
  finish(key, &seg, expected);
  bool good = CRYPTO_memcmp(expected, tag, 16) == 0;
  if (good && !separate) {
    /* Forwards, each group read before it is written: in place, or to a place before it. */
    unsigned char *to = out <= in ? out : in;
    crypt_groups(key, &seg, in, to, groups);
    crypt_tail(key, &seg, in + done, to + done, n - done);
    if (to != out) memmove(out, to, n);
  }
  if (!good && separate) OPENSSL_cleanse(out, n);
  OPENSSL_cleanse(&seg, sizeof seg);
  return good;
}

#else /* not x86-64, or a compiler without VAES intrinsics: never available, never called */

#include <stdlib.h>

bool vaes_available(void) { return false; }
void vaes_init(vaes_key *key, const unsigned char raw[32]) { (void)key, (void)raw, abort(); }
void vaes_begin(const vaes_key *key, vaes_segment *seg, const unsigned char nonce[12], const unsigned char *aad, size_t aad_bytes) {
  (void)key, (void)seg, (void)nonce, (void)aad, (void)aad_bytes, abort();
}
void vaes_seal_update(const vaes_key *key, vaes_segment *seg, const unsigned char *in, unsigned char *out, size_t n) {
  (void)key, (void)seg, (void)in, (void)out, (void)n, abort();
}
void vaes_seal_final(const vaes_key *key, vaes_segment *seg, unsigned char tag[16]) { (void)key, (void)seg, (void)tag, abort(); }
bool vaes_open(const vaes_key *key, const unsigned char nonce[12], const unsigned char *aad, size_t aad_bytes, unsigned char *in, size_t n,
               const unsigned char tag[16], unsigned char *out) {
  (void)key, (void)nonce, (void)aad, (void)aad_bytes, (void)in, (void)n, (void)tag, (void)out;
  abort();
}

#endif
