// TAP frame batches through io_uring: the same calls as fdio.cc's readBatch/writeBatch, with one
// io_uring_enter per batch instead of one read()/write() per frame. On this paravirtualised guest
// every syscall pays the interrupt-enable hypercall, so per MTU frame that is the larger part of
// the I/O cost (README "Where the time goes", bench/tap-uring).
//
// Semantics stay synchronous: every read and write carries RWF_NOWAIT, so it completes inside the
// io_uring_enter that submitted it (a frame, or -EAGAIN when the queue is empty) and the call
// waits for every completion before it returns. The kernel never touches the caller's slab after
// the call, exactly as with read()/write(); no buffers are registered or handed over.
//
// Rings live in a process-wide table by id (as vhost devices do); each belongs to the thread that
// made it (one per worker), and the env's cleanup hook frees it when that thread ends.
#include <liburing.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "calls.h"
#include "errors.h"

namespace sy {

namespace {

// Submission queue entries per ring: a batch larger than this goes in several enters.
constexpr unsigned kEntries = 128;
// Reads a round starts with at most (the caller's hint is clamped to this and to max).
constexpr int kMaxRound = 64;

// Counters the ring writes into the caller's Float64Array (URING_STATS order in io/uring.ts).
enum Stat { kEnters = 0, kRxFrames, kTxFrames, kStatCount };

struct Ring {
  io_uring ring;
  napi_env env;
  int id;
  Napi::Reference<Napi::Float64Array> statsRef;
  double* stats;
};

std::mutex g_mu;
std::vector<Ring*> g_rings;  // by id; nullptr when freed

void Free(Ring* r) {
  io_uring_queue_exit(&r->ring);
  r->statsRef.Reset();
  delete r;
}

void CleanupHook(void* arg) {
  Ring* r = static_cast<Ring*>(arg);
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_rings[r->id] = nullptr;
  }
  Free(r);
}

Ring* Lookup(const Napi::CallbackInfo& info, size_t i) {
  int64_t id = ArgInt(info, i, "ring", 0, INT32_MAX);
  std::lock_guard<std::mutex> lock(g_mu);
  if (static_cast<size_t>(id) >= g_rings.size() || !g_rings[id] || g_rings[id]->env != info.Env()) {
    ThrowRange(info.Env(), "io_uring ring " + std::to_string(id) + " does not exist on this thread");
  }
  return g_rings[id];
}

// Submits everything queued and waits for `want` completions: one io_uring_enter, which returns at
// once because RWF_NOWAIT requests complete inline. EINTR with nothing submitted is retried (the
// entries are still queued); -errno when the ring itself fails.
int SubmitWait(Ring* r, unsigned want) {
  for (;;) {
    r->stats[kEnters]++;
    int e = io_uring_submit_and_wait(&r->ring, want);
    if (e >= 0) return 0;
    if (e != -EINTR) return e;
  }
}

// Takes the next `want` completions into res[user_data]; waits (retrying EINTR) for any that
// did not complete inline, which with RWF_NOWAIT should never happen.
int Reap(Ring* r, unsigned want, int32_t* res) {
  unsigned seen = 0;
  while (seen < want) {
    io_uring_cqe* cqe = nullptr;
    int e = io_uring_peek_cqe(&r->ring, &cqe);
    if (e == -EAGAIN) {
      r->stats[kEnters]++;
      e = io_uring_wait_cqe(&r->ring, &cqe);
      if (e == -EINTR) continue;
    }
    if (e < 0) return e;
    if (cqe->user_data < want) res[cqe->user_data] = cqe->res;
    io_uring_cqe_seen(&r->ring, cqe);
    seen++;
  }
  return 0;
}

}  // namespace

// uringCreate(stats: Float64Array(3)) -> ring id. Throws Error{code} when the kernel refuses
// io_uring (EPERM: kernel.io_uring_disabled or a seccomp filter; ENOSYS: no io_uring; EINVAL: no
// IORING_SETUP_SUBMIT_ALL, before 5.18): the caller falls back to read()/write().
Napi::Value UringCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[0].As<Napi::Float64Array>().ElementLength() < kStatCount) {
    throw Napi::TypeError::New(env, "uringCreate: stats must be a Float64Array of at least 3 elements");
  }
  Napi::Float64Array stats = info[0].As<Napi::Float64Array>();
  Ring* r = new Ring();
  io_uring_params p;
  std::memset(&p, 0, sizeof p);
  // SUBMIT_ALL: a request that fails to start is completed with its error and the rest still go,
  // so every submitted batch yields exactly one completion per entry (Reap counts on that).
  p.flags = IORING_SETUP_SUBMIT_ALL;
  int e = io_uring_queue_init_params(kEntries, &r->ring, &p);
  if (e < 0) {
    delete r;
    ThrowErrno(env, -e, "io_uring_setup", "io_uring_setup");
  }
  r->env = env;
  r->statsRef = Napi::Persistent(stats);
  r->stats = stats.Data();
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = std::find(g_rings.begin(), g_rings.end(), nullptr);
    if (it == g_rings.end()) it = g_rings.insert(g_rings.end(), nullptr);
    r->id = static_cast<int>(it - g_rings.begin());
    *it = r;
  }
  napi_add_env_cleanup_hook(env, CleanupHook, r);
  return Napi::Number::New(env, r->id);
}

// uringDestroy(ring): frees the ring; a second call throws RangeError like any unknown id.
Napi::Value UringDestroy(const Napi::CallbackInfo& info) {
  Ring* r = Lookup(info, 0);
  napi_remove_env_cleanup_hook(info.Env(), CleanupHook, r);
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_rings[r->id] = nullptr;
  }
  Free(r);
  return info.Env().Undefined();
}

// uringReadBatch(ring, fd, slab, start, len, slotSize, headroom, max, hint) -> n | -errno
// As readBatch: frame i lands at i*slotSize + headroom. Each round queues `hint` reads (then
// twice what the last full round got, up to 64), one io_uring_enter; a round that comes back
// with an empty read (-EAGAIN: the queue ran dry) ends the batch. A frame that arrived after an
// empty read of the same round is moved down, so frames keep their order and slot i holds
// frame i.
Napi::Value UringReadBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ring* r = Lookup(info, 0);
  int fd = ArgFd(info, 1);
  Span<uint8_t> slab = ArgU8(info, 2, "slab");
  Span<int32_t> start = ArgI32(info, 3, "start");
  Span<int32_t> len = ArgI32(info, 4, "len");
  int64_t slot = ArgInt(info, 5, "slotSize", 1, INT32_MAX);
  int64_t headroom = ArgInt(info, 6, "headroom", 0, slot - 1);
  int64_t max = ArgInt(info, 7, "max", 0, INT32_MAX);
  int64_t hint = ArgIntOpt(info, 8, "hint", 1, kMaxRound, 8);
  if (static_cast<size_t>(max) > start.len || static_cast<size_t>(max) > len.len ||
      static_cast<uint64_t>(max) * static_cast<uint64_t>(slot) > slab.len) {
    ThrowRange(env, "uringReadBatch: max " + std::to_string(max) + " slots of " + std::to_string(slot) +
                        " bytes do not fit the slab/start/len arrays");
  }
  const size_t cap = static_cast<size_t>(slot - headroom);
  auto offset = [&](int64_t i) { return static_cast<size_t>(i) * static_cast<size_t>(slot) + static_cast<size_t>(headroom); };
  int32_t res[kMaxRound];
  int32_t n = 0;
  int want = static_cast<int>(hint);
  while (n < max) {
    const int round = static_cast<int>(std::min<int64_t>(want, max - n));
    for (int i = 0; i < round; i++) {
      io_uring_sqe* sqe = io_uring_get_sqe(&r->ring);  // never null: the queue is empty between calls
      io_uring_prep_read(sqe, fd, slab.data + offset(n + i), static_cast<unsigned>(cap), 0);
      sqe->rw_flags = RWF_NOWAIT;
      sqe->user_data = static_cast<uint64_t>(i);
      res[i] = -EAGAIN;
    }
    int e = SubmitWait(r, static_cast<unsigned>(round));
    if (e == 0) e = Reap(r, static_cast<unsigned>(round), res);
    if (e < 0) return Napi::Number::New(env, n > 0 ? n : e);
    const int32_t first = n;
    bool dry = false;
    int err = 0;
    for (int i = 0; i < round; i++) {
      if (res[i] > 0) {
        if (first + i != n) std::memmove(slab.data + offset(n), slab.data + offset(first + i), static_cast<size_t>(res[i]));
        start[n] = static_cast<int32_t>(offset(n));
        len[n] = res[i];
        n++;
      } else if (res[i] == 0 || res[i] == -EAGAIN || res[i] == -EWOULDBLOCK) {
        dry = true;  // empty, or end-of-file on a detached queue
      } else if (!err) {
        err = -res[i];
      }
    }
    r->stats[kRxFrames] += n - first;
    if (err) return Napi::Number::New(env, n > 0 ? n : -err);
    if (dry) break;
    want = std::min(kMaxRound, round * 2);
  }
  return Napi::Number::New(env, n);
}

// uringWriteBatch(ring, fd, slab, start, len, idx, count, prefix = 0) -> n | -errno
// As writeBatch: slots idx[0..count) as slab[start[i]-prefix, start[i]+len[i]), in order, up to
// 128 per io_uring_enter. A frame the kernel refuses (EINVAL, EIO) or has no room for
// (EAGAIN/ENOBUFS) is not counted; n is how many it took; if none went and something failed other
// than a full queue, the first error is returned as -errno.
Napi::Value UringWriteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ring* r = Lookup(info, 0);
  int fd = ArgFd(info, 1);
  Span<uint8_t> slab = ArgU8(info, 2, "slab");
  Span<int32_t> start = ArgI32(info, 3, "start");
  Span<int32_t> len = ArgI32(info, 4, "len");
  Span<int32_t> idx = ArgI32(info, 5, "idx");
  int64_t count = ArgInt(info, 6, "count", 0, static_cast<int64_t>(idx.len));
  int64_t prefix = ArgIntOpt(info, 7, "prefix", 0, 4096, 0);
  for (int64_t k = 0; k < count; k++) {
    int32_t i = idx[k];
    if (i < 0 || static_cast<size_t>(i) >= start.len || static_cast<size_t>(i) >= len.len ||
        start[i] - prefix < 0 || len[i] < 0 ||
        static_cast<uint64_t>(start[i]) + static_cast<uint64_t>(len[i]) > slab.len) {
      ThrowRange(env, "uringWriteBatch: slot idx[" + std::to_string(k) + "]=" + std::to_string(i) +
                          " is outside the slab or the start/len arrays");
    }
  }
  int32_t res[kEntries];
  int32_t n = 0;
  int first_err = 0;
  bool full = false;
  for (int64_t k0 = 0; k0 < count && !full; k0 += kEntries) {
    const unsigned round = static_cast<unsigned>(std::min<int64_t>(kEntries, count - k0));
    for (unsigned j = 0; j < round; j++) {
      const int32_t i = idx[k0 + j];
      io_uring_sqe* sqe = io_uring_get_sqe(&r->ring);
      io_uring_prep_write(sqe, fd, slab.data + start[i] - prefix, static_cast<unsigned>(len[i] + prefix), 0);
      sqe->rw_flags = RWF_NOWAIT;
      sqe->user_data = j;
      res[j] = -EAGAIN;
    }
    int e = SubmitWait(r, round);
    if (e == 0) e = Reap(r, round, res);
    if (e < 0) return Napi::Number::New(env, n > 0 ? n : e);
    for (unsigned j = 0; j < round; j++) {
      if (res[j] >= 0) {
        n++;
      } else if (res[j] == -EAGAIN || res[j] == -EWOULDBLOCK || res[j] == -ENOBUFS) {
        full = true;  // as writeBatch: a full queue ends the batch (the next chunk is not sent)
      } else if (!first_err) {
        first_err = -res[j];
      }
    }
  }
  r->stats[kTxFrames] += n;
  return Napi::Number::New(env, n > 0 || first_err == 0 ? n : -first_err);
}

}  // namespace sy
