// Batched frame I/O on one fd with plain read()/write(): a TAP queue hands over exactly one frame
// per read() and takes one per write(), so a batch is a loop of syscalls inside one N-API call
// (STYLE.md 5). Frames go into and come out of caller-owned slab slots; nothing is allocated.
#include <unistd.h>

#include <cerrno>
#include <string>

#include "calls.h"
#include "errors.h"

namespace sy {

// readBatch(fd, slab, start, len, slotSize, headroom, max) -> n | -errno
// Frame i lands at i*slotSize + headroom (room in front for outer headers, STYLE.md 3); a slot
// holds slotSize - headroom bytes. Stops at EAGAIN; an error after some frames returns the
// count, and the next call reports it.
Napi::Value ReadBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  Span<uint8_t> slab = ArgU8(info, 1, "slab");
  Span<int32_t> start = ArgI32(info, 2, "start");
  Span<int32_t> len = ArgI32(info, 3, "len");
  int64_t slot = ArgInt(info, 4, "slotSize", 1, INT32_MAX);
  int64_t headroom = ArgInt(info, 5, "headroom", 0, slot - 1);
  int64_t max = ArgInt(info, 6, "max", 0, INT32_MAX);
  if (static_cast<size_t>(max) > start.len || static_cast<size_t>(max) > len.len ||
      static_cast<uint64_t>(max) * static_cast<uint64_t>(slot) > slab.len) {
    ThrowRange(env, "readBatch: max " + std::to_string(max) + " slots of " + std::to_string(slot) +
                        " bytes do not fit the slab/start/len arrays");
  }
  const size_t cap = static_cast<size_t>(slot - headroom);
  int32_t n = 0;
  while (n < max) {
    const size_t off = static_cast<size_t>(n) * static_cast<size_t>(slot) + static_cast<size_t>(headroom);
    ssize_t r = read(fd, slab.data + off, cap);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return Napi::Number::New(env, n > 0 ? n : -errno);
    }
    if (r == 0) break;  // a detached queue reads as end-of-file
    start[n] = static_cast<int32_t>(off);
    len[n] = static_cast<int32_t>(r);
    n++;
  }
  return Napi::Number::New(env, n);
}

// writeBatch(fd, slab, start, len, idx, count, prefix = 0) -> n | -errno
// Writes slots idx[0..count) as slab[start[i]-prefix, start[i]+len[i]); prefix lets a TAP with
// IFF_VNET_HDR take the virtio-net header that sits just before the frame. Returns how many the
// kernel took: a frame it refuses (EINVAL for a bad vnet header, EIO) is skipped and the rest
// still go; EAGAIN/ENOBUFS (queue full) ends the batch. If nothing went and something failed,
// the first error is returned as -errno.
Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  Span<uint8_t> slab = ArgU8(info, 1, "slab");
  Span<int32_t> start = ArgI32(info, 2, "start");
  Span<int32_t> len = ArgI32(info, 3, "len");
  Span<int32_t> idx = ArgI32(info, 4, "idx");
  int64_t count = ArgInt(info, 5, "count", 0, static_cast<int64_t>(idx.len));
  int64_t prefix = ArgIntOpt(info, 6, "prefix", 0, 4096, 0);
  // Check every range before the first write, so a bad index fails the whole call cleanly.
  for (int64_t k = 0; k < count; k++) {
    int32_t i = idx[k];
    if (i < 0 || static_cast<size_t>(i) >= start.len || static_cast<size_t>(i) >= len.len ||
        start[i] - prefix < 0 || len[i] < 0 ||
        static_cast<uint64_t>(start[i]) + static_cast<uint64_t>(len[i]) > slab.len) {
      ThrowRange(env, "writeBatch: slot idx[" + std::to_string(k) + "]=" + std::to_string(i) +
                          " is outside the slab or the start/len arrays");
    }
  }
  int32_t n = 0;
  int first_err = 0;
  for (int64_t k = 0; k < count; k++) {
    const int32_t i = idx[k];
    ssize_t r = write(fd, slab.data + start[i] - prefix, static_cast<size_t>(len[i] + prefix));
    if (r < 0) {
      if (errno == EINTR) {
        k--;
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
      if (!first_err) first_err = errno;
      continue;
    }
    n++;
  }
  return Napi::Number::New(env, n > 0 || first_err == 0 ? n : -first_err);
}

// close(fd) -> 0 | -errno. Never throws: it runs in cleanup paths.
Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  int r = close(fd);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}

}  // namespace sy
