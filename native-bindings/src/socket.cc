// UDP and raw IPv4 sockets for the underlay, moved in batches with recvmmsg/sendmmsg.
//
// Every socket gets IP_PKTINFO: on receive it tells which of the host's provider addresses a
// datagram was sent to; on send its ipi_spec_dst picks the source address per datagram, so one
// socket serves a host with several PAs. Raw sockets deliver the IPv4 header on receive (the
// TypeScript wrapper strips it) and take only the payload on send (no IP_HDRINCL: the kernel
// writes the outer IPv4 header, picks its ID and fragments if it must).
// The message arrays are thread_local and grow to the largest batch seen, so a batch allocates
// nothing; each worker thread has its own.
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "calls.h"
#include "errors.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // linux/udp.h, Linux 4.18
#endif
#ifndef UDP_GRO
#define UDP_GRO 104  // linux/udp.h, Linux 5.0
#endif

namespace sy {

static std::string AddrStr(uint32_t host_order) {
  struct in_addr a;
  a.s_addr = htonl(host_order);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

// Sets a socket buffer size; as root SO_*BUFFORCE goes past net.core.[rw]mem_max, which a
// dataplane wants (64 frames per batch and bursts from many peers).
static void SetBuf(Napi::Env env, int fd, int force_opt, int opt, int64_t bytes, const std::string& what) {
  if (bytes <= 0) return;
  int v = static_cast<int>(bytes);
  if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof v) == 0) return;
  if (setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v) < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, what + ": setsockopt buffer size", "setsockopt");
  }
}

static void SetInt(Napi::Env env, int fd, int level, int opt, int v, const std::string& what, const char* optname) {
  if (setsockopt(fd, level, opt, &v, sizeof v) < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, what + ": setsockopt " + optname, "setsockopt");
  }
}

static void Bind(Napi::Env env, int fd, uint32_t addr, uint16_t port, const std::string& what) {
  struct sockaddr_in sin;
  std::memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(addr);
  sin.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sin), sizeof sin) < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, what + ": bind", "bind");
  }
}

// udpOpen(bindAddr, port, {reusePort?, rcvbuf?, sndbuf?}) -> fd
Napi::Value UdpOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t addr = static_cast<uint32_t>(ArgInt(info, 0, "bindAddr", 0, UINT32_MAX));
  uint16_t port = static_cast<uint16_t>(ArgInt(info, 1, "port", 0, 65535));
  const std::string what = "udpOpen " + AddrStr(addr) + ":" + std::to_string(port);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowErrno(env, errno, what + ": socket", "socket");
  if (OptBool(info[2], "reusePort", false)) SetInt(env, fd, SOL_SOCKET, SO_REUSEPORT, 1, what, "SO_REUSEPORT");
  SetBuf(env, fd, SO_RCVBUFFORCE, SO_RCVBUF, OptInt(info[2], "rcvbuf", 0, INT32_MAX, 0), what);
  SetBuf(env, fd, SO_SNDBUFFORCE, SO_SNDBUF, OptInt(info[2], "sndbuf", 0, INT32_MAX, 0), what);
  SetInt(env, fd, IPPROTO_IP, IP_PKTINFO, 1, what, "IP_PKTINFO");
  // UDP_GRO: the kernel hands over runs of same-sized datagrams of one 4-tuple (and GSO packets
  // from a local sender, unsegmented) as one buffer; recvBatch reports the segment size.
  if (OptBool(info[2], "gro", false)) SetInt(env, fd, SOL_UDP, UDP_GRO, 1, what, "UDP_GRO");
  // gsoProbe: setting UDP_SEGMENT to 0 fails (ENOPROTOOPT) on a kernel without UDP GSO.
  if (OptBool(info[2], "gsoProbe", false)) SetInt(env, fd, SOL_UDP, UDP_SEGMENT, 0, what, "UDP_SEGMENT");
  Bind(env, fd, addr, port, what);
  return Napi::Number::New(env, fd);
}

// rawOpen(protocol, bindAddr, {sendOnly?, rcvbuf?, sndbuf?}) -> fd
// A raw socket receives every packet of its protocol addressed to this host (bindAddr narrows it
// to one address). sendOnly attaches a classic BPF program that accepts nothing: a raw
// IPPROTO_UDP socket used to send VXLAN would otherwise get a copy of every UDP packet the host
// receives.
Napi::Value RawOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int proto = static_cast<int>(ArgInt(info, 0, "protocol", 1, 254));
  uint32_t addr = static_cast<uint32_t>(ArgInt(info, 1, "bindAddr", 0, UINT32_MAX));
  const std::string what = "rawOpen proto " + std::to_string(proto) + " " + AddrStr(addr);
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) ThrowErrno(env, errno, what + ": socket", "socket");
  if (OptBool(info[2], "sendOnly", false)) {
    struct sock_filter drop_all[] = {{BPF_RET | BPF_K, 0, 0, 0}};
    struct sock_fprog prog = {1, drop_all};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
      int err = errno;
      close(fd);
      ThrowErrno(env, err, what + ": SO_ATTACH_FILTER", "setsockopt");
    }
    // Packets that arrived between socket() and the filter are already queued: drain them.
    char scratch[64];
    while (recv(fd, scratch, sizeof scratch, MSG_DONTWAIT) >= 0) {
    }
  }
  SetBuf(env, fd, SO_RCVBUFFORCE, SO_RCVBUF, OptInt(info[2], "rcvbuf", 0, INT32_MAX, 0), what);
  SetBuf(env, fd, SO_SNDBUFFORCE, SO_SNDBUF, OptInt(info[2], "sndbuf", 0, INT32_MAX, 0), what);
  SetInt(env, fd, IPPROTO_IP, IP_PKTINFO, 1, what, "IP_PKTINFO");
  if (addr != 0) Bind(env, fd, addr, 0, what);
  return Napi::Number::New(env, fd);
}

// sockName(fd) -> {addr, port}: the bound address (host order), e.g. to learn an ephemeral port.
Napi::Value SockName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  struct sockaddr_in sin;
  socklen_t sl = sizeof sin;
  std::memset(&sin, 0, sizeof sin);
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&sin), &sl) < 0) {
    ThrowErrno(env, errno, "sockName fd " + std::to_string(fd), "getsockname");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("addr", Napi::Number::New(env, ntohl(sin.sin_addr.s_addr)));
  out.Set("port", Napi::Number::New(env, ntohs(sin.sin_port)));
  return out;
}

// Room for IP_PKTINFO plus one more small cmsg (UDP_SEGMENT now, UDP_GRO's gso size later).
struct alignas(struct cmsghdr) CmsgBuf {
  char bytes[CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(int))];
};

struct MsgArrays {
  std::vector<struct mmsghdr> msgs;
  std::vector<struct iovec> iov;
  // sendMsgs with parts: every message's ranges, back to back (grown, never shrunk)
  std::vector<struct iovec> gather;
  std::vector<struct sockaddr_in> names;
  std::vector<CmsgBuf> ctl;
  void Reserve(size_t n) {
    if (msgs.size() >= n) return;
    msgs.resize(n);
    iov.resize(n);
    names.resize(n);
    ctl.resize(n);
  }
};
static thread_local MsgArrays t_msgs;

// recvBatch(fd, slab, start, len, slotSize, headroom, srcAddr, dstAddr, max, srcPort?) -> n | -errno
// One recvmmsg(MSG_DONTWAIT) into slots 0..n-1 (at i*slotSize + headroom). srcAddr[i] is the
// sender, dstAddr[i] the packet's destination (from IP_PKTINFO), srcPort[i] the sender's port.
// A datagram larger than its slot is reported with len 0, so any length check drops it.
Napi::Value RecvBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  Span<uint8_t> slab = ArgU8(info, 1, "slab");
  Span<int32_t> start = ArgI32(info, 2, "start");
  Span<int32_t> len = ArgI32(info, 3, "len");
  int64_t slot = ArgInt(info, 4, "slotSize", 1, INT32_MAX);
  int64_t headroom = ArgInt(info, 5, "headroom", 0, slot - 1);
  Span<uint32_t> src = ArgU32(info, 6, "srcAddr");
  Span<uint32_t> dst = ArgU32(info, 7, "dstAddr");
  int64_t max = ArgInt(info, 8, "max", 0, 1024);  // UIO_MAXIOV: the kernel's cap on one call
  Span<uint16_t> sport = ArgU16Opt(info, 9, "srcPort");
  Span<uint16_t> gsz = ArgU16Opt(info, 10, "gsoSize");
  const size_t m = static_cast<size_t>(max);
  if (m > start.len || m > len.len || m > src.len || m > dst.len || (sport.data && m > sport.len) ||
      (gsz.data && m > gsz.len) ||
      static_cast<uint64_t>(max) * static_cast<uint64_t>(slot) > slab.len) {
    ThrowRange(env, "recvBatch: max " + std::to_string(max) + " slots do not fit the slab or the arrays");
  }
  if (m == 0) return Napi::Number::New(env, 0);
  MsgArrays& a = t_msgs;
  a.Reserve(m);
  const size_t cap = static_cast<size_t>(slot - headroom);
  for (size_t i = 0; i < m; i++) {
    a.iov[i].iov_base = slab.data + i * static_cast<size_t>(slot) + static_cast<size_t>(headroom);
    a.iov[i].iov_len = cap;
    struct msghdr& h = a.msgs[i].msg_hdr;
    h.msg_name = &a.names[i];
    h.msg_namelen = sizeof(struct sockaddr_in);
    h.msg_iov = &a.iov[i];
    h.msg_iovlen = 1;
    h.msg_control = a.ctl[i].bytes;
    h.msg_controllen = sizeof a.ctl[i].bytes;
    h.msg_flags = 0;
    a.msgs[i].msg_len = 0;
  }
  int r;
  do {
    r = recvmmsg(fd, a.msgs.data(), static_cast<unsigned int>(m), MSG_DONTWAIT, nullptr);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, 0);
    return Napi::Number::New(env, -errno);
  }
  for (int i = 0; i < r; i++) {
    struct msghdr& h = a.msgs[i].msg_hdr;
    start[i] = static_cast<int32_t>(i * slot + headroom);
    len[i] = (h.msg_flags & MSG_TRUNC) ? 0 : static_cast<int32_t>(a.msgs[i].msg_len);
    src[i] = ntohl(a.names[i].sin_addr.s_addr);
    if (sport.data) sport[i] = ntohs(a.names[i].sin_port);
    uint32_t d = 0;
    int g = 0;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        struct in_pktinfo pi;
        std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
        d = ntohl(pi.ipi_addr.s_addr);
      } else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        std::memcpy(&g, CMSG_DATA(c), sizeof g);
      }
    }
    dst[i] = d;
    if (gsz.data) gsz[i] = static_cast<uint16_t>(g > 0 && g < 65536 ? g : 0);
  }
  return Napi::Number::New(env, r);
}

// The destination, the iovecs and the control messages of message k: IP_PKTINFO to choose the
// source address (a host with several PAs), UDP_SEGMENT when gso > 0.
static void FillSendHdr(MsgArrays& a, size_t k, struct iovec* iov, size_t iovlen, uint32_t dst, uint16_t port, uint32_t src, uint16_t gso) {
  struct sockaddr_in& sin = a.names[k];
  std::memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(dst);
  sin.sin_port = htons(port);
  struct msghdr& h = a.msgs[k].msg_hdr;
  h.msg_name = &sin;
  h.msg_namelen = sizeof sin;
  h.msg_iov = iov;
  h.msg_iovlen = iovlen;
  h.msg_flags = 0;
  size_t clen = 0;
  char* cbuf = a.ctl[k].bytes;
  if (src != 0) {
    struct cmsghdr* c = reinterpret_cast<struct cmsghdr*>(cbuf + clen);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo pi;
    std::memset(&pi, 0, sizeof pi);
    pi.ipi_spec_dst.s_addr = htonl(src);
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    clen += CMSG_SPACE(sizeof(struct in_pktinfo));
  }
  if (gso > 0) {
    struct cmsghdr* c = reinterpret_cast<struct cmsghdr*>(cbuf + clen);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    std::memcpy(CMSG_DATA(c), &gso, sizeof gso);
    clen += CMSG_SPACE(sizeof(int));  // CMSG_SPACE(2) == CMSG_SPACE(4): both pad to 8
  }
  h.msg_control = clen ? cbuf : nullptr;
  h.msg_controllen = clen;
}

// Message k of a send batch as one iovec.
static void FillSendMsg(MsgArrays& a, size_t k, uint8_t* base, size_t len, uint32_t dst, uint16_t port, uint32_t src, uint16_t gso) {
  a.iov[k].iov_base = base;
  a.iov[k].iov_len = len;
  FillSendHdr(a, k, &a.iov[k], 1, dst, port, src, gso);
}
// sendBatch(fd, slab, start, len, idx, srcAddr, dstAddr, dstPort, count, gsoSize?) -> n | -errno
// Sends slot idx[k] to dstAddr[k]:dstPort from srcAddr[k] (0: the kernel picks by route). The
// port is meaningless for raw sockets. gsoSize > 0 (UDP sockets only) adds UDP_SEGMENT so one
// large payload leaves as several datagrams of gsoSize bytes.
// n counts datagrams the kernel took. A datagram the kernel refuses (no route, bad source,
// too big) is skipped and the rest still go; EAGAIN/ENOBUFS (queue full) ends the batch. If
// nothing went and something failed, the first error is returned as -errno.
Napi::Value SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  Span<uint8_t> slab = ArgU8(info, 1, "slab");
  Span<int32_t> start = ArgI32(info, 2, "start");
  Span<int32_t> len = ArgI32(info, 3, "len");
  Span<int32_t> idx = ArgI32(info, 4, "idx");
  Span<uint32_t> src = ArgU32(info, 5, "srcAddr");
  Span<uint32_t> dst = ArgU32(info, 6, "dstAddr");
  uint16_t port = static_cast<uint16_t>(ArgInt(info, 7, "dstPort", 0, 65535));
  int64_t count = ArgInt(info, 8, "count", 0, static_cast<int64_t>(idx.len));
  int64_t gso = ArgIntOpt(info, 9, "gsoSize", 0, 65535, 0);
  const size_t m = static_cast<size_t>(count);
  if (m > src.len || m > dst.len) ThrowRange(env, "sendBatch: count exceeds srcAddr/dstAddr");
  for (size_t k = 0; k < m; k++) {
    int32_t i = idx[k];
    if (i < 0 || static_cast<size_t>(i) >= start.len || static_cast<size_t>(i) >= len.len || start[i] < 0 ||
        len[i] < 0 || static_cast<uint64_t>(start[i]) + static_cast<uint64_t>(len[i]) > slab.len) {
      ThrowRange(env, "sendBatch: slot idx[" + std::to_string(k) + "]=" + std::to_string(i) +
                          " is outside the slab or the start/len arrays");
    }
  }
  if (m == 0) return Napi::Number::New(env, 0);
  MsgArrays& a = t_msgs;
  a.Reserve(m);
  for (size_t k = 0; k < m; k++) {
    const int32_t i = idx[k];
    FillSendMsg(a, k, slab.data + start[i], static_cast<size_t>(len[i]), dst[k], port, src[k], gso > 0 ? static_cast<uint16_t>(gso) : 0);
  }
  size_t next = 0;
  int sent = 0;
  int first_err = 0;
  while (next < m) {
    int r = sendmmsg(fd, a.msgs.data() + next, static_cast<unsigned int>(m - next), MSG_DONTWAIT);
    if (r > 0) {
      next += static_cast<size_t>(r);
      sent += r;
      continue;
    }
    if (r == 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;  // full: drop the rest
    if (!first_err) first_err = errno;
    next++;  // msgs[next] was refused: skip it, send the rest
  }
  return Napi::Number::New(env, sent > 0 || first_err == 0 ? sent : -first_err);
}

// sendMsgs(fds, slab, start, len, gso, srcAddr, dstAddr, dstPort, count, parts?) -> n | -errno
// Message k is slab[start[k], start[k]+len[k]) sent on socket fds[k] to dstAddr[k]:dstPort from
// srcAddr[k]; gso[k] > 0 adds UDP_SEGMENT (the payload leaves as datagrams of gso[k] bytes).
// With parts, message k is gathered from parts[k] consecutive ranges of start/len instead (the
// ranges of message 0 first, then those of message 1, ...): datagrams that sit apart in the slab
// leave as one UDP_SEGMENT message without being copied together first.
// Runs of consecutive messages with the same fd go in one sendmmsg, so a batch spread over a
// pool of sockets (one per outer source port) is still one N-API call. Stops at the first full
// queue (EAGAIN/ENOBUFS); refused messages are skipped. Returns how many messages went.
Napi::Value SendMsgs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Span<int32_t> fds = ArgI32(info, 0, "fds");
  Span<uint8_t> slab = ArgU8(info, 1, "slab");
  Span<int32_t> start = ArgI32(info, 2, "start");
  Span<int32_t> len = ArgI32(info, 3, "len");
  Span<uint16_t> gso = ArgU16Opt(info, 4, "gso");
  Span<uint32_t> src = ArgU32(info, 5, "srcAddr");
  Span<uint32_t> dst = ArgU32(info, 6, "dstAddr");
  uint16_t port = static_cast<uint16_t>(ArgInt(info, 7, "dstPort", 0, 65535));
  int64_t count = ArgInt(info, 8, "count", 0, INT32_MAX);
  Span<uint16_t> parts = ArgU16Opt(info, 9, "parts");
  const size_t m = static_cast<size_t>(count);
  if (m > fds.len || m > src.len || m > dst.len || (gso.data && m > gso.len) || (parts.data && m > parts.len)) {
    ThrowRange(env, "sendMsgs: count exceeds an array");
  }
  // ranges: one per message, or parts[k] for message k (at least 1, at most the kernel's UIO_MAXIOV)
  size_t ranges = m;
  if (parts.data) {
    ranges = 0;
    for (size_t k = 0; k < m; k++) {
      if (parts[k] == 0 || parts[k] > 1024) ThrowRange(env, "sendMsgs: message " + std::to_string(k) + " has " + std::to_string(parts[k]) + " parts (1 to 1024)");
      ranges += parts[k];
    }
  }
  if (ranges > start.len || ranges > len.len) ThrowRange(env, "sendMsgs: the messages' ranges exceed start/len");
  for (size_t j = 0; j < ranges; j++) {
    if (start[j] < 0 || len[j] < 0 || static_cast<uint64_t>(start[j]) + static_cast<uint64_t>(len[j]) > slab.len) {
      ThrowRange(env, "sendMsgs: range " + std::to_string(j) + " is outside the slab");
    }
  }
  if (m == 0) return Napi::Number::New(env, 0);
  MsgArrays& a = t_msgs;
  a.Reserve(m);
  if (!parts.data) {
    for (size_t k = 0; k < m; k++) {
      const uint16_t g = gso.data && gso[k] > 0 && static_cast<size_t>(len[k]) > gso[k] ? gso[k] : 0;
      FillSendMsg(a, k, slab.data + start[k], static_cast<size_t>(len[k]), dst[k], port, src[k], g);
    }
  } else {
    if (a.gather.size() < ranges) a.gather.resize(ranges);
    size_t j = 0;
    for (size_t k = 0; k < m; k++) {
      struct iovec* iov = &a.gather[j];
      size_t total = 0;
      for (size_t q = 0; q < parts[k]; q++, j++) {
        a.gather[j].iov_base = slab.data + start[j];
        a.gather[j].iov_len = static_cast<size_t>(len[j]);
        total += static_cast<size_t>(len[j]);
      }
      const uint16_t g = gso.data && gso[k] > 0 && total > gso[k] ? gso[k] : 0;
      FillSendHdr(a, k, iov, parts[k], dst[k], port, src[k], g);
    }
  }
  size_t next = 0;
  int sent = 0;
  int first_err = 0;
  while (next < m) {
    size_t end = next + 1;
    while (end < m && fds[end] == fds[next]) end++;
    int r = sendmmsg(fds[next], a.msgs.data() + next, static_cast<unsigned int>(end - next), MSG_DONTWAIT);
    if (r > 0) {
      next += static_cast<size_t>(r);
      sent += r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
    if (!first_err) first_err = errno;
    next++;
  }
  return Napi::Number::New(env, sent > 0 || first_err == 0 ? sent : -first_err);
}

}  // namespace sy
