// AF_PACKET sockets: the bound NIC of an External virtual switch (issue 14). One socket receives
// every frame that reaches the NIC (promiscuous), not the host's own transmissions
// (PACKET_IGNORE_OUTGOING: nor the frames we send), and sends whole Ethernet frames onto the wire.
// read()/write() of one frame each work on it as on a TAP queue (fdio.cc), so the same batch calls
// and the same worker code move its frames. Several sockets of one fanout group (one per worker)
// share the NIC's frames instead of each getting a copy: by the kernel's flow hash
// (PACKET_FANOUT_HASH), or by a classic BPF program set afterwards with attachCbpf(fd, 'fanout')
// (PACKET_FANOUT_CBPF; until then every frame goes to the first member).
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "calls.h"
#include "errors.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23  // Linux 4.20
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

}  // namespace sy
