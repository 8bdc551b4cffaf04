// TSO/USO segmentation of one super-frame in place: the same bytes as vfp/offload.ts
// segmentFrame (read its comment; the TypeScript is the reference and the unit tests compare the
// two byte for byte), in one call instead of a JS loop per segment. No forwarding decision here:
// the caller has chosen the frame and pushed its encapsulation in front of it.
//
// segmentFrame(buf, F, len, gsoType, mss, pre, lenField, limit, out) -> segments (0: refused)
// The super-frame buf[F, F+len) (Ethernet + IPv4/IPv6 + TCP/UDP, gso_type as virtio-net gives
// it, mss = gso_size) is cut into segments, last first; segment i lands at F - pre + i*stride
// with a copy of the `pre` bytes in front of F (lenField >= 0: the 16-bit big-endian field at that
// offset in them gets the segment's whole length, prefix included). Each segment gets its IPv4
// total length, ID + i and header checksum (IPv6: payload length), TCP sequence number, flags
// (FIN/PSH only on the last, CWR only on the first) and full TCP checksum, or UDP length and
// checksum. out (Int32Array, 4) = [segments, stride, last segment's length with pre, header bytes].
// Nothing moves when it refuses (returns 0).
#include <cstring>

#include "calls.h"
#include "csum.h"
#include "errors.h"

namespace sy {

namespace {

constexpr int kGsoTcpV4 = 1;
constexpr int kGsoUdpL4 = 5;
constexpr int kGsoTcpV6 = 4;
constexpr uint8_t kFin = 0x01, kPsh = 0x08, kCwr = 0x80;

inline uint32_t Rd16(const uint8_t* p) { return (static_cast<uint32_t>(p[0]) << 8) | p[1]; }
inline uint32_t Rd32(const uint8_t* p) { return (Rd16(p) << 16) | Rd16(p + 2); }
inline void Wr16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void Wr32(uint8_t* p, uint32_t v) {
  Wr16(p, v >> 16);
  Wr16(p + 2, v & 0xffff);
}
// Unfolded sum of the big-endian 16-bit words of a header (even length, a few words).
inline uint64_t Words(const uint8_t* p, int n) {
  uint64_t s = 0;
  for (int i = 0; i < n; i += 2) s += Rd16(p + i);
  return s;
}

}  // namespace

Napi::Value SegmentFrame(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Span<uint8_t> buf = ArgU8(info, 0, "buf");
  const int64_t max = static_cast<int64_t>(buf.len);
  const int64_t F = ArgInt(info, 1, "F", 0, max);
  const int64_t len = ArgInt(info, 2, "len", 0, max - F);
  const int type = static_cast<int>(ArgInt(info, 3, "gsoType", 0, 255)) & 0x7f;
  const int64_t mss = ArgInt(info, 4, "mss", 0, 65535);
  const int64_t pre = ArgInt(info, 5, "pre", 0, F);
  const int64_t lenField = ArgInt(info, 6, "lenField", -1, 65535);
  const int64_t limit = ArgInt(info, 7, "limit", 0, max);
  Span<int32_t> out = ArgI32(info, 8, "out");
  if (out.len < 4) ThrowRange(env, "segmentFrame: out needs 4 entries");
  if (lenField >= 0 && lenField + 2 > pre) ThrowRange(env, "segmentFrame: lenField outside the prefix");
  auto refuse = [&]() { return Napi::Number::New(env, 0); };

  uint8_t* b = buf.data;
  if (mss <= 0 || len < 14 + 20 + 8) return refuse();
  const uint32_t et = Rd16(b + F + 12);
  const int64_t l3 = F + 14;
  int64_t ihl;
  int proto;
  const bool v4 = type == kGsoTcpV4 || (type == kGsoUdpL4 && et == 0x0800);
  if (v4) {
    if (et != 0x0800 || (b[l3] >> 4) != 4) return refuse();
    ihl = (b[l3] & 0x0f) << 2;
    proto = b[l3 + 9];
    if (ihl < 20 || (Rd16(b + l3 + 6) & 0x3fff) != 0) return refuse();
  } else if (type == kGsoTcpV6 || type == kGsoUdpL4) {
    if (et != 0x86dd || (b[l3] >> 4) != 6) return refuse();
    ihl = 40;
    proto = b[l3 + 6];
  } else {
    return refuse();
  }
  const bool tcp = type != kGsoUdpL4;
  if (proto != (tcp ? 6 : 17)) return refuse();
  const int64_t l4 = l3 + ihl;
  if (l4 + (tcp ? 20 : 8) > F + len) return refuse();
  const int64_t thl = tcp ? (b[l4 + 12] >> 4) << 2 : 8;
  const int64_t H = 14 + ihl + thl;
  if (thl < (tcp ? 20 : 8) || H >= len) return refuse();
  const int64_t P = len - H;
  const int64_t n = (P + mss - 1) / mss;
  const int64_t stride = pre + H + mss;
  const int64_t lastPay = P - (n - 1) * mss;
  if (F - pre + (n - 1) * stride + pre + H + lastPay > limit) return refuse();
  const uint32_t id0 = v4 ? Rd16(b + l3 + 4) : 0;
  const uint32_t seq0 = tcp ? Rd32(b + l4 + 4) : 0;
  const uint8_t flags0 = tcp ? b[l4 + 13] : 0;
  for (int64_t i = n - 1; i >= 0; i--) {
    const int64_t seg = i < n - 1 ? mss : lastPay;
    const int64_t S = F - pre + i * stride;
    const int64_t fr = S + pre;
    // the payload's sum before it moves (a payload starts at an even offset from its L4 header)
    uint64_t paySum = OnesSum(b + F + H + i * mss, static_cast<size_t>(seg));
    if (i > 0) {
      std::memmove(b + fr + H, b + F + H + i * mss, static_cast<size_t>(seg));
      std::memmove(b + S, b + F - pre, static_cast<size_t>(pre + H));
    }
    if (lenField >= 0) Wr16(b + S + lenField, static_cast<uint32_t>(pre + H + seg));
    uint8_t* s3 = b + fr + 14;
    uint8_t* s4 = s3 + ihl;
    const uint32_t l4len = static_cast<uint32_t>(thl + seg);
    uint64_t ps;
    if (v4) {
      Wr16(s3 + 2, static_cast<uint32_t>(ihl) + l4len);
      Wr16(s3 + 4, (id0 + static_cast<uint32_t>(i)) & 0xffff);
      s3[10] = 0;
      s3[11] = 0;
      Wr16(s3 + 10, ~Fold64(Words(s3, static_cast<int>(ihl))) & 0xffff);
      ps = Words(s3 + 12, 8) + static_cast<uint32_t>(proto) + l4len;
    } else {
      Wr16(s3 + 4, l4len);
      ps = Words(s3 + 8, 32) + static_cast<uint32_t>(proto) + l4len;
    }
    if (tcp) {
      Wr32(s4 + 4, seq0 + static_cast<uint32_t>(i * mss));
      uint8_t fl = flags0;
      if (i < n - 1) fl &= static_cast<uint8_t>(~(kFin | kPsh));
      if (i > 0) fl &= static_cast<uint8_t>(~kCwr);
      s4[13] = fl;
      s4[16] = 0;
      s4[17] = 0;
      Wr16(s4 + 16, ~Fold64(ps + Words(s4, static_cast<int>(thl)) + paySum) & 0xffff);
    } else {
      Wr16(s4 + 4, l4len);
      s4[6] = 0;
      s4[7] = 0;
      uint32_t c = ~Fold64(ps + Words(s4, 8) + paySum) & 0xffff;
      if (c == 0) c = 0xffff;
      Wr16(s4 + 6, c);
    }
  }
  out[0] = static_cast<int32_t>(n);
  out[1] = static_cast<int32_t>(stride);
  out[2] = static_cast<int32_t>(pre + H + lastPay);
  out[3] = static_cast<int32_t>(H);
  return Napi::Number::New(env, static_cast<double>(n));
}

}  // namespace sy
