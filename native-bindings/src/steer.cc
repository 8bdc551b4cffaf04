// Flow steering for forwarding workers: BPF programs (built in TypeScript, src/io/steering.ts)
// that send both directions of a tenant flow to the same worker, so its flow table and
// connection tracking live in one thread. Three attach points:
//  - attachCbpf(fd, 'reuseport', prog): SO_ATTACH_REUSEPORT_CBPF on a UDP socket of a
//    SO_REUSEPORT group: the program returns the index of the socket (bind order) to deliver to.
//  - attachCbpf(fd, 'filter', prog): SO_ATTACH_FILTER: the program accepts (non-zero) or drops.
//  - attachCbpf(fd, 'fanout', prog): PACKET_FANOUT_DATA on an AF_PACKET socket of a
//    PACKET_FANOUT_CBPF group: the program returns the index of the member (join order).
//  - tapSetSteeringEbpf(fd, insns): TUNSETSTEERINGEBPF on a multi-queue TAP: an eBPF socket
//    filter program (loaded here with bpf(BPF_PROG_LOAD)) whose return value modulo the number
//    of queues picks the queue a frame sent by the tenant is put on.
// Classic programs come as a Uint32Array of pairs [code | jt << 16 | jf << 24, k]; eBPF ones as
// the raw 8-byte instructions in a Uint8Array.
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "calls.h"
#include "errors.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif
#ifndef TUNSETSTEERINGEBPF
#define TUNSETSTEERINGEBPF _IOR('T', 224, int)
#endif

namespace sy {

// attachCbpf(fd, 'filter' | 'reuseport' | 'fanout', prog: Uint32Array)
Napi::Value AttachCbpf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  const char* kinds = "attachCbpf: kind must be 'filter', 'reuseport' or 'fanout'";
  if (!info[1].IsString()) throw Napi::TypeError::New(env, kinds);
  std::string kind = info[1].As<Napi::String>().Utf8Value();
  if (kind != "filter" && kind != "reuseport" && kind != "fanout") throw Napi::TypeError::New(env, kinds);
  Span<uint32_t> words = ArgU32(info, 2, "prog");
  if (words.len == 0 || words.len % 2 != 0 || words.len / 2 > BPF_MAXINSNS) ThrowRange(env, "attachCbpf: prog must hold 1..4096 instructions");
  std::vector<struct sock_filter> insns(words.len / 2);
  for (size_t i = 0; i < insns.size(); i++) {
    uint32_t w = words[2 * i];
    insns[i].code = static_cast<uint16_t>(w & 0xffff);
    insns[i].jt = static_cast<uint8_t>((w >> 16) & 0xff);
    insns[i].jf = static_cast<uint8_t>((w >> 24) & 0xff);
    insns[i].k = words[2 * i + 1];
  }
  struct sock_fprog prog = {static_cast<unsigned short>(insns.size()), insns.data()};
  const bool fanout = kind == "fanout";
  const int level = fanout ? SOL_PACKET : SOL_SOCKET;
  const int opt = fanout ? PACKET_FANOUT_DATA : kind == "reuseport" ? SO_ATTACH_REUSEPORT_CBPF : SO_ATTACH_FILTER;
  if (setsockopt(fd, level, opt, &prog, sizeof prog) < 0) {
    const char* name = fanout ? "PACKET_FANOUT_DATA" : kind == "reuseport" ? "SO_ATTACH_REUSEPORT_CBPF" : "SO_ATTACH_FILTER";
    ThrowErrno(env, errno, "attachCbpf fd " + std::to_string(fd) + ": setsockopt " + name, "setsockopt");
  }
  return env.Undefined();
}

// tapSetSteeringEbpf(fd, insns: Uint8Array): loads the program and sets it as the TAP's queue
// selector (the device keeps its own reference; the program fd is closed here).
Napi::Value TapSetSteeringEbpf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  Span<uint8_t> code = ArgU8(info, 1, "insns");
  if (code.len == 0 || code.len % sizeof(struct bpf_insn) != 0) ThrowRange(env, "tapSetSteeringEbpf: insns must be whole 8-byte instructions");
  std::vector<struct bpf_insn> insns(code.len / sizeof(struct bpf_insn));
  std::memcpy(insns.data(), code.data, code.len);
  std::vector<char> logbuf(8192, 0);
  char* log = logbuf.data();
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insns = reinterpret_cast<uint64_t>(insns.data());
  attr.insn_cnt = static_cast<uint32_t>(insns.size());
  attr.license = reinterpret_cast<uint64_t>("GPL");
  attr.log_buf = reinterpret_cast<uint64_t>(log);
  attr.log_size = static_cast<uint32_t>(logbuf.size());
  attr.log_level = 1;
  // The verifier gives up with EAGAIN when a signal is pending (do_check: signal_pending). A
  // starting agent makes its ports in parallel, so the `ip` children it runs exit (SIGCHLD) while
  // a program loads: an 8-port switch failed to start about 1 time in 6. libbpf tries again up
  // to 5 times for the same reason, and so do we, with a short pause between. Retrying is not
  // enough under `node --cpu-prof`: V8's sampler sends this thread SIGPROF every millisecond, and
  // the verifier took longer than that five times running. So every signal is blocked on this
  // thread for the load: a thread-directed signal waits until the mask is restored, a
  // process-directed one goes to another thread, and the verifier sees none pending.
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &saved);
  int prog = -1;
  int err = 0;
  for (int attempt = 0; attempt < 5; attempt++) {
    if (attempt > 0) usleep(2000u << attempt);
    log[0] = '\0';
    prog = static_cast<int>(syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof attr));
    err = errno;
    if (prog >= 0 || err != EAGAIN) break;
  }
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (prog < 0) {
    std::string msg(log, strnlen(log, logbuf.size()));
    if (msg.size() > 400) msg = msg.substr(msg.size() - 400);
    ThrowErrno(env, err, "tapSetSteeringEbpf fd " + std::to_string(fd) + ": BPF_PROG_LOAD" + (msg.empty() ? "" : " [" + msg + "]"), "bpf");
  }
  if (ioctl(fd, TUNSETSTEERINGEBPF, &prog) < 0) {
    err = errno;
    close(prog);
    ThrowErrno(env, err, "tapSetSteeringEbpf fd " + std::to_string(fd) + ": TUNSETSTEERINGEBPF", "ioctl");
  }
  close(prog);
  return env.Undefined();
}

}  // namespace sy
