// Unix stream sockets with fd passing, memfds and eventfds: what a vhost-user back end needs
// around the protocol (listen/accept/connect on a socket path), and what a test stand-in for the
// front end needs to play qemu (guest memory in a memfd it maps, eventfds, SCM_RIGHTS sends).
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "calls.h"
#include "errors.h"

namespace sy {

namespace {
bool FillAddr(const std::string& path, struct sockaddr_un* a) {
  std::memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a->sun_path) return false;
  std::memcpy(a->sun_path, path.data(), path.size());
  return true;
}

void SetTimeout(int fd) {
  // a peer that sends half a message may stall a read this long, no more
  struct timeval tv = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::string ArgPath(const Napi::CallbackInfo& info, const char* what) {
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + ": path must be a string");
  return info[0].As<Napi::String>().Utf8Value();
}
}  // namespace

// unixListen(path) -> fd: a non-blocking listening socket at path (which must not exist).
Napi::Value UnixListen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgPath(info, "unixListen");
  struct sockaddr_un a;
  if (!FillAddr(path, &a)) ThrowErrno(env, ENAMETOOLONG, "unixListen " + path, "bind");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowErrno(env, errno, "unixListen " + path + ": socket", "socket");
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof a) < 0 || listen(fd, 4) < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "unixListen " + path, "bind");
  }
  return Napi::Number::New(env, fd);
}

// unixAccept(fd) -> connection fd (blocking, with 1 s timeouts) or -errno (-EAGAIN: none waiting).
Napi::Value UnixAccept(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return Napi::Number::New(info.Env(), -errno);
  SetTimeout(c);
  return Napi::Number::New(info.Env(), c);
}

// unixConnect(path) -> connection fd (blocking, with 1 s timeouts) or -errno (ENOENT, ECONNREFUSED:
// nobody listens yet).
Napi::Value UnixConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgPath(info, "unixConnect");
  struct sockaddr_un a;
  if (!FillAddr(path, &a)) return Napi::Number::New(env, -ENAMETOOLONG);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Napi::Number::New(env, -errno);
  if (connect(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof a) < 0) {
    int err = errno;
    close(fd);
    return Napi::Number::New(env, -err);
  }
  SetTimeout(fd);
  return Napi::Number::New(env, fd);
}

// unixSendMsg(fd, bytes, fds?: Int32Array) -> bytes sent or -errno (SCM_RIGHTS for fds).
Napi::Value UnixSendMsg(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  Span<uint8_t> buf = ArgU8(info, 1, "bytes");
  Span<int32_t> fds{nullptr, 0};
  if (!info[2].IsUndefined()) fds = ArgI32(info, 2, "fds");
  if (fds.len > 16) ThrowRange(info.Env(), "unixSendMsg: at most 16 fds");
  struct iovec iov = {buf.data, buf.len};
  struct msghdr msg;
  std::memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 16)];
  if (fds.len) {
    msg.msg_control = cbuf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.len);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.len);
    std::memcpy(CMSG_DATA(c), fds.data, sizeof(int) * fds.len);
  }
  ssize_t r = sendmsg(fd, &msg, MSG_NOSIGNAL);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : r);
}

// unixRecv(fd, bytes, wait) -> bytes read, 0 at end of stream, or -errno; without wait it does
// not block (-EAGAIN), with wait it blocks up to the socket's timeout.
Napi::Value UnixRecv(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  Span<uint8_t> buf = ArgU8(info, 1, "bytes");
  const bool wait = info[2].ToBoolean().Value();
  ssize_t r = recv(fd, buf.data, buf.len, wait ? 0 : MSG_DONTWAIT);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : r);
}

// memfdCreate(name, size, seals?) -> fd of a memfd of that size (guest memory for a test front
// end). Without `seals` the memfd cannot be sealed (as qemu's memory-backend-memfd,seal=off); with
// it, it can, and gets those F_SEAL_* bits (0: none yet; qemu's seal=on adds GROW|SHRINK|SEAL).
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgPath(info, "memfdCreate");
  int64_t size = ArgInt(info, 1, "size", 1, int64_t{1} << 34);
  int64_t seals = ArgIntOpt(info, 2, "seals", -1, 0xffff, -1);
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC | (seals >= 0 ? MFD_ALLOW_SEALING : 0));
  if (fd < 0) ThrowErrno(env, errno, "memfdCreate", "memfd_create");
  if (ftruncate(fd, size) < 0 || (seals > 0 && fcntl(fd, F_ADD_SEALS, static_cast<int>(seals)) < 0)) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "memfdCreate: ftruncate/F_ADD_SEALS", "ftruncate");
  }
  return Napi::Number::New(env, fd);
}

// memfdSeals(fd) -> its F_SEAL_* bits, or -errno (EINVAL: not a memfd).
Napi::Value MemfdSeals(const Napi::CallbackInfo& info) {
  int r = fcntl(ArgFd(info, 0), F_GET_SEALS);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : r);
}

// mapShared(fd, size) -> ArrayBuffer over a shared mapping of the fd (unmapped when collected).
Napi::Value MapShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  int64_t size = ArgInt(info, 1, "size", 1, int64_t{1} << 34);
  void* m = mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) ThrowErrno(env, errno, "mapShared", "mmap");
  return Napi::ArrayBuffer::New(
      env, m, static_cast<size_t>(size),
      [](Napi::Env, void* data, size_t* len) {
        munmap(data, *len);
        delete len;
      },
      new size_t(static_cast<size_t>(size)));
}

// eventfdCreate() -> a non-blocking eventfd.
Napi::Value EventfdCreate(const Napi::CallbackInfo& info) {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) ThrowErrno(info.Env(), errno, "eventfdCreate", "eventfd");
  return Napi::Number::New(info.Env(), fd);
}

// eventfdWrite(fd) adds 1; eventfdRead(fd) -> the count taken (0 when none).
Napi::Value EventfdWrite(const Napi::CallbackInfo& info) {
  uint64_t one = 1;
  ssize_t r = write(ArgFd(info, 0), &one, sizeof one);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}
Napi::Value EventfdRead(const Napi::CallbackInfo& info) {
  uint64_t v = 0;
  ssize_t r = read(ArgFd(info, 0), &v, sizeof v);
  return Napi::Number::New(info.Env(), r < 0 ? 0 : static_cast<double>(v));
}

}  // namespace sy
