// vhost-user split virtqueues (virtio 1.x, 2.7): frames move between the guest's rings and the
// caller's slab slots, a batch per call, under the device mutex. The layout the forwarder sees is
// the TAP's: the frame at `headroom` of its slot, a 12-byte virtio-net header just before it.
//
// The guest owns the ring memory and may change it at any time, so each descriptor is copied out
// once and only the copy is used; every address goes through Device::gpaToHost with its length
// (an access outside a mapped region is impossible by construction); a chain is followed for at
// most `num` descriptors; an avail index that runs ahead by more than the ring size, or a head
// index outside the ring, stops the ring (counted) until the front end sets it up again.
//
// Notifications (VIRTIO_RING_F_EVENT_IDX when the guest acks it): each direction tells the other
// side only when it asked. Calls (interrupts) go to the guest when the used index passes the
// guest's used_event; kicks come from the guest when its avail index passes the avail_event we
// write after each batch (so kicks arrive about once per batch, not once per frame). The guest's
// receive ring never needs a kick: we do not wait for its buffers (no buffers = a counted drop),
// so its avail_event is kept out of reach (NO_NOTIFY without EVENT_IDX). All indexes wrap at
// 16 bits; vhost.h NeedEvent is the spec's vring_need_event.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>

#include "calls.h"
#include "errors.h"
#include "vhost.h"

namespace sy {
namespace vhost {

namespace {
std::mutex gmu;
std::map<int, std::shared_ptr<Device>> devices;
int nextId = 1;

inline uint16_t LoadAcquire16(const uint16_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

// Ones-complement sum of big-endian 16-bit words (odd tail padded), unfolded.
uint64_t Sum(const uint8_t* p, size_t n) {
  uint64_t s = 0;
  size_t i = 0;
  for (; i + 1 < n; i += 2) s += (static_cast<uint32_t>(p[i]) << 8) | p[i + 1];
  if (i < n) s += static_cast<uint32_t>(p[i]) << 8;
  return s;
}
uint16_t Fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}
}  // namespace

std::shared_ptr<Device> Find(int id) {
  std::lock_guard<std::mutex> g(gmu);
  auto it = devices.find(id);
  return it == devices.end() ? nullptr : it->second;
}

std::shared_ptr<Device> Register(uint32_t pairs, uint32_t lanes, bool offload, bool eventIdx, int* epollErr) {
  auto d = std::make_shared<Device>();
  d->pairs = pairs;
  d->lanes = lanes;
  d->offload = offload;
  d->eventIdx = eventIdx;
  for (int i = 0; i < kMaxLanes; i++) d->epoll[i] = d->wake[i] = -1;
  for (uint32_t l = 0; l < lanes; l++) {
    d->epoll[l] = epoll_create1(EPOLL_CLOEXEC);
    d->wake[l] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev;
    std::memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    if (d->epoll[l] < 0 || d->wake[l] < 0 || epoll_ctl(d->epoll[l], EPOLL_CTL_ADD, d->wake[l], &ev) < 0) {
      *epollErr = errno;
      for (uint32_t k = 0; k <= l; k++) {
        if (d->epoll[k] >= 0) close(d->epoll[k]);
        if (d->wake[k] >= 0) close(d->wake[k]);
      }
      return nullptr;
    }
  }
  std::lock_guard<std::mutex> g(gmu);
  d->id = nextId++;
  devices[d->id] = d;
  return d;
}

void Unregister(int id) {
  std::shared_ptr<Device> d;
  {
    std::lock_guard<std::mutex> g(gmu);
    auto it = devices.find(id);
    if (it == devices.end()) return;
    d = it->second;
    devices.erase(it);
  }
  std::lock_guard<std::mutex> g(d->mu);
  d->resetAll();
  d->unmapAll();
  d->dropIncoming();
  for (uint32_t l = 0; l < d->lanes; l++) {
    if (d->epoll[l] >= 0) close(d->epoll[l]);
    if (d->wake[l] >= 0) close(d->wake[l]);
    d->epoll[l] = d->wake[l] = -1;
    d->backlog[l].clear();
  }
}

uint8_t* Device::gpaToHost(uint64_t addr, uint64_t len) const {
  for (int i = 0; i < nregions; i++) {
    const Region& r = regions[i];
    if (addr >= r.gpa && addr - r.gpa < r.size && len <= r.size - (addr - r.gpa)) return r.host + (addr - r.gpa);
  }
  return nullptr;
}

uint8_t* Device::uvaToHost(uint64_t addr, uint64_t len) const {
  for (int i = 0; i < nregions; i++) {
    const Region& r = regions[i];
    if (addr >= r.uva && addr - r.uva < r.size && len <= r.size - (addr - r.uva)) return r.host + (addr - r.uva);
  }
  return nullptr;
}

void Device::unmapAll() {
  for (int i = 0; i < nregions; i++) {
    if (regions[i].map) munmap(regions[i].map, regions[i].mapLen);
    regions[i] = Region();
  }
  nregions = 0;
  for (int i = 0; i < kMaxRings; i++) resolveRing(i);
}

// The ring's three parts through the memory table (they are given as front-end virtual
// addresses), each with its whole length; a part outside the table leaves the ring not ready.
void Device::resolveRing(int i) {
  Ring& r = rings[i];
  r.desc = nullptr;
  r.avail = nullptr;
  r.used = nullptr;
  if (!r.addrSet || !r.num) return;
  uint8_t* d = uvaToHost(r.descUva, 16ull * r.num);
  uint8_t* a = uvaToHost(r.availUva, 6ull + 2ull * r.num);
  uint8_t* u = uvaToHost(r.usedUva, 6ull + 8ull * r.num);
  // the rings' alignment (16, 2, 4) is the front end's duty; misaligned ones are refused
  if (!d || !a || !u || (reinterpret_cast<uintptr_t>(d) & 15) || (reinterpret_cast<uintptr_t>(a) & 1) ||
      (reinterpret_cast<uintptr_t>(u) & 3)) {
    return;
  }
  r.desc = reinterpret_cast<Desc*>(d);
  r.avail = reinterpret_cast<uint16_t*>(a);
  r.used = u;
}

void Device::resetRing(int i, bool closeFds) {
  Ring& r = rings[i];
  if (closeFds) {
    if (r.kick >= 0) {
      const uint32_t lane = (static_cast<uint32_t>(i) / 2) % lanes;
      if (epoll[lane] >= 0) epoll_ctl(epoll[lane], EPOLL_CTL_DEL, r.kick, nullptr);
      close(r.kick);
    }
    if (r.call >= 0) close(r.call);
    if (r.err >= 0) close(r.err);
  }
  r = Ring();
}

void Device::resetAll() {
  for (int i = 0; i < kMaxRings; i++) resetRing(i, true);
  features = 0;
  protocol = 0;
  featuresSet = false;
}

void Device::dropIncoming() {
  for (int i = 0; i < in.nfds; i++)
    if (in.fds[i] >= 0) close(in.fds[i]);
  in.nfds = 0;
  in.got = 0;
  in.tooManyFds = false;
}

// After the used index was published: an interrupt unless the guest said it does not want one.
void Device::notify(Ring& r) {
  // the used index is visible to the guest before we read what it wants (it re-checks the used
  // index after writing used_event: one of the two sides sees the other)
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (r.call < 0) return;
  bool want;
  if (features & F_EVENT_IDX) {
    const uint16_t event = __atomic_load_n(&r.avail[2 + r.num], __ATOMIC_RELAXED);  // used_event
    const uint16_t from = r.signalledUsed;
    const bool valid = r.signalledValid;
    r.signalledUsed = r.usedIdx;
    r.signalledValid = true;
    want = !valid || NeedEvent(event, r.usedIdx, from);
  } else {
    want = !(__atomic_load_n(&r.avail[0], __ATOMIC_RELAXED) & AVAIL_F_NO_INTERRUPT);
  }
  if (!want) {
    stats[S_CALLS_SKIPPED]++;
    return;
  }
  uint64_t one = 1;
  ssize_t w = write(r.call, &one, sizeof one);
  (void)w;
  stats[S_CALLS]++;
}

namespace {

inline void PutUsed(Ring& r, uint16_t slot, uint32_t id, uint32_t len) {
  uint8_t* e = r.used + 4 + 8 * static_cast<size_t>(slot % r.num);
  std::memcpy(e, &id, 4);
  std::memcpy(e + 4, &len, 4);
}

// With EVENT_IDX: the avail_event field after the used ring.
inline uint16_t* AvailEvent(Ring& r) { return reinterpret_cast<uint16_t*>(r.used + 4 + 8 * static_cast<size_t>(r.num)); }

// A transmit ring after a batch: with EVENT_IDX, ask for a kick when the guest makes the next chain
// available; true when it did so already before it could see that (no kick will come for it, so
// the caller looks again).
inline bool ArmKick(Device& d, Ring& r) {
  if (!(d.features & F_EVENT_IDX)) return false;
  __atomic_store_n(AvailEvent(r), r.lastAvail, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return LoadAcquire16(&r.avail[1]) != r.lastAvail;
}

// The guest's receive ring: no kicks wanted, ever (see the top of this file).
inline void QuietRx(Device& d, Ring& r) {
  if (d.features & F_EVENT_IDX) {
    // the guest cannot make more than num buffers available past lastAvail, so it never crosses
    __atomic_store_n(AvailEvent(r), static_cast<uint16_t>(r.lastAvail + r.num), __ATOMIC_RELAXED);
  } else {
    uint16_t* flags = reinterpret_cast<uint16_t*>(r.used);
    if (__atomic_load_n(flags, __ATOMIC_RELAXED) != USED_F_NO_NOTIFY) __atomic_store_n(flags, USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
  }
}

inline void PublishUsed(Device& d, Ring& r, uint16_t before) {
  if (r.usedIdx == before) return;
  __atomic_store_n(reinterpret_cast<uint16_t*>(r.used + 2), r.usedIdx, __ATOMIC_RELEASE);
  d.notify(r);
}

// How many entries the guest made available; -1 (ring broken, counted) when the index ran ahead
// by more than the ring holds.
inline int Pending(Device& d, Ring& r, uint16_t* availIdx) {
  *availIdx = LoadAcquire16(&r.avail[1]);
  const uint16_t n = static_cast<uint16_t>(*availIdx - r.lastAvail);
  if (n > r.num) {
    r.broken = true;
    d.stats[S_RING_BROKEN]++;
    return -1;
  }
  return n;
}

// The head index of the next available chain; -1 (ring broken) when it is outside the ring.
inline int TakeHead(Device& d, Ring& r) {
  const uint16_t head = __atomic_load_n(&r.avail[2 + r.lastAvail % r.num], __ATOMIC_RELAXED);
  if (head >= r.num) {
    r.broken = true;
    d.stats[S_RING_BROKEN]++;
    return -1;
  }
  r.lastAvail++;
  return head;
}

inline void LoadDesc(const Ring& r, uint32_t i, Desc* out) { std::memcpy(out, &r.desc[i], sizeof *out); }

// The worker of a frame's flow: exactly io/steering.ts steerWorker (the TAP's eBPF program and
// the uplinks' filters compute the same), so a guest's flow meets the worker that sees its
// replies whatever transmit queue the guest chose. An ICMP or ICMPv6 error goes with the packet
// it quotes (its connection, which makes the error RELATED, is on that packet's worker).
uint32_t SteerLane(const uint8_t* f, size_t len, uint32_t n) {
  if (n <= 1 || len < 34) return 0;
  auto u16 = [&](size_t o) { return static_cast<uint32_t>((f[o] << 8) | f[o + 1]); };
  auto u32 = [&](size_t o) { return (u16(o) << 16) | u16(o + 2); };
  auto mix = [&](uint32_t x) {
    x ^= x >> 16;
    x = (x * 0x9e3779b1u) >> 16;
    return x % n;
  };
  size_t ip = 14;
  if (f[12] == 0x86 && f[13] == 0xdd) {
    // IPv6: the address words, and the ports when the fixed header names TCP/UDP (extension
    // headers and fragments: addresses only); an ICMPv6 error (types 1-4) by its quote
    if (len < ip + 40) return 0;
    if (f[ip + 6] == 58 && len >= ip + 48 + 48 && f[ip + 40] >= 1 && f[ip + 40] <= 4 && (f[ip + 48] >> 4) == 6) ip += 48;
    uint32_t x = 0;
    for (size_t o = ip + 8; o < ip + 40; o += 4) x ^= u32(o);
    if (f[ip + 6] == 6 || f[ip + 6] == 17) {
      if (len < ip + 44) return 0;
      x ^= u16(ip + 40) ^ u16(ip + 42);
    }
    return mix(x);
  }
  if (f[12] != 0x08 || f[13] != 0x00) return 0;
  if (f[23] == 1 && (u16(20) & 0x3fff) == 0) {
    const size_t q = ip + (static_cast<size_t>(f[14] & 0x0f) << 2) + 8;
    const uint8_t type = len >= q + 20 ? f[q - 8] : 0;
    if ((type == 3 || type == 11 || type == 12) && (f[q] >> 4) == 4 && (f[q] & 0x0f) >= 5 &&
        len >= q + (static_cast<size_t>(f[q] & 0x0f) << 2) + 8)
      ip = q;
  }
  uint32_t ports = 0;
  if ((u16(ip + 6) & 0x3fff) == 0 && (f[ip + 9] == 6 || f[ip + 9] == 17)) {
    const size_t ihl = static_cast<size_t>(f[ip] & 0x0f) << 2;
    if (len < ip + ihl + 4) return 0;
    ports = u16(ip + ihl) ^ u16(ip + ihl + 2);
  }
  return mix(u32(ip + 12) ^ u32(ip + 16) ^ ports);
}

// Passes the frame in a slot (header before it) to lane `to`; false when its backlog is full.
void HandOff(Device& d, uint32_t to, const uint8_t* hdrAndFrame, size_t n) {
  if (d.backlog[to].size() >= kBacklogFrames) {
    d.stats[S_HANDOFF_DROP]++;
    return;
  }
  d.backlog[to].emplace_back(hdrAndFrame, hdrAndFrame + n);
  d.stats[S_HANDOFF]++;
  uint64_t one = 1;
  ssize_t w = write(d.wake[to], &one, sizeof one);
  (void)w;
}

// Guest transmit ring -> slots; returns frames placed from slot `n` on.
int32_t RecvRing(Device& d, Ring& r, uint32_t lane, uint8_t* slab, int32_t* start, int32_t* len, size_t slot, size_t headroom,
                 int32_t n, int32_t max, bool* more) {
  uint16_t availIdx;
  const int pend = Pending(d, r, &availIdx);
  if (pend < 0) return n;
  if (pend == 0) {
    if (ArmKick(d, r)) *more = true;
    return n;
  }
  const size_t hdr = d.hdrLen();
  const bool indirectOk = false;  // VIRTIO_RING_F_INDIRECT_DESC is not offered
  const uint16_t usedBefore = r.usedIdx;
  while (n < max && r.lastAvail != availIdx) {
    const int head = TakeHead(d, r);
    if (head < 0) break;
    const size_t base = static_cast<size_t>(n) * slot;
    uint8_t* dst = slab + base + headroom - hdr;
    const size_t cap = slot - headroom + hdr;
    size_t total = 0;
    uint32_t i = static_cast<uint32_t>(head);
    int bad = -1;
    for (uint32_t walked = 0;; walked++) {
      if (walked >= r.num) {
        bad = S_BAD_CHAIN;  // a loop
        break;
      }
      Desc ds;
      LoadDesc(r, i, &ds);
      if ((ds.flags & DESC_F_WRITE) || ((ds.flags & DESC_F_INDIRECT) && !indirectOk)) {
        bad = S_BAD_CHAIN;
        break;
      }
      const uint8_t* src = d.gpaToHost(ds.addr, ds.len);
      if (!src) {
        bad = S_BAD_ADDR;
        break;
      }
      if (ds.len > cap - total) {
        bad = S_OVERSIZE;
        break;
      }
      std::memcpy(dst + total, src, ds.len);
      total += ds.len;
      if (!(ds.flags & DESC_F_NEXT)) break;
      if (ds.next >= r.num) {
        bad = S_BAD_CHAIN;
        break;
      }
      i = ds.next;
    }
    PutUsed(r, r.usedIdx++, static_cast<uint32_t>(head), 0);
    if (bad < 0 && total < hdr + 14) bad = S_SHORT;
    if (bad >= 0) {
      d.stats[bad]++;
      continue;
    }
    if (hdr == 10) {
      // the slots carry the 12-byte layout: move the header back and add num_buffers = 0
      std::memmove(dst - 2, dst, 10);
      dst[8] = 0;
      dst[9] = 0;
    }
    d.stats[S_RX_FRAMES]++;
    const uint32_t to = SteerLane(slab + base + headroom, total - hdr, d.lanes);
    if (to != lane) {
      HandOff(d, to, slab + base + headroom - 12, total - hdr + 12);
      continue;  // the slot is free again
    }
    start[n] = static_cast<int32_t>(base + headroom);
    len[n] = static_cast<int32_t>(total - hdr);
    n++;
  }
  if (r.usedIdx != usedBefore) d.stats[S_RX_BATCHES]++;
  PublishUsed(d, r, usedBefore);
  if (!r.broken && (r.lastAvail != availIdx || ArmKick(d, r))) *more = true;
  return n;
}

// The bytes a frame becomes in guest buffers: header (from `hdr`), then the frame, with up to
// two bytes (a finished checksum) patched at `patchAt`.
struct Stream {
  const uint8_t* hdr;
  size_t hdrLen;
  const uint8_t* frame;
  size_t total;
  size_t patchAt;  // SIZE_MAX: none
  uint8_t patch[2];
  uint8_t* numBuf[2];  // where header bytes 10 and 11 went in guest memory

  void copy(uint8_t* dst, size_t off, size_t n) {
    size_t k = 0;
    while (k < n && off + k < hdrLen) {
      if (off + k == 10) numBuf[0] = dst + k;
      if (off + k == 11) numBuf[1] = dst + k;
      dst[k] = hdr[off + k];
      k++;
    }
    if (k < n) std::memcpy(dst + k, frame + (off + k - hdrLen), n - k);
    for (int j = 0; j < 2; j++) {
      const size_t p = patchAt + j;
      if (patchAt != SIZE_MAX && p >= off && p < off + n) dst[p - off] = patch[j];
    }
  }
};

// One frame into the guest's receive ring: false when it could not go (counted); `full` is set
// when the ring has no more buffers.
bool SendFrame(Device& d, Ring& r, uint16_t availIdx, Stream& s, bool* full) {
  const bool mrg = (d.features & F_MRG_RXBUF) != 0;
  const uint16_t savedAvail = r.lastAvail, savedUsed = r.usedIdx;
  size_t placed = 0;
  uint16_t bufs = 0;
  uint32_t lastHead = 0;
  s.numBuf[0] = s.numBuf[1] = nullptr;
  while (placed < s.total) {
    if (r.lastAvail == availIdx || (!mrg && bufs == 1)) {
      if (r.lastAvail == availIdx) {
        *full = true;
        d.stats[S_NO_BUFFERS]++;
        r.lastAvail = savedAvail;  // the buffers taken go back: the next frame may fit
        r.usedIdx = savedUsed;
        return false;
      }
      d.stats[S_OVERSIZE]++;  // one chain (no MRG_RXBUF) too small: returned empty
      PutUsed(r, static_cast<uint16_t>(r.usedIdx - 1), lastHead, 0);
      return false;
    }
    const int head = TakeHead(d, r);
    if (head < 0) {
      r.lastAvail = savedAvail;
      r.usedIdx = savedUsed;
      *full = true;
      return false;
    }
    uint32_t i = static_cast<uint32_t>(head);
    lastHead = i;
    uint32_t written = 0;
    int bad = -1;
    for (uint32_t walked = 0; placed < s.total; walked++) {
      if (walked >= r.num) {
        bad = S_BAD_CHAIN;
        break;
      }
      Desc ds;
      LoadDesc(r, i, &ds);
      if (!(ds.flags & DESC_F_WRITE) || (ds.flags & DESC_F_INDIRECT)) {
        bad = S_BAD_CHAIN;
        break;
      }
      uint8_t* dst = d.gpaToHost(ds.addr, ds.len);
      if (!dst) {
        bad = S_BAD_ADDR;
        break;
      }
      const size_t n = std::min<size_t>(ds.len, s.total - placed);
      s.copy(dst, placed, n);
      placed += n;
      written += static_cast<uint32_t>(n);
      if (!(ds.flags & DESC_F_NEXT)) break;
      if (ds.next >= r.num) {
        bad = S_BAD_CHAIN;
        break;
      }
      i = ds.next;
    }
    if (bad >= 0) {
      // the chain goes back empty; the frame is dropped (its earlier buffers too, empty)
      d.stats[bad]++;
      for (uint16_t u = savedUsed; u != r.usedIdx; u++) {
        uint8_t* e = r.used + 4 + 8 * static_cast<size_t>(u % r.num) + 4;
        std::memset(e, 0, 4);
      }
      PutUsed(r, r.usedIdx++, static_cast<uint32_t>(head), 0);
      return false;
    }
    PutUsed(r, r.usedIdx++, static_cast<uint32_t>(head), written);
    bufs++;
  }
  if (s.hdrLen >= 12 && bufs > 1) {
    if (s.numBuf[0]) *s.numBuf[0] = static_cast<uint8_t>(bufs & 0xff);
    if (s.numBuf[1]) *s.numBuf[1] = static_cast<uint8_t>(bufs >> 8);
  }
  d.stats[S_TX_FRAMES]++;
  return true;
}

// The guest's receive ring for frames of `lane`: the lane's own pair when ready, else any.
Ring* RxRingFor(Device& d, uint32_t lane) {
  for (uint32_t p = lane; p < d.pairs; p += d.lanes) {
    if (d.rings[2 * p].ready()) return &d.rings[2 * p];
  }
  for (uint32_t p = 0; p < d.pairs; p++) {
    if (d.rings[2 * p].ready()) return &d.rings[2 * p];
  }
  return nullptr;
}

}  // namespace

}  // namespace vhost

using vhost::Device;

static std::shared_ptr<Device> ArgDevice(const Napi::CallbackInfo& info, size_t i) {
  int id = static_cast<int>(ArgInt(info, i, "device", 1, INT32_MAX));
  auto d = vhost::Find(id);
  if (!d) throw Napi::Error::New(info.Env(), "vhost: no device " + std::to_string(id));
  return d;
}

// vhostRecv(device, lane, slab, start, len, slotSize, headroom, max) -> n
// Frames the guest sent on the transmit rings of `lane`: frame i at i*slotSize + headroom, its
// 12-byte virtio-net header before it. Drains the lane's kick eventfds first; if frames remain
// (max reached, or made available after the last look), the lane's wake eventfd is raised so the
// level-triggered poll comes back.
Napi::Value VhostRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto d = vhost::Find(static_cast<int>(ArgInt(info, 0, "device", 1, INT32_MAX)));
  if (!d) return Napi::Number::New(env, -ENODEV);  // a batch call never throws for a device gone
  const uint32_t lane = static_cast<uint32_t>(ArgInt(info, 1, "lane", 0, vhost::kMaxLanes - 1));
  Span<uint8_t> slab = ArgU8(info, 2, "slab");
  Span<int32_t> start = ArgI32(info, 3, "start");
  Span<int32_t> len = ArgI32(info, 4, "len");
  int64_t slot = ArgInt(info, 5, "slotSize", 64, INT32_MAX);
  int64_t headroom = ArgInt(info, 6, "headroom", 12, slot - 64);
  int64_t max = ArgInt(info, 7, "max", 0, INT32_MAX);
  if (static_cast<size_t>(max) > start.len || static_cast<size_t>(max) > len.len ||
      static_cast<uint64_t>(max) * static_cast<uint64_t>(slot) > slab.len) {
    ThrowRange(env, "vhostRecv: max slots do not fit the slab/start/len arrays");
  }
  std::lock_guard<std::mutex> g(d->mu);
  if (lane >= d->lanes) return Napi::Number::New(env, 0);
  int32_t n = 0;
  // first what other lanes read for this one
  {
    uint64_t v;
    ssize_t rd = read(d->wake[lane], &v, sizeof v);
    (void)rd;
    auto& q = d->backlog[lane];
    const size_t cap = static_cast<size_t>(slot - headroom);
    while (n < max && !q.empty()) {
      const std::vector<uint8_t>& f = q.front();
      if (f.size() - 12 <= cap) {
        const size_t base = static_cast<size_t>(n) * static_cast<size_t>(slot);
        std::memcpy(slab.data + base + headroom - 12, f.data(), f.size());
        start[n] = static_cast<int32_t>(base + headroom);
        len[n] = static_cast<int32_t>(f.size() - 12);
        n++;
      }
      q.pop_front();
    }
    if (!q.empty()) {
      uint64_t one = 1;
      ssize_t w = write(d->wake[lane], &one, sizeof one);
      (void)w;
    }
  }
  bool more = false;
  for (uint32_t p = lane; p < d->pairs; p += d->lanes) {
    vhost::Ring& r = d->rings[2 * p + 1];
    if (r.kick >= 0) {
      uint64_t v = 0;
      if (read(r.kick, &v, sizeof v) == sizeof v) d->stats[vhost::S_KICKS] += static_cast<double>(v);
    }
    if (!r.ready()) continue;
    n = vhost::RecvRing(*d, r, lane, slab.data, start.data, len.data, static_cast<size_t>(slot), static_cast<size_t>(headroom), n,
                        static_cast<int32_t>(max), &more);
  }
  if (more) {
    uint64_t one = 1;
    ssize_t w = write(d->wake[lane], &one, sizeof one);
    (void)w;
  }
  return Napi::Number::New(env, n);
}

// vhostSend(device, lane, slab, start, len, idx, count, prefix) -> frames placed
// Slots idx[0..count) into the guest's receive ring; with prefix 12 the caller's virtio-net header
// at start-12 goes with each frame (its offload state checked against what the guest accepts),
// with 0 an empty header. Frames that cannot go are dropped and counted; the return value is how
// many went, like a TAP write.
Napi::Value VhostSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto d = vhost::Find(static_cast<int>(ArgInt(info, 0, "device", 1, INT32_MAX)));
  if (!d) return Napi::Number::New(env, -ENODEV);
  const uint32_t lane = static_cast<uint32_t>(ArgInt(info, 1, "lane", 0, vhost::kMaxLanes - 1));
  Span<uint8_t> slab = ArgU8(info, 2, "slab");
  Span<int32_t> start = ArgI32(info, 3, "start");
  Span<int32_t> len = ArgI32(info, 4, "len");
  Span<int32_t> idx = ArgI32(info, 5, "idx");
  int64_t count = ArgInt(info, 6, "count", 0, static_cast<int64_t>(idx.len));
  int64_t prefix = ArgIntOpt(info, 7, "prefix", 0, 12, 0);
  if (prefix != 0 && prefix != 12) ThrowRange(env, "vhostSend: prefix must be 0 or 12");
  for (int64_t k = 0; k < count; k++) {
    int32_t i = idx[k];
    if (i < 0 || static_cast<size_t>(i) >= start.len || static_cast<size_t>(i) >= len.len || start[i] - prefix < 0 ||
        len[i] < 0 || static_cast<uint64_t>(start[i]) + static_cast<uint64_t>(len[i]) > slab.len) {
      ThrowRange(env, "vhostSend: slot idx[" + std::to_string(k) + "]=" + std::to_string(i) +
                          " is outside the slab or the start/len arrays");
    }
  }
  std::lock_guard<std::mutex> g(d->mu);
  vhost::Ring* r = vhost::RxRingFor(*d, lane);
  if (!r) {
    d->stats[vhost::S_NO_BUFFERS] += static_cast<double>(count);
    return Napi::Number::New(env, 0);
  }
  uint16_t availIdx;
  int pend = vhost::Pending(*d, *r, &availIdx);
  if (pend < 0) return Napi::Number::New(env, 0);
  const uint16_t usedBefore = r->usedIdx;
  const uint64_t f = d->features;
  int32_t sent = 0;
  bool full = false;
  for (int64_t k = 0; k < count; k++) {
    const int32_t i = idx[k];
    uint8_t hdr[12] = {0};
    if (prefix == 12) std::memcpy(hdr, slab.data + start[i] - 12, 12);
    hdr[10] = 1;
    hdr[11] = 0;
    const uint8_t* frame = slab.data + start[i];
    const size_t flen = static_cast<size_t>(len[i]);
    vhost::Stream s{hdr, d->hdrLen(), frame, d->hdrLen() + flen, SIZE_MAX, {0, 0}, {nullptr, nullptr}};
    const uint8_t gso = hdr[1] & 0x7f;
    bool ok = true;
    if (gso != 0) {
      const bool can = (gso == 1 && (f & vhost::F_GUEST_TSO4)) || (gso == 4 && (f & vhost::F_GUEST_TSO6));
      if (!can || ((hdr[1] & 0x80) && !(f & vhost::F_GUEST_ECN))) ok = false;
    }
    if (ok && (hdr[0] & 1) && !(f & vhost::F_GUEST_CSUM)) {
      // a guest that cannot take a partial checksum gets it finished (in the copy, never in
      // the slab: the same slot may go to other ports too)
      const size_t cs = hdr[6] | (hdr[7] << 8), co = hdr[8] | (hdr[9] << 8);
      if (gso != 0 || cs + co + 2 > flen) {
        ok = false;
      } else {
        const uint16_t c = static_cast<uint16_t>(~vhost::Fold(vhost::Sum(frame + cs, flen - cs)));
        s.patchAt = d->hdrLen() + cs + co;
        s.patch[0] = static_cast<uint8_t>(c >> 8);
        s.patch[1] = static_cast<uint8_t>(c & 0xff);
        hdr[0] &= static_cast<uint8_t>(~1);
        d->stats[vhost::S_CSUM_FINISHED]++;
      }
    }
    if (!ok) {
      d->stats[vhost::S_OFFLOAD_DROP]++;
      continue;
    }
    if (full) {
      d->stats[vhost::S_NO_BUFFERS]++;
      continue;
    }
    if (vhost::SendFrame(*d, *r, availIdx, s, &full)) sent++;
    if (r->broken) break;
  }
  if (!r->broken) vhost::QuietRx(*d, *r);
  vhost::PublishUsed(*d, *r, usedBefore);
  if (sent > 0) d->stats[vhost::S_TX_BATCHES]++;
  return Napi::Number::New(env, sent);
}

// vhostLaneFd(device, lane) -> an fd that is readable while the lane's transmit rings were kicked.
Napi::Value VhostLaneFd(const Napi::CallbackInfo& info) {
  auto d = ArgDevice(info, 0);
  const int64_t lane = ArgInt(info, 1, "lane", 0, static_cast<int64_t>(d->lanes) - 1);
  return Napi::Number::New(info.Env(), d->epoll[lane]);
}

// vhostStats(device) -> Float64Array of the counters (vhost.h Stat order).
Napi::Value VhostStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto d = ArgDevice(info, 0);
  Napi::Float64Array out = Napi::Float64Array::New(env, vhost::S_COUNT + 4);
  std::lock_guard<std::mutex> g(d->mu);
  for (int i = 0; i < vhost::S_COUNT; i++) out[i] = d->stats[i];
  // then: features acked (low, high 32 bits), rings ready, rings broken
  out[vhost::S_COUNT] = static_cast<double>(d->features & 0xffffffffu);
  out[vhost::S_COUNT + 1] = static_cast<double>(d->features >> 32);
  int ready = 0, broken = 0;
  for (int i = 0; i < vhost::kMaxRings; i++) {
    if (d->rings[i].ready()) ready++;
    if (d->rings[i].broken) broken++;
  }
  out[vhost::S_COUNT + 2] = ready;
  out[vhost::S_COUNT + 3] = broken;
  return out;
}

}  // namespace sy
