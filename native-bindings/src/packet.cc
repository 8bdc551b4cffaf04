// AF_PACKET sockets: the bound NIC of an External virtual switch (issue 14). One socket receives
// every frame that reaches the NIC (promiscuous), not the host's own transmissions
// (PACKET_IGNORE_OUTGOING: nor the frames we send), and sends whole Ethernet frames onto the wire.
// read()/write() of one frame each work on it as on a TAP queue (fdio.cc), so the same batch calls
// and the same worker code move its frames. Several sockets of one fanout group (one per worker)
// share the NIC's frames instead of each getting a copy: by the kernel's flow hash
// (PACKET_FANOUT_HASH), or by a classic BPF program set afterwards with attachCbpf(fd, 'fanout')
// (PACKET_FANOUT_CBPF; until then every frame goes to the first member).
// Reading is not read() (fdio.cc) but packetReadBatch: the kernel takes a received frame's outer
// 802.1Q/802.1ad tag off into skb metadata before a packet socket sees it, so read() would hand
// a frame of VLAN 5 (or a priority-tagged one, VLAN 0) over as untagged. With PACKET_AUXDATA each
// frame comes with its tag, and packetReadBatch puts it back in front of the EtherType, where the
// dataplane finds it and drops the frame as vlan-tagged like a tagged frame from any other port.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "calls.h"
#include "errors.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23  // Linux 4.20
#endif
#ifndef TP_STATUS_VLAN_TPID_VALID
#define TP_STATUS_VLAN_TPID_VALID (1 << 6)  // Linux 3.14
#endif
#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000  // recent kernels (6.x)
#endif

namespace sy {

// packetOpen(ifname, {fanout?: group id 1..65535, cbpf?: bool}) -> fd: non-blocking, bound to
// ifname, promiscuous for as long as it is open (the membership goes with the socket); with
// `fanout`, it joins that group (as member number = sockets joined before it), of type CBPF with
// `cbpf`, else HASH. A group's type is fixed by its first member: joining with another fails.
Napi::Value PacketOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "packetOpen: ifname must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  const std::string what = "packetOpen " + name;
  unsigned idx = if_nametoindex(name.c_str());
  if (idx == 0) ThrowErrno(env, errno, what + ": no such network device", "if_nametoindex");
  // protocol 0 until bound: nothing of other devices is queued in between
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowErrno(env, errno, what + ": socket", "socket");
  auto fail = [&](const char* step, const char* call) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, what + ": " + step, call);
  };
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) fail("PACKET_IGNORE_OUTGOING", "setsockopt");
  if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0) fail("PACKET_AUXDATA", "setsockopt");
  struct sockaddr_ll sll;
  std::memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = static_cast<int>(idx);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sll), sizeof sll) < 0) fail("bind", "bind");
  struct packet_mreq mr;
  std::memset(&mr, 0, sizeof mr);
  mr.mr_ifindex = static_cast<int>(idx);
  mr.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) fail("PACKET_MR_PROMISC", "setsockopt");
  int64_t group = OptInt(info[1], "fanout", 0, 65535, 0);
  if (group > 0) {
    // A group reads through its own hook: the socket's PACKET_IGNORE_OUTGOING no longer applies
    // once it joins, and the host's transmissions on the NIC reached the workers as if received
    // (seen here). The group's own flag says the same; a kernel that refuses the flag (EINVAL)
    // gets the group without it, as before.
    const int type = OptBool(info[1], "cbpf", false) ? PACKET_FANOUT_CBPF : PACKET_FANOUT_HASH;
    int arg = static_cast<int>(group) | ((type | PACKET_FANOUT_FLAG_IGNORE_OUTGOING) << 16);
    int rc = setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg);
    if (rc < 0 && errno == EINVAL) {
      arg = static_cast<int>(group) | (type << 16);
      rc = setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg);
    }
    if (rc < 0) fail("PACKET_FANOUT", "setsockopt");
  }
  return Napi::Number::New(env, fd);
}

// The outer tag the kernel took off the frame recvmsg returned with `mh`, as (tpid << 16 | tci), or -1 for none.
// A tag with VLAN id 0 and priority 0 has tci 0: TP_STATUS_VLAN_VALID says it was there.
static int64_t TakenTag(struct msghdr* mh) {
  for (struct cmsghdr* c = CMSG_FIRSTHDR(mh); c != nullptr; c = CMSG_NXTHDR(mh, c)) {
    if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA || c->cmsg_len < CMSG_LEN(sizeof(struct tpacket_auxdata))) continue;
    struct tpacket_auxdata aux;
    std::memcpy(&aux, CMSG_DATA(c), sizeof aux);
    if (!(aux.tp_status & TP_STATUS_VLAN_VALID) && aux.tp_vlan_tci == 0) return -1;
    const uint32_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : ETH_P_8021Q;
    return static_cast<int64_t>((tpid << 16) | aux.tp_vlan_tci);
  }
  return -1;
}

// packetReadBatch(fd, slab, start, len, slotSize, headroom, max) -> n | -errno
// readBatch (fdio.cc) for a packet socket opened by packetOpen: the same slots and results, one
// recvmsg per frame instead of one read(). A frame the kernel took a tag off gets it back: its
// first 12 bytes (the MACs) move 4 bytes into the headroom and the tag goes between them and the
// EtherType, so start[i] is 4 less and len[i] 4 more (headroom must be at least 4). Nothing is
// allocated: the control buffer is on the stack.
Napi::Value PacketReadBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  Span<uint8_t> slab = ArgU8(info, 1, "slab");
  Span<int32_t> start = ArgI32(info, 2, "start");
  Span<int32_t> len = ArgI32(info, 3, "len");
  int64_t slot = ArgInt(info, 4, "slotSize", 5, INT32_MAX);
  int64_t headroom = ArgInt(info, 5, "headroom", 4, slot - 1);
  int64_t max = ArgInt(info, 6, "max", 0, INT32_MAX);
  if (static_cast<size_t>(max) > start.len || static_cast<size_t>(max) > len.len ||
      static_cast<uint64_t>(max) * static_cast<uint64_t>(slot) > slab.len) {
    ThrowRange(env, "packetReadBatch: max " + std::to_string(max) + " slots of " + std::to_string(slot) +
                        " bytes do not fit the slab/start/len arrays");
  }
  const size_t cap = static_cast<size_t>(slot - headroom);
  alignas(struct cmsghdr) char ctrl[CMSG_SPACE(sizeof(struct tpacket_auxdata)) + 64];
  int32_t n = 0;
  while (n < max) {
    const size_t off = static_cast<size_t>(n) * static_cast<size_t>(slot) + static_cast<size_t>(headroom);
    struct iovec iov = {slab.data + off, cap};
    struct msghdr mh;
    std::memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctrl;
    mh.msg_controllen = sizeof ctrl;
    ssize_t r = recvmsg(fd, &mh, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return Napi::Number::New(env, n > 0 ? n : -errno);
    }
    if (r == 0) break;
    const int64_t tag = TakenTag(&mh);
    if (tag >= 0 && r >= 12) {
      uint8_t* f = slab.data + off;
      std::memmove(f - 4, f, 12);
      f[8] = static_cast<uint8_t>(tag >> 24);
      f[9] = static_cast<uint8_t>(tag >> 16);
      f[10] = static_cast<uint8_t>(tag >> 8);
      f[11] = static_cast<uint8_t>(tag);
      start[n] = static_cast<int32_t>(off - 4);
      len[n] = static_cast<int32_t>(r + 4);
    } else {
      start[n] = static_cast<int32_t>(off);
      len[n] = static_cast<int32_t>(r);
    }
    n++;
  }
  return Napi::Number::New(env, n);
}

}  // namespace sy
