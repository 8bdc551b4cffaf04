// The kernel's route and neighbour for one IPv4 destination, over rtnetlink (RTM_GETROUTE, then
// RTM_GETNEIGH for the next hop): what the NVGRE TX ring (io/nvgre-tx-ring.ts) needs for the
// outer Ethernet header. A netlink round trip is a few microseconds; running `ip` would fork the
// agent, whose page tables (hundreds of MB of slabs) fork copies and whose writes then fault.
#include <arpa/inet.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "calls.h"
#include "errors.h"

namespace sy {

namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// Sends one request and reads its one answer into buf; returns the answer's length, 0 when the
// kernel answered with an error (*err = its errno), -1 on a socket error (errno set).
ssize_t Ask(int fd, void* req, size_t len, char* buf, size_t cap, int* err) {
  struct sockaddr_nl sa;
  std::memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  if (sendto(fd, req, len, 0, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0) return -1;
  ssize_t n;
  do {
    n = recv(fd, buf, cap, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  auto* h = reinterpret_cast<struct nlmsghdr*>(buf);
  if (!NLMSG_OK(h, static_cast<size_t>(n))) {
    *err = EBADMSG;
    return 0;
  }
  if (h->nlmsg_type == NLMSG_ERROR) {
    auto* e = static_cast<struct nlmsgerr*>(NLMSG_DATA(h));
    *err = e->error < 0 ? -e->error : EBADMSG;
    return 0;
  }
  return n;
}

void AddAttr(struct nlmsghdr* h, size_t cap, uint16_t type, const void* data, size_t len) {
  size_t at = NLMSG_ALIGN(h->nlmsg_len);
  auto* a = reinterpret_cast<struct rtattr*>(reinterpret_cast<char*>(h) + at);
  if (at + RTA_SPACE(len) > cap) return;
  a->rta_type = type;
  a->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
  std::memcpy(RTA_DATA(a), data, len);
  h->nlmsg_len = static_cast<uint32_t>(at + RTA_SPACE(len));
}

}  // namespace

// nextHop(dst) -> {dev, ifindex, nextHop, prefsrc, mac: Uint8Array | null, state} | {error}
// dst, nextHop and prefsrc are host-order IPv4 numbers (prefsrc 0: none). state is the neighbour
// entry's NUD_* bits (0: no entry). error: the route lookup failed (no route, not unicast), with
// its reason; the call itself throws only when it cannot talk to netlink.
Napi::Value NextHop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t dst = static_cast<uint32_t>(ArgInt(info, 0, "dst", 0, UINT32_MAX));
  Fd s{socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)};
  if (s.fd < 0) ThrowErrno(env, errno, "nextHop: netlink socket", "socket");
  struct timeval tv = {1, 0};  // never hang the caller's thread
  setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  Napi::Object out = Napi::Object::New(env);
  alignas(struct nlmsghdr) char req[256];
  alignas(struct nlmsghdr) char buf[8192];
  int err = 0;

  std::memset(req, 0, sizeof req);
  auto* h = reinterpret_cast<struct nlmsghdr*>(req);
  h->nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
  h->nlmsg_type = RTM_GETROUTE;
  h->nlmsg_flags = NLM_F_REQUEST;
  h->nlmsg_seq = 1;
  auto* rt = static_cast<struct rtmsg*>(NLMSG_DATA(h));
  rt->rtm_family = AF_INET;
  rt->rtm_dst_len = 32;
  uint32_t be = htonl(dst);
  AddAttr(h, sizeof req, RTA_DST, &be, 4);
  ssize_t n = Ask(s.fd, req, h->nlmsg_len, buf, sizeof buf, &err);
  if (n < 0) ThrowErrno(env, errno, "nextHop: RTM_GETROUTE", "netlink");
  if (n == 0) {
    out.Set("error", Napi::String::New(env, std::string("route: ") + std::strerror(err)));
    return out;
  }
  auto* rh = reinterpret_cast<struct nlmsghdr*>(buf);
  auto* rm = static_cast<struct rtmsg*>(NLMSG_DATA(rh));
  if (rh->nlmsg_type != RTM_NEWROUTE || rm->rtm_type != RTN_UNICAST) {
    out.Set("error", Napi::String::New(env, "route: not a unicast route"));
    return out;
  }
  uint32_t oif = 0, gw = 0, src = 0;
  int alen = static_cast<int>(RTM_PAYLOAD(rh));
  for (struct rtattr* a = RTM_RTA(rm); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
    if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= 4) std::memcpy(&oif, RTA_DATA(a), 4);
    if (a->rta_type == RTA_GATEWAY && RTA_PAYLOAD(a) >= 4) std::memcpy(&gw, RTA_DATA(a), 4);
    if (a->rta_type == RTA_PREFSRC && RTA_PAYLOAD(a) >= 4) std::memcpy(&src, RTA_DATA(a), 4);
  }
  char name[IF_NAMESIZE] = {0};
  if (oif == 0 || !if_indextoname(oif, name)) {
    out.Set("error", Napi::String::New(env, "route: no output device"));
    return out;
  }
  const uint32_t hop = gw != 0 ? gw : be;
  out.Set("dev", Napi::String::New(env, name));
  out.Set("ifindex", Napi::Number::New(env, oif));
  out.Set("nextHop", Napi::Number::New(env, ntohl(hop)));
  out.Set("prefsrc", Napi::Number::New(env, ntohl(src)));
  out.Set("mac", env.Null());
  out.Set("state", Napi::Number::New(env, 0));

  std::memset(req, 0, sizeof req);
  h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
  h->nlmsg_type = RTM_GETNEIGH;
  h->nlmsg_flags = NLM_F_REQUEST;
  h->nlmsg_seq = 2;
  auto* nd = static_cast<struct ndmsg*>(NLMSG_DATA(h));
  nd->ndm_family = AF_INET;
  nd->ndm_ifindex = static_cast<int>(oif);
  AddAttr(h, sizeof req, NDA_DST, &hop, 4);
  n = Ask(s.fd, req, h->nlmsg_len, buf, sizeof buf, &err);
  if (n < 0) ThrowErrno(env, errno, "nextHop: RTM_GETNEIGH", "netlink");
  if (n == 0) return out;  // ENOENT: no entry yet
  auto* nh = reinterpret_cast<struct nlmsghdr*>(buf);
  if (nh->nlmsg_type != RTM_NEWNEIGH) return out;
  auto* nm = static_cast<struct ndmsg*>(NLMSG_DATA(nh));
  out.Set("state", Napi::Number::New(env, nm->ndm_state));
  int nlen = static_cast<int>(nh->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof(struct ndmsg)));
  for (struct rtattr* a = reinterpret_cast<struct rtattr*>(reinterpret_cast<char*>(nm) + NLMSG_ALIGN(sizeof(struct ndmsg)));
       RTA_OK(a, nlen); a = RTA_NEXT(a, nlen)) {
    if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
      Napi::Uint8Array mac = Napi::Uint8Array::New(env, 6);
      std::memcpy(mac.Data(), RTA_DATA(a), 6);
      out.Set("mac", mac);
    }
  }
  return out;
}

}  // namespace sy
