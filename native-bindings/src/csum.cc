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
#include "errors.h"

namespace sy {

static inline uint32_t Fold64(uint64_t s) {
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint32_t>(s);
}

static uint32_t OnesSum(const uint8_t* p, size_t n) {
  uint64_t s = 0;
  while (n >= 32) {
    uint64_t w[4];
    std::memcpy(w, p, 32);  // memcpy: the range may start at any byte
    for (int j = 0; j < 4; j++) {
      s += w[j];
      s += (s < w[j]);  // end-around carry
    }
    p += 32;
    n -= 32;
  }
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    s += w;
    s += (s < w);
    p += 8;
    n -= 8;
  }
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

}  // namespace sy
