// switchyard_native: the module's exports. Context-aware (one instance per env), so the main
// thread and each worker_thread load it independently; no state is shared between them.
#include <napi.h>

#include "calls.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace sy;
  exports.Set("tapOpen", Napi::Function::New(env, TapOpen, "tapOpen"));
  exports.Set("tapSetOffload", Napi::Function::New(env, TapSetOffload, "tapSetOffload"));
  exports.Set("tapSetVnetHdrSize", Napi::Function::New(env, TapSetVnetHdrSize, "tapSetVnetHdrSize"));
  exports.Set("tapFeatures", Napi::Function::New(env, TapFeatures, "tapFeatures"));
  exports.Set("tapSetQueue", Napi::Function::New(env, TapSetQueue, "tapSetQueue"));
  exports.Set("readBatch", Napi::Function::New(env, ReadBatch, "readBatch"));
  exports.Set("writeBatch", Napi::Function::New(env, WriteBatch, "writeBatch"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("uringCreate", Napi::Function::New(env, UringCreate, "uringCreate"));
  exports.Set("uringDestroy", Napi::Function::New(env, UringDestroy, "uringDestroy"));
  exports.Set("uringReadBatch", Napi::Function::New(env, UringReadBatch, "uringReadBatch"));
  exports.Set("uringWriteBatch", Napi::Function::New(env, UringWriteBatch, "uringWriteBatch"));
  exports.Set("udpOpen", Napi::Function::New(env, UdpOpen, "udpOpen"));
  exports.Set("rawOpen", Napi::Function::New(env, RawOpen, "rawOpen"));
  exports.Set("sockName", Napi::Function::New(env, SockName, "sockName"));
  exports.Set("recvBatch", Napi::Function::New(env, RecvBatch, "recvBatch"));
  exports.Set("sendBatch", Napi::Function::New(env, SendBatch, "sendBatch"));
  exports.Set("sendMsgs", Napi::Function::New(env, SendMsgs, "sendMsgs"));
  exports.Set("pollStart", Napi::Function::New(env, PollStart, "pollStart"));
  exports.Set("pollStop", Napi::Function::New(env, PollStop, "pollStop"));
  exports.Set("attachCbpf", Napi::Function::New(env, AttachCbpf, "attachCbpf"));
  exports.Set("tapSetSteeringEbpf", Napi::Function::New(env, TapSetSteeringEbpf, "tapSetSteeringEbpf"));
  exports.Set("packetOpen", Napi::Function::New(env, PacketOpen, "packetOpen"));
  exports.Set("packetReadBatch", Napi::Function::New(env, PacketReadBatch, "packetReadBatch"));
  exports.Set("txRingOpen", Napi::Function::New(env, TxRingOpen, "txRingOpen"));
  exports.Set("txRingClose", Napi::Function::New(env, TxRingClose, "txRingClose"));
  exports.Set("txRingInfo", Napi::Function::New(env, TxRingInfo, "txRingInfo"));
  exports.Set("txRingSetPeer", Napi::Function::New(env, TxRingSetPeer, "txRingSetPeer"));
  exports.Set("txRingSend", Napi::Function::New(env, TxRingSend, "txRingSend"));
  exports.Set("nextHop", Napi::Function::New(env, NextHop, "nextHop"));
  exports.Set("checksum", Napi::Function::New(env, Checksum, "checksum"));
  exports.Set("sumChunks", Napi::Function::New(env, SumChunks, "sumChunks"));
  exports.Set("segmentFrame", Napi::Function::New(env, SegmentFrame, "segmentFrame"));
  exports.Set("vhostCreate", Napi::Function::New(env, VhostCreate, "vhostCreate"));
  exports.Set("vhostDestroy", Napi::Function::New(env, VhostDestroy, "vhostDestroy"));
  exports.Set("vhostReset", Napi::Function::New(env, VhostReset, "vhostReset"));
  exports.Set("vhostService", Napi::Function::New(env, VhostService, "vhostService"));
  exports.Set("vhostRecv", Napi::Function::New(env, VhostRecv, "vhostRecv"));
  exports.Set("vhostSend", Napi::Function::New(env, VhostSend, "vhostSend"));
  exports.Set("vhostLaneFd", Napi::Function::New(env, VhostLaneFd, "vhostLaneFd"));
  exports.Set("vhostStats", Napi::Function::New(env, VhostStats, "vhostStats"));
  exports.Set("unixListen", Napi::Function::New(env, UnixListen, "unixListen"));
  exports.Set("unixAccept", Napi::Function::New(env, UnixAccept, "unixAccept"));
  exports.Set("unixConnect", Napi::Function::New(env, UnixConnect, "unixConnect"));
  exports.Set("unixSendMsg", Napi::Function::New(env, UnixSendMsg, "unixSendMsg"));
  exports.Set("unixRecv", Napi::Function::New(env, UnixRecv, "unixRecv"));
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate, "memfdCreate"));
  exports.Set("memfdSeals", Napi::Function::New(env, MemfdSeals, "memfdSeals"));
  exports.Set("mapShared", Napi::Function::New(env, MapShared, "mapShared"));
  exports.Set("eventfdCreate", Napi::Function::New(env, EventfdCreate, "eventfdCreate"));
  exports.Set("eventfdWrite", Napi::Function::New(env, EventfdWrite, "eventfdWrite"));
  exports.Set("eventfdRead", Napi::Function::New(env, EventfdRead, "eventfdRead"));
  Napi::Object constants = Napi::Object::New(env);
  TapConstants(env, constants);
  exports.Set("constants", constants);
  return exports;
}

NODE_API_MODULE(switchyard_native, Init)
