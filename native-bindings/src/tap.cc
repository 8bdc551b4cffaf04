// TAP devices through /dev/net/tun: each open() is one queue of the device (IFF_MULTI_QUEUE lets
// several fds, one per worker, share a device); frames are plain Ethernet (IFF_NO_PI), optionally
// preceded by a virtio-net header (IFF_VNET_HDR) that carries checksum and TSO offload state.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "calls.h"
#include "errors.h"

namespace sy {

static int OpenTun(Napi::Env env, const std::string& what) {
  // O_NONBLOCK: readiness comes from uv_poll and every batch stops at EAGAIN.
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) ThrowErrno(env, errno, what + ": open /dev/net/tun", "open");
  return fd;
}

// tapOpen(name, {multiQueue?, vnetHdr?, exclusive?}) -> {fd, name}. name may be a pattern like
// "tap%d"; the returned name is the kernel's. exclusive (IFF_TUN_EXCL): only create, never attach
// to a device that exists already (EBUSY) - someone else's persistent TAP, or a VM's.
Napi::Value TapOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "tapOpen: name must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  const std::string what = "tapOpen " + name;
  if (name.size() >= IFNAMSIZ) {
    ThrowErrno(env, EINVAL, what + ": name longer than " + std::to_string(IFNAMSIZ - 1) + " bytes", "ioctl");
  }
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (OptBool(info[1], "multiQueue", false)) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  if (OptBool(info[1], "vnetHdr", false)) ifr.ifr_flags |= IFF_VNET_HDR;
  if (OptBool(info[1], "exclusive", false)) ifr.ifr_flags |= IFF_TUN_EXCL;

  int fd = OpenTun(env, what);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, what + ": TUNSETIFF", "ioctl");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("name", Napi::String::New(env, ifr.ifr_name));
  return out;
}

// tapSetOffload(fd, flags): which offloads (TUN_F_CSUM, TUN_F_TSO4, ...) we accept on write and
// the kernel may hand us on read; needs IFF_VNET_HDR to mean anything.
Napi::Value TapSetOffload(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  unsigned long flags = static_cast<unsigned long>(ArgInt(info, 1, "flags", 0, UINT32_MAX));
  if (ioctl(fd, TUNSETOFFLOAD, flags) < 0) {
    ThrowErrno(info.Env(), errno, "tapSetOffload fd " + std::to_string(fd) + ": TUNSETOFFLOAD", "ioctl");
  }
  return info.Env().Undefined();
}

// tapSetVnetHdrSize(fd, n): 10 (virtio_net_hdr) by default; 12 adds num_buffers, the layout
// virtio 1.0 uses.
Napi::Value TapSetVnetHdrSize(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  int n = static_cast<int>(ArgInt(info, 1, "size", 0, 64));
  if (ioctl(fd, TUNSETVNETHDRSZ, &n) < 0) {
    ThrowErrno(info.Env(), errno, "tapSetVnetHdrSize fd " + std::to_string(fd) + ": TUNSETVNETHDRSZ", "ioctl");
  }
  return info.Env().Undefined();
}

// tapFeatures() -> the IFF_* flags this kernel's tun driver supports (TUNGETFEATURES).
Napi::Value TapFeatures(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = OpenTun(env, "tapFeatures");
  unsigned int features = 0;
  if (ioctl(fd, TUNGETFEATURES, &features) < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "tapFeatures: TUNGETFEATURES", "ioctl");
  }
  close(fd);
  return Napi::Number::New(env, features);
}

// tapSetQueue(fd, attach): detaches a queue of a multi-queue device (the kernel stops steering
// frames to it) or attaches it again.
Napi::Value TapSetQueue(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = info[1].ToBoolean().Value() ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
  if (ioctl(fd, TUNSETQUEUE, &ifr) < 0) {
    ThrowErrno(info.Env(), errno, "tapSetQueue fd " + std::to_string(fd) + ": TUNSETQUEUE", "ioctl");
  }
  return info.Env().Undefined();
}

void TapConstants(Napi::Env env, Napi::Object c) {
  c.Set("IFF_TAP", Napi::Number::New(env, IFF_TAP));
  c.Set("IFF_NO_PI", Napi::Number::New(env, IFF_NO_PI));
  c.Set("IFF_MULTI_QUEUE", Napi::Number::New(env, IFF_MULTI_QUEUE));
  c.Set("IFF_VNET_HDR", Napi::Number::New(env, IFF_VNET_HDR));
  c.Set("IFF_TUN_EXCL", Napi::Number::New(env, IFF_TUN_EXCL));
  c.Set("TUN_F_CSUM", Napi::Number::New(env, TUN_F_CSUM));
  c.Set("TUN_F_TSO4", Napi::Number::New(env, TUN_F_TSO4));
  c.Set("TUN_F_TSO6", Napi::Number::New(env, TUN_F_TSO6));
  c.Set("TUN_F_TSO_ECN", Napi::Number::New(env, TUN_F_TSO_ECN));
  c.Set("TUN_F_UFO", Napi::Number::New(env, TUN_F_UFO));
#ifdef TUN_F_USO4
  c.Set("TUN_F_USO4", Napi::Number::New(env, TUN_F_USO4));
  c.Set("TUN_F_USO6", Napi::Number::New(env, TUN_F_USO6));
#else
  // Older uapi headers (before Linux 6.2) lack the names; the values are fixed by the ABI.
  c.Set("TUN_F_USO4", Napi::Number::New(env, 0x20));
  c.Set("TUN_F_USO6", Napi::Number::New(env, 0x40));
#endif
}

}  // namespace sy
