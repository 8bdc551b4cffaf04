// Every function the addon exports, grouped by the file that holds it; addon.cc registers them.
#pragma once

#include <napi.h>

namespace sy {

// tap.cc: TAP devices and queues (/dev/net/tun).
Napi::Value TapOpen(const Napi::CallbackInfo& info);
Napi::Value TapSetOffload(const Napi::CallbackInfo& info);
Napi::Value TapSetVnetHdrSize(const Napi::CallbackInfo& info);
Napi::Value TapFeatures(const Napi::CallbackInfo& info);
Napi::Value TapSetQueue(const Napi::CallbackInfo& info);
void TapConstants(Napi::Env env, Napi::Object constants);

// fdio.cc: batched read()/write() of whole frames on one fd (TAP queues), and close().
Napi::Value ReadBatch(const Napi::CallbackInfo& info);
Napi::Value WriteBatch(const Napi::CallbackInfo& info);
Napi::Value Close(const Napi::CallbackInfo& info);

// uring.cc: the same TAP batches through io_uring (one io_uring_enter per batch).
Napi::Value UringCreate(const Napi::CallbackInfo& info);
Napi::Value UringDestroy(const Napi::CallbackInfo& info);
Napi::Value UringReadBatch(const Napi::CallbackInfo& info);
Napi::Value UringWriteBatch(const Napi::CallbackInfo& info);

// socket.cc: UDP and raw IPv4 sockets, recvmmsg/sendmmsg batches.
Napi::Value UdpOpen(const Napi::CallbackInfo& info);
Napi::Value RawOpen(const Napi::CallbackInfo& info);
Napi::Value SockName(const Napi::CallbackInfo& info);
Napi::Value RecvBatch(const Napi::CallbackInfo& info);
Napi::Value SendBatch(const Napi::CallbackInfo& info);
Napi::Value SendMsgs(const Napi::CallbackInfo& info);

// poll.cc: readable notifications from the calling thread's libuv loop.
Napi::Value PollStart(const Napi::CallbackInfo& info);
Napi::Value PollStop(const Napi::CallbackInfo& info);

// steer.cc: BPF flow steering (reuseport groups, socket filters, TAP queue selection).
Napi::Value AttachCbpf(const Napi::CallbackInfo& info);
Napi::Value TapSetSteeringEbpf(const Napi::CallbackInfo& info);

// packet.cc: AF_PACKET sockets on a NIC (an External switch's bound NIC).
Napi::Value PacketOpen(const Napi::CallbackInfo& info);
Napi::Value PacketReadBatch(const Napi::CallbackInfo& info);

// txring.cc: NVGRE send through an AF_PACKET TX ring (whole outer frames, one send per batch).
Napi::Value TxRingOpen(const Napi::CallbackInfo& info);
Napi::Value TxRingClose(const Napi::CallbackInfo& info);
Napi::Value TxRingInfo(const Napi::CallbackInfo& info);
Napi::Value TxRingSetPeer(const Napi::CallbackInfo& info);
Napi::Value TxRingSend(const Napi::CallbackInfo& info);

// netlink.cc: the kernel's route and neighbour for one IPv4 destination (rtnetlink).
Napi::Value NextHop(const Napi::CallbackInfo& info);

// csum.cc: ones-complement sum over a byte range.
Napi::Value Checksum(const Napi::CallbackInfo& info);
Napi::Value SumChunks(const Napi::CallbackInfo& info);

// segment.cc: one TSO/USO super-frame cut into segments in place (vfp/offload.ts segmentFrame).
Napi::Value SegmentFrame(const Napi::CallbackInfo& info);
// vhost_ring.cc / vhost_proto.cc: vhost-user back end (devices by id, rings, protocol).
Napi::Value VhostCreate(const Napi::CallbackInfo& info);
Napi::Value VhostDestroy(const Napi::CallbackInfo& info);
Napi::Value VhostReset(const Napi::CallbackInfo& info);
Napi::Value VhostService(const Napi::CallbackInfo& info);
Napi::Value VhostRecv(const Napi::CallbackInfo& info);
Napi::Value VhostSend(const Napi::CallbackInfo& info);
Napi::Value VhostLaneFd(const Napi::CallbackInfo& info);
Napi::Value VhostStats(const Napi::CallbackInfo& info);

// unixsock.cc: unix sockets with fd passing, memfds, eventfds.
Napi::Value UnixListen(const Napi::CallbackInfo& info);
Napi::Value UnixAccept(const Napi::CallbackInfo& info);
Napi::Value UnixConnect(const Napi::CallbackInfo& info);
Napi::Value UnixSendMsg(const Napi::CallbackInfo& info);
Napi::Value UnixRecv(const Napi::CallbackInfo& info);
Napi::Value MemfdCreate(const Napi::CallbackInfo& info);
Napi::Value MemfdSeals(const Napi::CallbackInfo& info);
Napi::Value MapShared(const Napi::CallbackInfo& info);
Napi::Value EventfdCreate(const Napi::CallbackInfo& info);
Napi::Value EventfdWrite(const Napi::CallbackInfo& info);
Napi::Value EventfdRead(const Napi::CallbackInfo& info);

}  // namespace sy
