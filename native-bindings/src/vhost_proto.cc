// The vhost-user protocol (qemu docs/interop/vhost-user.rst), back-end side, on the main thread:
// one message per read of the socket, its fds from SCM_RIGHTS, a reply where the message asks for
// one. The front end (qemu) is trusted no more than the guest: a message of the wrong size, an fd
// count that does not match, a region that is not backed by its fd, a ring number out of range is
// refused (counted, and a REPLY_ACK failure when negotiated); a stream that cannot be followed
// (bad version, oversized payload) ends the connection (-EPROTO), and the JS side reconnects.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "calls.h"
#include "errors.h"
#include "vhost.h"

namespace sy {
namespace vhost {

namespace {

enum Req : uint32_t {
  GET_FEATURES = 1,
  SET_FEATURES = 2,
  SET_OWNER = 3,
  RESET_OWNER = 4,
  SET_MEM_TABLE = 5,
  SET_VRING_NUM = 8,
  SET_VRING_ADDR = 9,
  SET_VRING_BASE = 10,
  GET_VRING_BASE = 11,
  SET_VRING_KICK = 12,
  SET_VRING_CALL = 13,
  SET_VRING_ERR = 14,
  GET_PROTOCOL_FEATURES = 15,
  SET_PROTOCOL_FEATURES = 16,
  GET_QUEUE_NUM = 17,
  SET_VRING_ENABLE = 18,
};

constexpr uint32_t FLAG_VERSION = 0x1, FLAG_REPLY = 0x4, FLAG_NEED_REPLY = 0x8;
constexpr uint32_t kMaxPayload = 4096;
constexpr int kMaxFds = 8;

struct Header {
  uint32_t request, flags, size;
};

uint64_t Offered(const Device& d) {
  uint64_t f = F_MRG_RXBUF | F_VERSION_1 | F_PROTOCOL_FEATURES | F_ANY_LAYOUT;
  if (d.offload) {
    f |= F_CSUM | F_GUEST_CSUM | F_HOST_TSO4 | F_HOST_TSO6 | F_GUEST_TSO4 | F_GUEST_TSO6 | F_HOST_ECN | F_GUEST_ECN;
  }
  if (d.pairs > 1) f |= F_MQ;
  return f;
}

uint64_t OfferedProtocol(const Device& d) { return PF_REPLY_ACK | (d.pairs > 1 ? PF_MQ : 0); }

bool SendReply(int fd, uint32_t request, const void* payload, uint32_t size) {
  uint8_t buf[12 + 64];
  Header h{request, FLAG_VERSION | FLAG_REPLY, size};
  std::memcpy(buf, &h, 12);
  std::memcpy(buf + 12, payload, size);
  ssize_t w = send(fd, buf, 12 + size, MSG_NOSIGNAL);
  return w == static_cast<ssize_t>(12 + size);
}

void CloseFds(int* fds, int n) {
  for (int i = 0; i < n; i++)
    if (fds[i] >= 0) close(fds[i]);
}

// SET_MEM_TABLE: maps every region (its fd must be at least offset + size long: a shorter file
// would fault on access) and only then replaces the old table.
bool SetMemTable(Device& d, const uint8_t* p, uint32_t size, int* fds, int nfds) {
  if (size < 8) return false;
  uint32_t n;
  std::memcpy(&n, p, 4);
  if (n < 1 || n > kMaxRegions || size != 8 + 32 * n || static_cast<int>(n) != nfds) return false;
  Region fresh[kMaxRegions];
  for (uint32_t i = 0; i < n; i++) {
    uint64_t v[4];
    std::memcpy(v, p + 8 + 32 * i, 32);
    Region& r = fresh[i];
    r.gpa = v[0];
    r.size = v[1];
    r.uva = v[2];
    const uint64_t off = v[3];
    struct stat st;
    bool ok = r.size > 0 && off + r.size > off && fstat(fds[i], &st) == 0 &&
              (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) >= off + r.size) &&
              r.gpa + r.size > r.gpa && r.uva + r.size > r.uva;
    void* m = ok ? mmap(nullptr, off + r.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fds[i], 0) : MAP_FAILED;
    if (m == MAP_FAILED) {
      for (uint32_t k = 0; k < i; k++) munmap(fresh[k].map, fresh[k].mapLen);
      return false;
    }
    r.map = m;
    r.mapLen = off + r.size;
    r.host = static_cast<uint8_t*>(m) + off;
  }
  d.unmapAll();
  for (uint32_t i = 0; i < n; i++) d.regions[i] = fresh[i];
  d.nregions = static_cast<int>(n);
  for (int i = 0; i < kMaxRings; i++) d.resolveRing(i);
  return true;
}

// Handles one message; returns true for success (REPLY_ACK status), false for a refused one.
// *replied is set when the message carried its own reply.
bool Handle(Device& d, int conn, const Header& h, const uint8_t* p, int* fds, int nfds, bool* replied) {
  uint64_t u64 = 0;
  uint32_t st[2] = {0, 0};  // vring state: index, num
  const bool isU64 = h.size == 8;
  if (isU64) std::memcpy(&u64, p, 8);
  if (h.size == 8) std::memcpy(st, p, 8);
  const uint32_t rings = 2 * d.pairs;
  auto fdsUsed = [&](int k) {  // fds beyond what the message takes are closed
    for (int i = k; i < nfds; i++) {
      close(fds[i]);
      fds[i] = -1;
    }
  };
  switch (h.request) {
    case GET_FEATURES: {
      fdsUsed(0);
      uint64_t f = Offered(d);
      *replied = true;
      return SendReply(conn, h.request, &f, 8);
    }
    case SET_FEATURES:
      fdsUsed(0);
      if (!isU64) return false;
      d.features = u64 & Offered(d);
      d.featuresSet = true;
      return (u64 & ~Offered(d)) == 0;
    case SET_OWNER:
      fdsUsed(0);
      return true;
    case RESET_OWNER:
      fdsUsed(0);
      d.resetAll();
      return true;
    case SET_MEM_TABLE: {
      bool ok = SetMemTable(d, p, h.size, fds, nfds);
      fdsUsed(0);  // mapped (or refused): the fds are not needed either way
      return ok;
    }
    case GET_PROTOCOL_FEATURES: {
      fdsUsed(0);
      uint64_t f = OfferedProtocol(d);
      *replied = true;
      return SendReply(conn, h.request, &f, 8);
    }
    case SET_PROTOCOL_FEATURES:
      fdsUsed(0);
      if (!isU64) return false;
      d.protocol = u64 & OfferedProtocol(d);
      return true;
    case GET_QUEUE_NUM: {
      fdsUsed(0);
      uint64_t q = d.pairs;
      *replied = true;
      return SendReply(conn, h.request, &q, 8);
    }
    case SET_VRING_NUM:
      fdsUsed(0);
      if (h.size != 8 || st[0] >= rings || st[1] == 0 || st[1] > kMaxRingSize || (st[1] & (st[1] - 1))) return false;
      d.rings[st[0]].num = st[1];
      d.resolveRing(static_cast<int>(st[0]));
      return true;
    case SET_VRING_ADDR: {
      fdsUsed(0);
      if (h.size != 40) return false;
      uint32_t idx;
      uint64_t a[4];  // desc, used, avail, log
      std::memcpy(&idx, p, 4);
      std::memcpy(a, p + 8, 32);
      if (idx >= rings) return false;
      Ring& r = d.rings[idx];
      r.descUva = a[0];
      r.usedUva = a[1];
      r.availUva = a[2];
      r.addrSet = true;
      d.resolveRing(static_cast<int>(idx));
      return r.desc != nullptr;
    }
    case SET_VRING_BASE:
      fdsUsed(0);
      if (h.size != 8 || st[0] >= rings || st[1] > 0xffff) return false;
      d.rings[st[0]].lastAvail = static_cast<uint16_t>(st[1]);
      d.rings[st[0]].usedIdx = static_cast<uint16_t>(st[1]);
      d.rings[st[0]].broken = false;
      return true;
    case GET_VRING_BASE: {
      fdsUsed(0);
      if (h.size != 8 || st[0] >= rings) return false;
      Ring& r = d.rings[st[0]];
      uint32_t out[2] = {st[0], r.lastAvail};
      // the ring stops: its kick fd goes (a new SET_VRING_KICK starts it again)
      if (r.kick >= 0) {
        const uint32_t lane = (st[0] / 2) % d.lanes;
        epoll_ctl(d.epoll[lane], EPOLL_CTL_DEL, r.kick, nullptr);
        close(r.kick);
        r.kick = -1;
      }
      r.started = false;
      *replied = true;
      return SendReply(conn, h.request, out, 8);
    }
    case SET_VRING_KICK:
    case SET_VRING_CALL:
    case SET_VRING_ERR: {
      if (!isU64) {
        fdsUsed(0);
        return false;
      }
      const uint32_t idx = static_cast<uint32_t>(u64 & 0xff);
      const bool nofd = (u64 & 0x100) != 0;
      if (idx >= rings || (nofd ? nfds != 0 : nfds != 1) || (nofd && h.request == SET_VRING_KICK)) {
        fdsUsed(0);  // polling mode (no kick fd) is not offered
        return false;
      }
      Ring& r = d.rings[idx];
      const int fd = nofd ? -1 : fds[0];
      if (!nofd) fds[0] = -1;  // kept
      if (h.request == SET_VRING_KICK) {
        const uint32_t lane = (idx / 2) % d.lanes;
        if (r.kick >= 0) {
          epoll_ctl(d.epoll[lane], EPOLL_CTL_DEL, r.kick, nullptr);
          close(r.kick);
        }
        r.kick = fd;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (idx & 1) {  // a transmit ring: its kicks wake the lane's worker
          struct epoll_event ev;
          std::memset(&ev, 0, sizeof ev);
          ev.events = EPOLLIN;
          ev.data.u32 = idx;
          epoll_ctl(d.epoll[lane], EPOLL_CTL_ADD, fd, &ev);
        }
        r.started = true;
        // without protocol features a ring is enabled by its kick; with them by SET_VRING_ENABLE
        if (!(d.features & F_PROTOCOL_FEATURES)) r.enabled = true;
        d.resolveRing(static_cast<int>(idx));
      } else if (h.request == SET_VRING_CALL) {
        if (r.call >= 0) close(r.call);
        r.call = fd;
      } else {
        if (r.err >= 0) close(r.err);
        r.err = fd;
      }
      return true;
    }
    case SET_VRING_ENABLE:
      fdsUsed(0);
      if (h.size != 8 || st[0] >= rings) return false;
      d.rings[st[0]].enabled = st[1] != 0;
      return true;
    default:
      fdsUsed(0);
      return false;
  }
}

// Reads exactly n bytes (the payload follows its header in the same send; SO_RCVTIMEO bounds a
// peer that stops half way).
bool ReadFull(int fd, uint8_t* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, buf + got, n - got, MSG_WAITALL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

}  // namespace vhost

using vhost::Device;

// vhostCreate({pairs, lanes, offload}) -> device id
Napi::Value VhostCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t pairs = static_cast<uint32_t>(OptInt(info[0], "pairs", 1, vhost::kMaxPairs, 1));
  const uint32_t lanes = static_cast<uint32_t>(OptInt(info[0], "lanes", 1, vhost::kMaxLanes, 1));
  const bool offload = OptBool(info[0], "offload", true);
  int err = 0;
  auto d = vhost::Register(pairs, lanes, offload, &err);
  if (!d) ThrowErrno(env, err, "vhostCreate: epoll_create1", "epoll_create1");
  return Napi::Number::New(env, d->id);
}

// vhostDestroy(device): closes its fds, unmaps guest memory; idempotent.
Napi::Value VhostDestroy(const Napi::CallbackInfo& info) {
  vhost::Unregister(static_cast<int>(ArgInt(info, 0, "device", 1, INT32_MAX)));
  return info.Env().Undefined();
}

// vhostReset(device): the front end went away: rings, fds, features and memory are dropped.
Napi::Value VhostReset(const Napi::CallbackInfo& info) {
  auto d = vhost::Find(static_cast<int>(ArgInt(info, 0, "device", 1, INT32_MAX)));
  if (d) {
    std::lock_guard<std::mutex> g(d->mu);
    d->resetAll();
    d->unmapAll();
  }
  return info.Env().Undefined();
}

// vhostService(device, connFd) -> messages handled (>= 0), or -errno when the connection must
// end (closed by the peer, unreadable stream). Handles what is waiting, without blocking for the
// next header.
Napi::Value VhostService(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto d = vhost::Find(static_cast<int>(ArgInt(info, 0, "device", 1, INT32_MAX)));
  if (!d) return Napi::Number::New(env, -ENODEV);
  const int conn = ArgFd(info, 1);
  int handled = 0;
  for (int m = 0; m < 64; m++) {
    vhost::Header h;
    int fds[vhost::kMaxFds];
    int nfds = 0;
    struct iovec iov = {&h, sizeof h};
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * vhost::kMaxFds)];
    struct msghdr msg;
    std::memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    ssize_t r = recvmsg(conn, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_WAITALL);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return Napi::Number::New(env, -errno);
    }
    if (r == 0) return Napi::Number::New(env, -ECONNRESET);
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        const int k = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k && nfds < vhost::kMaxFds; i++) std::memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      }
    }
    uint8_t payload[vhost::kMaxPayload];
    const bool truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
    if (r < static_cast<ssize_t>(sizeof h) && !vhost::ReadFull(conn, reinterpret_cast<uint8_t*>(&h) + r, sizeof h - r)) {
      vhost::CloseFds(fds, nfds);
      return Napi::Number::New(env, -EPROTO);
    }
    if ((h.flags & 0x3) != vhost::FLAG_VERSION || h.size > vhost::kMaxPayload || truncated ||
        (h.size && !vhost::ReadFull(conn, payload, h.size))) {
      vhost::CloseFds(fds, nfds);
      std::lock_guard<std::mutex> g(d->mu);
      d->stats[vhost::S_BAD_MESSAGES]++;
      return Napi::Number::New(env, -EPROTO);
    }
    std::lock_guard<std::mutex> g(d->mu);
    bool replied = false;
    const bool ok = vhost::Handle(*d, conn, h, payload, fds, nfds, &replied);
    vhost::CloseFds(fds, nfds);  // those Handle did not keep (set to -1 when kept)
    d->stats[ok ? vhost::S_MESSAGES : vhost::S_BAD_MESSAGES]++;
    if (!replied && (h.flags & vhost::FLAG_NEED_REPLY) && (d->protocol & vhost::PF_REPLY_ACK)) {
      uint64_t status = ok ? 0 : 1;
      vhost::SendReply(conn, h.request, &status, 8);
    }
    handled++;
  }
  return Napi::Number::New(env, handled);
}

}  // namespace sy
