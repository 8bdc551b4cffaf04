// NVGRE send through an AF_PACKET TX ring (PACKET_MMAP, TPACKET_V2) on the underlay device.
//
// Why: this kernel has no GRE, so NVGRE otherwise goes out through a raw IP socket, whose
// per-packet kernel work (skb allocation, __ip_append_data summing while it copies, a route
// lookup per message) bounds the sender. Here the addon writes whole Ethernet frames (outer
// Ethernet + IPv4 + the GRE packet the caller built) into the ring's slots and one send() hands
// the whole batch to the device (packet_direct_xmit with PACKET_QDISC_BYPASS).
//
// What the addon then does itself: the outer IPv4 header (ID from a per-ring counter, DF, TTL
// 64, header checksum) and the next hop's MAC, which the caller gives per destination PA
// (txRingSetPeer, from the kernel's neighbour table; io/nvgre-tx-ring.ts). A message whose
// destination is unknown or not usable, that does not fit the device MTU (the raw socket would
// fragment it), or that finds the ring full is not sent: its position goes to `rest` and the
// caller sends it through the raw socket, the reference path. A peer marked `nudge` has its
// messages of the next call sent that way, so the kernel sees traffic to it and re-confirms its
// neighbour entry (our ring frames do not touch the kernel's neighbour state).
//
// Rings live in a thread_local table: each worker thread opens its own (one ring must not be
// filled by two threads), and ids are per thread.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "calls.h"
#include "errors.h"

#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20  // Linux 3.14
#endif

namespace sy {

namespace {

// TPACKET_V2 TX frame: the data starts this far into the slot (without PACKET_TX_HAS_OFF).
constexpr size_t kDataOff = TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
constexpr size_t kOuter = 14 + 20;  // outer Ethernet + IPv4 (no options)

struct Peer {
  uint32_t dst;
  uint32_t src;  // source PA when the message gives none
  uint8_t mac[6];
  bool usable;
  bool nudge;      // set by txRingSetPeer: the next call sends this peer's messages the raw way
  bool nudgeNow;   // during a call
};

struct Ring {
  int fd = -1;
  uint8_t* map = nullptr;
  size_t mapLen = 0;
  uint32_t frames = 0;
  uint32_t frameSize = 0;
  uint32_t head = 0;
  uint32_t mtu = 0;
  uint16_t ipId = 0;
  uint8_t mac[6] = {0};
  // mmsg mode: no ring; the outer headers go in `hdrs` (34 bytes per message) and sendmmsg
  // sends each message as two iovecs (header, the GRE packet in the caller's slab)
  bool mmsg = false;
  std::vector<uint8_t> hdrs;
  std::vector<struct mmsghdr> msgs;
  std::vector<struct iovec> iov;
  std::vector<int32_t> spill;
  std::vector<int32_t> pos;  // mmsg: message j is position pos[j] of the call
  std::vector<Peer> peers;
  ~Ring() {
    if (map) munmap(map, mapLen);
    if (fd >= 0) close(fd);
  }
  Peer* Find(uint32_t dst) {
    for (Peer& p : peers) {
      if (p.dst == dst) return &p;
    }
    return nullptr;
  }
};

thread_local std::vector<std::unique_ptr<Ring>> t_rings;

Ring& ArgRing(const Napi::CallbackInfo& info, size_t i) {
  int64_t id = ArgInt(info, i, "ring", 0, INT32_MAX);
  if (static_cast<size_t>(id) >= t_rings.size() || !t_rings[static_cast<size_t>(id)]) {
    ThrowRange(info.Env(), "txRing: no ring " + std::to_string(id) + " on this thread");
  }
  return *t_rings[static_cast<size_t>(id)];
}

inline void Wr16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// The outer IPv4 header at p (20 bytes, checksum included).
inline void Ipv4Header(uint8_t* p, uint32_t totLen, uint16_t id, uint32_t src, uint32_t dst) {
  p[0] = 0x45;
  p[1] = 0;
  Wr16(p + 2, totLen);
  Wr16(p + 4, id);
  Wr16(p + 6, 0x4000);  // DF, as the raw socket sends (path MTU discovery on)
  p[8] = 64;
  p[9] = 47;
  p[10] = 0;
  p[11] = 0;
  Wr16(p + 12, src >> 16);
  Wr16(p + 14, src & 0xffff);
  Wr16(p + 16, dst >> 16);
  Wr16(p + 18, dst & 0xffff);
  uint32_t s = 0;
  for (int i = 0; i < 20; i += 2) s += (static_cast<uint32_t>(p[i]) << 8) | p[i + 1];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  Wr16(p + 10, ~s & 0xffff);
}

// Hands the queued frames to the device. ENOBUFS (the device dropped one) stops the kernel's
// walk of the ring with frames still queued: call again so they go (each call drops at most one).
void Kick(Ring& r) {
  for (int tries = 0; tries < 64; tries++) {
    ssize_t s = send(r.fd, nullptr, 0, MSG_DONTWAIT);
    if (s >= 0) return;
    if (errno != ENOBUFS && errno != EINTR) return;  // EAGAIN: the socket's send buffer; next call
  }
}

}  // namespace

// txRingOpen(ifname, {frames?, qdiscBypass?, sndbuf?}) -> ring id (this thread's)
Napi::Value TxRingOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "txRingOpen: ifname must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  const std::string what = "txRingOpen " + name;
  int64_t frames = OptInt(info[1], "frames", 32, 1 << 16, 2048);
  bool bypass = OptBool(info[1], "qdiscBypass", true);
  int64_t sndbuf = OptInt(info[1], "sndbuf", 0, INT32_MAX, 8 << 20);
  bool mmsg = OptBool(info[1], "mmsg", false);
  if (name.size() >= IFNAMSIZ) ThrowRange(env, what + ": name too long");
  unsigned idx = if_nametoindex(name.c_str());
  if (idx == 0) ThrowErrno(env, errno, what + ": no such network device", "if_nametoindex");
  auto r = std::make_unique<Ring>();
  // protocol 0: the socket receives nothing
  r->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (r->fd < 0) ThrowErrno(env, errno, what + ": socket", "socket");
  auto fail = [&](const std::string& step, const char* call) { ThrowErrno(env, errno, what + ": " + step, call); };
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  std::memcpy(ifr.ifr_name, name.c_str(), name.size());
  if (ioctl(r->fd, SIOCGIFMTU, &ifr) < 0) fail("SIOCGIFMTU", "ioctl");
  r->mtu = static_cast<uint32_t>(ifr.ifr_mtu);
  if (ioctl(r->fd, SIOCGIFHWADDR, &ifr) < 0) fail("SIOCGIFHWADDR", "ioctl");
  if (ifr.ifr_hwaddr.sa_family != 1 /* ARPHRD_ETHER */) {
    errno = EPROTONOSUPPORT;
    fail("not an Ethernet device", "ioctl");
  }
  std::memcpy(r->mac, ifr.ifr_hwaddr.sa_data, 6);
  int v = TPACKET_V2;
  if (setsockopt(r->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) fail("PACKET_VERSION", "setsockopt");
  v = 1;  // a frame the kernel refuses is skipped, not left blocking the ring
  if (setsockopt(r->fd, SOL_PACKET, PACKET_LOSS, &v, sizeof v) < 0) fail("PACKET_LOSS", "setsockopt");
  if (bypass && setsockopt(r->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &v, sizeof v) < 0) fail("PACKET_QDISC_BYPASS", "setsockopt");
  if (sndbuf > 0) {
    int b = static_cast<int>(sndbuf);
    if (setsockopt(r->fd, SOL_SOCKET, SO_SNDBUFFORCE, &b, sizeof b) < 0 &&
        setsockopt(r->fd, SOL_SOCKET, SO_SNDBUF, &b, sizeof b) < 0) {
      fail("SO_SNDBUF", "setsockopt");
    }
  }
  r->frameSize = 2048;  // 1514 + the 32-byte slot header
  r->mmsg = mmsg;
  const uint32_t perBlock = 32;
  if (!mmsg) {
  r->frames = static_cast<uint32_t>((frames + perBlock - 1) / perBlock * perBlock);
  struct tpacket_req req;
  req.tp_block_size = r->frameSize * perBlock;
  req.tp_block_nr = r->frames / perBlock;
  req.tp_frame_size = r->frameSize;
  req.tp_frame_nr = r->frames;
  if (setsockopt(r->fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req) < 0) fail("PACKET_TX_RING", "setsockopt");
  r->mapLen = static_cast<size_t>(req.tp_block_size) * req.tp_block_nr;
  void* m = mmap(nullptr, r->mapLen, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
  if (m == MAP_FAILED) fail("mmap", "mmap");
  r->map = static_cast<uint8_t*>(m);
  }
  struct sockaddr_ll sll;
  std::memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = 0;
  sll.sll_ifindex = static_cast<int>(idx);
  if (bind(r->fd, reinterpret_cast<struct sockaddr*>(&sll), sizeof sll) < 0) fail("bind", "bind");
  size_t id = 0;
  while (id < t_rings.size() && t_rings[id]) id++;
  if (id == t_rings.size()) t_rings.emplace_back();
  t_rings[id] = std::move(r);
  return Napi::Number::New(env, static_cast<double>(id));
}

// txRingClose(ring)
Napi::Value TxRingClose(const Napi::CallbackInfo& info) {
  ArgRing(info, 0);
  t_rings[static_cast<size_t>(info[0].As<Napi::Number>().Int64Value())].reset();
  return info.Env().Undefined();
}

// txRingInfo(ring) -> {mtu, mac: Uint8Array(6), frames}
Napi::Value TxRingInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ring& r = ArgRing(info, 0);
  Napi::Object o = Napi::Object::New(env);
  o.Set("mtu", Napi::Number::New(env, r.mtu));
  o.Set("frames", Napi::Number::New(env, r.frames));
  Napi::Uint8Array mac = Napi::Uint8Array::New(env, 6);
  std::memcpy(mac.Data(), r.mac, 6);
  o.Set("mac", mac);
  return o;
}

// txRingSetPeer(ring, dstAddr, srcAddr, mac: Uint8Array(6) | null, nudge) : what the ring sends to
// dstAddr (host order). mac null: known but not usable (its messages take the raw socket, and
// are not reported as misses). srcAddr: the source PA for messages that give none (the route's).
Napi::Value TxRingSetPeer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ring& r = ArgRing(info, 0);
  uint32_t dst = static_cast<uint32_t>(ArgInt(info, 1, "dstAddr", 0, UINT32_MAX));
  uint32_t src = static_cast<uint32_t>(ArgInt(info, 2, "srcAddr", 0, UINT32_MAX));
  bool usable = !info[3].IsNull() && !info[3].IsUndefined();
  Peer* p = r.Find(dst);
  if (!p) {
    r.peers.push_back(Peer{dst, 0, {0}, false, false, false});
    p = &r.peers.back();
  }
  if (usable) {
    Span<uint8_t> mac = ArgU8(info, 3, "mac");
    if (mac.len != 6) ThrowRange(env, "txRingSetPeer: mac needs 6 bytes");
    std::memcpy(p->mac, mac.data, 6);
  }
  p->src = src;
  p->usable = usable && src != 0;
  p->nudge = info[4].ToBoolean().Value();
  return env.Undefined();
}

// txRingSend(ring, slab, start, len, idx, srcAddr, dstAddr, count, rest, stats) -> rest count
// Message k is the GRE packet slab[start[idx[k]], +len[idx[k]]) to dstAddr[k] from srcAddr[k]
// (0: the peer's). Each that the ring takes is framed in its slot and all go with one send();
// the positions k of the others go to rest[0..r) in order. stats (Float64Array 4) +=
// [frames put in the ring, messages that found it full, messages sent the raw way for another
// reason (unusable peer, too big, nudge), of which to unknown peers (the caller resolves them)].
Napi::Value TxRingSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ring& r = ArgRing(info, 0);
  Span<uint8_t> slab = ArgU8(info, 1, "slab");
  Span<int32_t> start = ArgI32(info, 2, "start");
  Span<int32_t> len = ArgI32(info, 3, "len");
  Span<int32_t> idx = ArgI32(info, 4, "idx");
  Span<uint32_t> src = ArgU32(info, 5, "srcAddr");
  Span<uint32_t> dst = ArgU32(info, 6, "dstAddr");
  int64_t count = ArgInt(info, 7, "count", 0, static_cast<int64_t>(idx.len));
  Span<int32_t> rest = ArgI32(info, 8, "rest");
  Span<double> stats = ArgF64(info, 9, "stats");
  const size_t m = static_cast<size_t>(count);
  if (m > src.len || m > dst.len || m > rest.len) ThrowRange(env, "txRingSend: count exceeds srcAddr/dstAddr/rest");
  if (stats.len < 4) ThrowRange(env, "txRingSend: stats needs 4 entries");
  for (size_t k = 0; k < m; k++) {
    int32_t i = idx[k];
    if (i < 0 || static_cast<size_t>(i) >= start.len || static_cast<size_t>(i) >= len.len || start[i] < 0 ||
        len[i] < 0 || static_cast<uint64_t>(start[i]) + static_cast<uint64_t>(len[i]) > slab.len) {
      ThrowRange(env, "txRingSend: slot idx[" + std::to_string(k) + "] is outside the slab or the start/len arrays");
    }
  }
  for (Peer& p : r.peers) {
    p.nudgeNow = p.nudge;
    p.nudge = false;
  }
  const size_t room = r.frameSize - kDataOff;
  size_t nr = 0, queued = 0;
  if (r.mmsg && r.msgs.size() < m) {
    r.msgs.resize(m);
    r.iov.resize(2 * m);
    r.hdrs.resize(kOuter * m);
    r.pos.resize(m);
  }
  double full = 0, other = 0, unknown = 0;
  for (size_t k = 0; k < m; k++) {
    const int32_t i = idx[k];
    const size_t l = static_cast<size_t>(len[i]);
    Peer* p = r.Find(dst[k]);
    if (!p || !p->usable || p->nudgeNow || l + 20 > r.mtu || l + kOuter > room) {
      rest[nr++] = static_cast<int32_t>(k);
      other++;
      if (!p) unknown++;
      continue;
    }
    if (r.mmsg) {
      uint8_t* d = r.hdrs.data() + queued * kOuter;
      std::memcpy(d, p->mac, 6);
      std::memcpy(d + 6, r.mac, 6);
      d[12] = 0x08;
      d[13] = 0x00;
      Ipv4Header(d + 14, static_cast<uint32_t>(l + 20), r.ipId++, src[k] != 0 ? src[k] : p->src, dst[k]);
      struct iovec* v = &r.iov[2 * queued];
      v[0].iov_base = d;
      v[0].iov_len = kOuter;
      v[1].iov_base = slab.data + start[i];
      v[1].iov_len = l;
      struct msghdr& mh = r.msgs[queued].msg_hdr;
      std::memset(&mh, 0, sizeof mh);
      mh.msg_iov = v;
      mh.msg_iovlen = 2;
      r.pos[queued] = static_cast<int32_t>(k);
      queued++;
      continue;
    }
    uint8_t* slot = r.map + static_cast<size_t>(r.head) * r.frameSize;
    auto* h = reinterpret_cast<struct tpacket2_hdr*>(slot);
    uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    if (st != TP_STATUS_AVAILABLE && st != TP_STATUS_WRONG_FORMAT && queued > 0) {
      Kick(r);  // frees slots whose skbs are done (a device that transmits at once, as veth)
      queued = 0;
      st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    }
    if (st != TP_STATUS_AVAILABLE && st != TP_STATUS_WRONG_FORMAT) {
      full = static_cast<double>(m - k);
      for (; k < m; k++) rest[nr++] = static_cast<int32_t>(k);  // in order: the rest after the ring's
      break;
    }
    uint8_t* d = slot + kDataOff;
    std::memcpy(d, p->mac, 6);
    std::memcpy(d + 6, r.mac, 6);
    d[12] = 0x08;
    d[13] = 0x00;
    Ipv4Header(d + 14, static_cast<uint32_t>(l + 20), r.ipId++, src[k] != 0 ? src[k] : p->src, dst[k]);
    std::memcpy(d + kOuter, slab.data + start[i], l);
    h->tp_len = static_cast<uint32_t>(l + kOuter);
    __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    r.head = r.head + 1 == r.frames ? 0 : r.head + 1;
    queued++;
    stats[0] += 1;
  }
  if (r.mmsg && queued > 0) {
    // one sendmmsg; what it does not take goes to the raw socket after the rest, which keeps
    // each destination's order (the raw ones all come later)
    size_t next = 0;
    while (next < queued) {
      int q = sendmmsg(r.fd, r.msgs.data() + next, static_cast<unsigned>(queued - next), MSG_DONTWAIT);
      if (q > 0) {
        next += static_cast<size_t>(q);
        continue;
      }
      if (q < 0 && errno == EINTR) continue;
      // full (EAGAIN/ENOBUFS) or refused (e.g. EMSGSIZE after an MTU change): this message and
      // the rest go through the raw socket, which fragments or reports the error itself
      break;
    }
    stats[0] += static_cast<double>(next);
    if (next < queued) {
      // the positions not sent, merged in order with those already in rest
      std::vector<int32_t>& tmp = r.spill;
      tmp.assign(rest.data, rest.data + nr);
      size_t a = 0, b = next, o = 0;
      while (a < tmp.size() || b < queued) {
        if (b >= queued || (a < tmp.size() && tmp[a] < r.pos[b])) rest[o++] = tmp[a++];
        else rest[o++] = r.pos[b++];
      }
      full += static_cast<double>(queued - next);
      nr = o;
    }
    queued = 0;
  }
  if (queued > 0) Kick(r);
  for (Peer& p : r.peers) p.nudgeNow = false;
  stats[1] += full;
  stats[2] += other;
  stats[3] += unknown;
  return Napi::Number::New(env, static_cast<double>(nr));
}

}  // namespace sy
