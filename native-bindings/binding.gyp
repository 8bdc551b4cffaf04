# switchyard_native: TAP queues, a vhost-user back end, AF_PACKET sockets, batched TAP/socket I/O
# (read()/write() or io_uring), uv_poll readiness, a checksum primitive and TSO segmentation in
# place. Node-API only (no V8/Node internals), so one build serves Node 20, 22 and 24.
{
  'targets': [
    {
      'target_name': 'switchyard_native',
      'sources': [
        'src/addon.cc',
        'src/errors.cc',
        'src/tap.cc',
        'src/fdio.cc',
        'src/socket.cc',
        'src/poll.cc',
        'src/csum.cc',
        'src/segment.cc',
        'src/steer.cc',
        'src/packet.cc',
        'src/txring.cc',
        'src/netlink.cc',
        'src/vhost_ring.cc',
        'src/vhost_proto.cc',
        'src/unixsock.cc',
        'src/uring.cc',
      ],
      # liburing (Debian liburing-dev, scripts/setup.sh): TAP batches through io_uring (uring.cc).
      # Linked statically: the addon also runs where only it is copied and no liburing2 is
      # installed (the two-VM test's guests: the agent died there with "liburing.so.2: cannot
      # open shared object file").
      'libraries': ['-l:liburing.a'],
      # C++ exceptions: setup calls throw Napi::Error (with .code); batch calls never throw on I/O.
      'dependencies': ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      'defines': ['NAPI_VERSION=8'],
      # -O3: the checksum loop (csum.cc OnesSum) vectorizes, 14 -> 26 GB/s in cache; one iperf3
      # stream's sender agent went from 1.16-1.18 to 1.10-1.11 cpu-s/GB (bench/profile.ts cost,
      # interleaved, 2026-12-03), tcp-1 4.9 -> 5.0-5.1 Gbit/s.
      'cflags_cc': ['-std=c++17', '-O3', '-Wall', '-Wextra', '-fno-strict-aliasing'],
      'cflags_cc!': ['-std=gnu++17', '-std=gnu++20'],
    },
  ],
}
