// The ones-complement sum of RFC 1071 over a byte range, the bulk primitive JS is slow at (the
// kernel's csum_partial). Returns the folded 16-bit sum, not complemented, so sums chain and the
// caller adds a pseudo-header: value = fold(sum of big-endian 16-bit words + initial).
//
// Why it is right on little-endian hosts: adding 16-bit words in native order and swapping the
// bytes of the folded result equals adding them in network order (RFC 1071 section 2(B)), and
// summing 64-bit words with end-around carry equals summing their 16-bit parts, since
// 2^16 = 1 (mod 0xffff).
#include <cstring>
#include <string>

#include "calls.h"
#include "csum.h"
#include "errors.h"

namespace sy {

uint32_t Fold64(uint64_t s) {
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint32_t>(s);
}

uint32_t OnesSum(const uint8_t* p, size_t n) {
  // 32-bit words added into 64-bit accumulators need no carry handling (2^32 words before one
  // could overflow) and 2^32 = 1 (mod 0xffff), so this equals the 16-bit sum; four independent
  // accumulators let the compiler vectorize the loop (about 3x the end-around-carry loop).
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  while (n >= 64) {
    uint32_t w[16];
    std::memcpy(w, p, 64);  // memcpy: the range may start at any byte
    for (int j = 0; j < 16; j += 4) {
      a0 += w[j];
      a1 += w[j + 1];
      a2 += w[j + 2];
      a3 += w[j + 3];
    }
    p += 64;
    n -= 64;
  }
  while (n >= 8) {
    uint32_t w[2];
    std::memcpy(w, p, 8);
    a0 += w[0];
    a1 += w[1];
    p += 8;
    n -= 8;
  }
  uint64_t s = a0 + a1 + a2 + a3;  // each accumulator could overflow only past 2^32 words (16 GB)
  uint64_t tail = 0;
  if (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    tail += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    tail += w;
    p += 2;
    n -= 2;
  }
  if (n) {
    // An odd last byte is the high byte of a zero-padded network-order word.
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    tail += p[0];
#else
    tail += static_cast<uint64_t>(p[0]) << 8;
#endif
  }
  s += tail;
  s += (s < tail);
  uint32_t f = Fold64(s);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  f = ((f & 0xff) << 8) | (f >> 8);
#endif
  return f;
}

// checksum(buf, off, len, initial) -> folded 16-bit sum
Napi::Value Checksum(const Napi::CallbackInfo& info) {
  Span<uint8_t> buf = ArgU8(info, 0, "buf");
  int64_t off = ArgInt(info, 1, "off", 0, static_cast<int64_t>(buf.len));
  int64_t len = ArgInt(info, 2, "len", 0, static_cast<int64_t>(buf.len) - off);
  uint64_t initial = static_cast<uint64_t>(ArgIntOpt(info, 3, "initial", 0, UINT32_MAX, 0));
  uint64_t s = OnesSum(buf.data + off, static_cast<size_t>(len)) + initial;
  return Napi::Number::New(info.Env(), Fold64(s));
}

// sumChunks(buf, first, stride, chunkLen, count, lastLen, out) -> count
// out[k] = folded sum of buf[first + k*stride, + (k < count-1 ? chunkLen : lastLen)), for the
// segments of one TSO super-frame (payload sums, before they move) or of one UDP GRO buffer (each
// datagram's TCP header + payload): one call instead of one per segment.
Napi::Value SumChunks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Span<uint8_t> buf = ArgU8(info, 0, "buf");
  const int64_t max = static_cast<int64_t>(buf.len);
  int64_t first = ArgInt(info, 1, "first", 0, max);
  int64_t stride = ArgInt(info, 2, "stride", 0, INT32_MAX);
  int64_t chunk = ArgInt(info, 3, "chunkLen", 0, INT32_MAX);
  int64_t count = ArgInt(info, 4, "count", 0, INT32_MAX);
  int64_t last = ArgInt(info, 5, "lastLen", 0, INT32_MAX);
  Span<uint32_t> out = ArgU32(info, 6, "out");
  if (count == 0) return Napi::Number::New(env, 0);
  if (static_cast<uint64_t>(count) > out.len ||
      first + (count - 1) * stride + (count > 1 ? chunk : 0) > max || first + (count - 1) * stride + last > max) {
    ThrowRange(env, "sumChunks: chunks fall outside the buffer or out is too short");
  }
  for (int64_t k = 0; k < count; k++) {
    const int64_t l = k < count - 1 ? chunk : last;
    out[k] = OnesSum(buf.data + first + k * stride, static_cast<size_t>(l));
  }
  return Napi::Number::New(env, static_cast<double>(count));
}

}  // namespace sy
