// The vhost-user protocol (qemu docs/interop/vhost-user.rst), back-end side, on the main thread:
// messages read without blocking into the device's buffer (a front end that sends half a message
// and stops costs nothing: the rest is read when it comes), their fds from SCM_RIGHTS, a reply
// where the message asks for one. The front end (qemu) is trusted no more than the guest: a
// message of the wrong size, an fd count that does not match, a region that is not backed by its
// fd, a ring number out of range is refused (counted, and a REPLY_ACK failure when negotiated); a
// stream that cannot be followed (bad version, oversized payload, too many fds, a front end that
// does not read its replies) ends the connection, and the JS side reconnects.
//
// Guest memory comes as fds (memfds from qemu's memory-backend-memfd). A file that shrinks under a
// mapping makes every access past its new end a SIGBUS - the agent would die of it - so each fd
// must be sealed against shrinking (F_SEAL_SHRINK, which qemu's memfd backend sets with its default
// seal=on); an fd that can still take seals gets the seal from us; one that can do neither (seal=off,
// or a file backend) is mapped and counted (memUnsealed): that residual risk is in the README.
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
constexpr uint32_t kHeader = 12;

struct Header {
  uint32_t request, flags, size;
};

uint64_t Offered(const Device& d) {
  uint64_t f = F_MRG_RXBUF | F_VERSION_1 | F_PROTOCOL_FEATURES | F_ANY_LAYOUT;
  if (d.eventIdx) f |= F_EVENT_IDX;
  if (d.offload) {
    f |= F_CSUM | F_GUEST_CSUM | F_HOST_TSO4 | F_HOST_TSO6 | F_GUEST_TSO4 | F_GUEST_TSO6 | F_HOST_ECN | F_GUEST_ECN;
  }
  if (d.pairs > 1) f |= F_MQ;
  return f;
}

uint64_t OfferedProtocol(const Device& d) { return PF_REPLY_ACK | (d.pairs > 1 ? PF_MQ : 0); }

// A reply goes whole or not at all, without blocking: a front end that leaves its replies unread
// until the socket is full is not followed (replyFailed ends the connection).
bool SendReply(Device& d, int fd, uint32_t request, const void* payload, uint32_t size) {
  uint8_t buf[kHeader + 64];
  Header h{request, FLAG_VERSION | FLAG_REPLY, size};
  std::memcpy(buf, &h, kHeader);
  std::memcpy(buf + kHeader, payload, size);
  ssize_t w;
  do {
    w = send(fd, buf, kHeader + size, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (w < 0 && errno == EINTR);
  const bool ok = w == static_cast<ssize_t>(kHeader + size);
  if (!ok) d.replyFailed = true;
  return ok;
}

void CloseFds(int* fds, int n) {
  for (int i = 0; i < n; i++)
    if (fds[i] >= 0) close(fds[i]);
}

// Whether the fd's size can no longer go down: sealed by the front end, or sealed here when the
// fd still takes seals (a memfd made with MFD_ALLOW_SEALING and no F_SEAL_SEAL). The seal comes
// before the size check, so the size checked is a floor from then on.
bool SealedAgainstShrink(int fd, bool* sealedHere) {
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) return false;  // not a memfd (or shmem file): cannot be sealed
  if (!(seals & F_SEAL_SHRINK) && !(seals & F_SEAL_SEAL) && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0) {
    seals |= F_SEAL_SHRINK;
    *sealedHere = true;
  }
  return (seals & F_SEAL_SHRINK) != 0;
}

// SET_MEM_TABLE: maps every region (its fd must be at least offset + size long: a shorter file
// would fault on access) and only then replaces the old table. A region that is refused refuses
// the whole table (memRefused); the old table stays.
bool SetMemTable(Device& d, const uint8_t* p, uint32_t size, int* fds, int nfds) {
  if (size < 8) return false;
  uint32_t n;
  std::memcpy(&n, p, 4);
  if (n < 1 || n > kMaxRegions || size != 8 + 32 * n || static_cast<int>(n) != nfds) return false;
  Region fresh[kMaxRegions];
  int unsealed = 0, sealedHere = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t v[4];
    std::memcpy(v, p + 8 + 32 * i, 32);
    Region& r = fresh[i];
    r.gpa = v[0];
    r.size = v[1];
    r.uva = v[2];
    const uint64_t off = v[3];
    bool here = false;
    const bool sealed = SealedAgainstShrink(fds[i], &here);
    struct stat st;
    bool ok = r.size > 0 && off + r.size > off && fstat(fds[i], &st) == 0 &&
              (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) >= off + r.size) &&
              r.gpa + r.size > r.gpa && r.uva + r.size > r.uva;
    void* m = ok ? mmap(nullptr, off + r.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fds[i], 0) : MAP_FAILED;
    if (m == MAP_FAILED) {
      for (uint32_t k = 0; k < i; k++) munmap(fresh[k].map, fresh[k].mapLen);
      d.stats[S_MEM_REFUSED]++;
      return false;
    }
    r.map = m;
    r.mapLen = off + r.size;
    r.host = static_cast<uint8_t*>(m) + off;
    if (!sealed) unsealed++;
    if (here) sealedHere++;
  }
  d.unmapAll();
  for (uint32_t i = 0; i < n; i++) d.regions[i] = fresh[i];
  d.nregions = static_cast<int>(n);
  for (int i = 0; i < kMaxRings; i++) d.resolveRing(i);
  d.stats[S_MEM_UNSEALED] += unsealed;
  d.stats[S_MEM_SEALED] += sealedHere;
  return true;
}

// A transmit ring that (re)starts may already hold frames the guest made available while no one
// listened (a reconnect), and with EVENT_IDX the guest kicks only past the avail_event we last
// wrote: the lane looks at the ring once now, as if kicked.
void Nudge(Device& d, uint32_t idx) {
  const uint32_t lane = (idx / 2) % d.lanes;
  if (d.wake[lane] < 0) return;
  uint64_t one = 1;
  ssize_t w = write(d.wake[lane], &one, sizeof one);
  (void)w;
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
      return SendReply(d, conn, h.request, &f, 8);
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
      return SendReply(d, conn, h.request, &f, 8);
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
      return SendReply(d, conn, h.request, &q, 8);
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
      d.rings[st[0]].signalledValid = false;
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
      return SendReply(d, conn, h.request, out, 8);
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
        if (idx & 1) Nudge(d, idx);
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
      if (st[1] && (st[0] & 1)) Nudge(d, st[0]);
      return true;
    default:
      fdsUsed(0);
      return false;
  }
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
  const bool eventIdx = OptBool(info[0], "eventIdx", true);
  int err = 0;
  auto d = vhost::Register(pairs, lanes, offload, eventIdx, &err);
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
    d->dropIncoming();
    d->replyFailed = false;
  }
  return info.Env().Undefined();
}

// vhostService(device, connFd) -> messages handled (>= 0), or -errno when the connection must
// end (closed by the peer, a stream that cannot be followed). Reads what is waiting and never
// blocks: a message that came in part stays in the device's buffer (with its fds) until the rest
// comes. Each read asks for no more than the current message's remaining bytes, so the fds that
// come with a read belong to that message (qemu sends a message and its fds in one sendmsg).
Napi::Value VhostService(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto d = vhost::Find(static_cast<int>(ArgInt(info, 0, "device", 1, INT32_MAX)));
  if (!d) return Napi::Number::New(env, -ENODEV);
  const int conn = ArgFd(info, 1);
  std::lock_guard<std::mutex> g(d->mu);
  Device::Incoming& in = d->in;
  int handled = 0;
  auto refuse = [&](int err) {
    d->stats[vhost::S_BAD_MESSAGES]++;
    d->dropIncoming();
    return Napi::Number::New(env, -err);
  };
  while (handled < 64) {
    vhost::Header h;
    std::memcpy(&h, in.buf, sizeof h);
    const uint32_t want = in.got < vhost::kHeader ? vhost::kHeader : vhost::kHeader + h.size;
    if (in.got == want && in.got >= vhost::kHeader) {
      bool replied = false;
      const bool ok = vhost::Handle(*d, conn, h, in.buf + vhost::kHeader, in.fds, in.nfds, &replied);
      vhost::CloseFds(in.fds, in.nfds);  // those Handle did not keep (set to -1 when kept)
      in.nfds = 0;
      in.got = 0;
      d->stats[ok ? vhost::S_MESSAGES : vhost::S_BAD_MESSAGES]++;
      if (!replied && (h.flags & vhost::FLAG_NEED_REPLY) && (d->protocol & vhost::PF_REPLY_ACK)) {
        uint64_t status = ok ? 0 : 1;
        vhost::SendReply(*d, conn, h.request, &status, 8);
      }
      handled++;
      if (d->replyFailed) {
        d->replyFailed = false;
        return Napi::Number::New(env, -ENOBUFS);
      }
      continue;
    }
    struct iovec iov = {in.buf + in.got, want - in.got};
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * vhost::kMaxFds)];
    struct msghdr msg;
    std::memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    ssize_t r = recvmsg(conn, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return Napi::Number::New(env, -errno);
    }
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const int k = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      for (int i = 0; i < k; i++) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (in.nfds < vhost::kMaxFds) {
          in.fds[in.nfds++] = fd;
        } else {
          close(fd);
          in.tooManyFds = true;
        }
      }
    }
    if (r == 0) {
      d->dropIncoming();
      return Napi::Number::New(env, -ECONNRESET);
    }
    if ((msg.msg_flags & MSG_CTRUNC) || in.tooManyFds) return refuse(EPROTO);
    in.got += static_cast<uint32_t>(r);
    if (in.got == vhost::kHeader) {
      std::memcpy(&h, in.buf, sizeof h);
      if ((h.flags & 0x3) != vhost::FLAG_VERSION || h.size > vhost::kMaxPayload) return refuse(EPROTO);
    }
  }
  return Napi::Number::New(env, handled);
}

}  // namespace sy
