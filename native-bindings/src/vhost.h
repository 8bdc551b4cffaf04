// vhost-user backend: one device per vhost-user socket, in a process-wide table so that the main
// thread (which speaks the protocol on the socket, vhost_proto.cc) and the forwarding workers
// (which move frames through the rings, vhost_ring.cc) reach the same device by id. Every entry
// into a device takes its mutex: the control side changes rings and memory only between two
// batches of a worker, never under one. Everything the guest wrote (descriptors, indexes) is
// untrusted: each address is translated through the memory table with its length, each chain is
// bounded by the ring size, and a broken ring is stopped and counted, never followed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

namespace sy {
namespace vhost {

constexpr int kMaxRegions = 8;
constexpr int kMaxPairs = 8;           // queue pairs (VIRTIO_NET_F_MQ)
constexpr int kMaxLanes = 64;          // forwarding workers
constexpr size_t kBacklogFrames = 512; // frames waiting for another lane
constexpr int kMaxRings = 2 * kMaxPairs;
constexpr uint32_t kMaxRingSize = 32768;  // virtio's limit for a split ring
constexpr uint32_t kMaxPayload = 4096;    // a protocol message's payload (8 regions need 264)
constexpr int kMaxFds = 8;                // fds with one message (SET_MEM_TABLE: one per region)

// virtio-net feature bits (virtio 1.x, 5.1.3) and transport bits.
constexpr uint64_t F_CSUM = 1ull << 0;
constexpr uint64_t F_GUEST_CSUM = 1ull << 1;
constexpr uint64_t F_GUEST_TSO4 = 1ull << 7;
constexpr uint64_t F_GUEST_TSO6 = 1ull << 8;
constexpr uint64_t F_GUEST_ECN = 1ull << 9;
constexpr uint64_t F_HOST_TSO4 = 1ull << 11;
constexpr uint64_t F_HOST_TSO6 = 1ull << 12;
constexpr uint64_t F_HOST_ECN = 1ull << 13;
constexpr uint64_t F_MRG_RXBUF = 1ull << 15;
constexpr uint64_t F_STATUS = 1ull << 16;
constexpr uint64_t F_MQ = 1ull << 22;
constexpr uint64_t F_ANY_LAYOUT = 1ull << 27;
constexpr uint64_t F_INDIRECT_DESC = 1ull << 28;  // VIRTIO_RING_F_INDIRECT_DESC (not offered)
constexpr uint64_t F_EVENT_IDX = 1ull << 29;      // VIRTIO_RING_F_EVENT_IDX: used_event / avail_event
constexpr uint64_t F_PROTOCOL_FEATURES = 1ull << 30;  // VHOST_USER_F_PROTOCOL_FEATURES
constexpr uint64_t F_VERSION_1 = 1ull << 32;

// vhost-user protocol features.
constexpr uint64_t PF_MQ = 1ull << 0;
constexpr uint64_t PF_REPLY_ACK = 1ull << 3;

struct Region {
  uint64_t gpa = 0, size = 0, uva = 0;
  uint8_t* host = nullptr;  // gpa maps to host
  void* map = nullptr;
  size_t mapLen = 0;
};

struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
constexpr uint16_t DESC_F_NEXT = 1, DESC_F_WRITE = 2, DESC_F_INDIRECT = 4;
constexpr uint16_t AVAIL_F_NO_INTERRUPT = 1;
constexpr uint16_t USED_F_NO_NOTIFY = 1;

// vring_need_event (virtio 1.x, 2.7.7.2 / 2.7.10): with EVENT_IDX the other side asks to be told
// when the index it watches moves past `event`; `from` -> `to` is how far it moved since the last
// time we checked (16-bit arithmetic: the indexes wrap).
inline bool NeedEvent(uint16_t event, uint16_t to, uint16_t from) {
  return static_cast<uint16_t>(to - event - 1) < static_cast<uint16_t>(to - from);
}

struct Ring {
  uint32_t num = 0;
  uint64_t descUva = 0, availUva = 0, usedUva = 0;
  bool addrSet = false;
  // Pointers into the mappings, valid only when `ready()`; re-derived on every memory table.
  Desc* desc = nullptr;
  uint16_t* avail = nullptr;  // flags, idx, ring[num]
  uint8_t* used = nullptr;    // flags u16, idx u16, {id u32, len u32}[num]
  uint16_t lastAvail = 0;     // next avail entry to take
  uint16_t usedIdx = 0;       // next used entry to fill
  // EVENT_IDX: the used index at the last notification decision (vring_need_event's old value);
  // not valid until the first one after a ring (re)start, which always notifies.
  uint16_t signalledUsed = 0;
  bool signalledValid = false;
  int kick = -1, call = -1, err = -1;
  bool started = false;  // a kick fd (or polling) was given and GET_VRING_BASE has not stopped it
  bool enabled = false;
  bool broken = false;  // the guest broke the ring: stopped until the next SET_VRING_BASE/reset
  bool ready() const { return started && enabled && !broken && desc && avail && used && num; }
};

// Counters, in the order vhostStats reports them (vhost.ts names them).
enum Stat {
  S_RX_FRAMES,       // guest -> switch frames
  S_TX_FRAMES,       // switch -> guest frames
  S_BAD_ADDR,        // descriptor outside the memory table / past a region
  S_BAD_CHAIN,       // loop, index out of range, wrong direction, indirect not negotiated
  S_OVERSIZE,        // frame larger than a slot (guest -> switch) or than a chain (switch -> guest)
  S_RING_BROKEN,     // avail index moved by more than the ring size, or a head out of range
  S_NO_BUFFERS,      // switch -> guest frames dropped: the guest posted no receive buffers
  S_OFFLOAD_DROP,    // a segmentation offload the guest did not negotiate
  S_CSUM_FINISHED,   // partial checksums finished for a guest without GUEST_CSUM
  S_SHORT,           // chains shorter than the virtio-net header
  S_MESSAGES,        // protocol messages handled
  S_BAD_MESSAGES,    // protocol messages refused
  S_CALLS,           // interrupts sent to the guest
  S_HANDOFF,         // guest frames passed to the lane (worker) their flow belongs to
  S_HANDOFF_DROP,    // ... dropped: that lane's backlog was full
  S_KICKS,           // guest notifications (kicks) read from the transmit rings' eventfds
  S_RX_BATCHES,      // vhostRecv calls that took chains from a transmit ring (frames per batch)
  S_TX_BATCHES,      // vhostSend calls that put frames into a receive ring
  S_CALLS_SKIPPED,   // interrupts the guest did not want (NO_INTERRUPT, or EVENT_IDX used_event)
  S_MEM_REFUSED,     // SET_MEM_TABLE regions refused: past the end of their fd, or not mappable
  S_MEM_UNSEALED,    // regions mapped from an fd that may still shrink (no F_SEAL_SHRINK): see README
  S_MEM_SEALED,      // regions whose fd the back end sealed against shrinking itself
  S_COUNT,
};

struct Device {
  std::mutex mu;
  int id = 0;
  bool offload = true;     // offer checksum / TSO features
  bool eventIdx = true;    // offer VIRTIO_RING_F_EVENT_IDX
  uint32_t pairs = 1;      // queue pairs offered (MQ when > 1)
  uint32_t lanes = 1;      // forwarding workers; ring pair p belongs to lane p % lanes
  uint64_t features = 0;   // acked by the front end
  uint64_t protocol = 0;   // acked protocol features
  bool featuresSet = false;
  int conn = -1;           // the vhost-user socket (owned by JS; only referenced here)
  Region regions[kMaxRegions];
  int nregions = 0;
  Ring rings[kMaxRings];
  int epoll[kMaxLanes];    // per lane: readable when a transmit ring of that lane was kicked
  // Frames a lane read for another lane's flows (the workers' steering hash, io/steering.ts):
  // 12-byte header + frame each; `wake` (in that lane's epoll set) tells it.
  std::deque<std::vector<uint8_t>> backlog[kMaxLanes];
  int wake[kMaxLanes];
  double stats[S_COUNT] = {};
  // The message being read from the socket (vhost_proto.cc): a front end may send it in pieces,
  // so what came so far waits here and the main thread never blocks on the rest.
  struct Incoming {
    uint8_t buf[12 + kMaxPayload];  // header + payload
    uint32_t got = 0;
    int fds[kMaxFds];
    int nfds = 0;
    bool tooManyFds = false;
  } in;
  bool replyFailed = false;  // a reply could not be sent whole without blocking: the stream ends

  // vnet header bytes the front end uses in each buffer (10 or 12).
  uint32_t hdrLen() const {
    return (features & (F_MRG_RXBUF | F_VERSION_1)) ? 12 : 10;
  }
  uint8_t* gpaToHost(uint64_t addr, uint64_t len) const;
  uint8_t* uvaToHost(uint64_t addr, uint64_t len) const;
  void unmapAll();
  void resolveRing(int i);
  void resetRing(int i, bool closeFds);
  void resetAll();
  void notify(Ring& r);
  void dropIncoming();  // closes the fds of a message read in part
};

std::shared_ptr<Device> Find(int id);
// A new device in the table (its lane epoll fds made); nullptr with *epollErr set on failure.
std::shared_ptr<Device> Register(uint32_t pairs, uint32_t lanes, bool offload, bool eventIdx, int* epollErr);
// Takes the device out of the table, closes its fds and unmaps its memory.
void Unregister(int id);

}  // namespace vhost
}  // namespace sy
