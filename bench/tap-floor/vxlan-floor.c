// The floor of a userspace VXLAN host on this machine (issue 13; not part of the product, built ad
// hoc by bench/vxlan-floor.ts): the least a userspace dataplane between a tenant TAP and a UDP
// socket does per frame, in C, with no engine, no JS, no lookups (one tenant, one peer, one VNI).
//
// Usage: vxlan-floor TENANT_NS HOST_NS LOCAL_PA REMOTE_PA VNI plain|tgso
//   plain  the tenant's TAP without offloads (MTU frames, checksums done by the tenant): each frame
//          read from the TAP is sent in one VXLAN datagram (sendmmsg per wake-up); each datagram
//          (recvmmsg) is written to the TAP. What `--no-offload` does, and a ping's path.
//   tgso   the tenant's TAP with checksum and TSO offload; a TSO super-frame is written whole, as
//          ONE VXLAN packet with a UDP-tunnel GSO virtio-net header (kernel 6.17+), into an uplink
//          TAP in HOST_NS (sytg0) that the host routes out of its underlay: no segmentation and no
//          checksum in userspace, the kernel's VXLAN's own way of sending. The receiver's UDP socket
//          gets the tunnel super-frame whole and writes it to the TAP as one GSO frame. Small frames
//          (ACKs) get their checksum finished here and go through the UDP socket.
//   pbatch the tenant's TAP without offloads, batched as switchyard's `--no-offload` path is: TAP
//          reads in io_uring rounds (RWF_NOWAIT), each run of equal-size frames sent as ONE
//          UDP_SEGMENT message (the VXLAN headers as iovecs between the frames), UDP GRO buffers
//          received and split, their frames written to the TAP in one io_uring enter.
// Prints "ready" once the TAPs exist (the caller sets addresses and the uplink's routing); on
// SIGTERM prints frames, bytes, wake-ups and CPU seconds.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <liburing.h>
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#define TUN_F_UDP_TUNNEL_GSO_ 0x080
#define GSO_UDP_TUNNEL_IPV4 0x20

#define SLOT (65536 + 512)
#define NSLOTS 64
#define HDR 10       // virtio_net_hdr on the tenant TAP
#define THDR 24      // virtio_net_hdr_v1_hash_tunnel on the uplink TAP
#define OUTER 50     // Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8

struct vhdr {
  uint8_t flags, gso_type;
  uint16_t hdr_len, gso_size, csum_start, csum_offset;
};

static volatile sig_atomic_t stop;
static int tgso, pbatch;
static struct io_uring ring;
static int round_n = 2;
static int tap = -1, up = -1, sock = -1;
static uint8_t upmac[6];
static struct sockaddr_in peer;
static uint32_t local_ip, remote_ip, vni;
static uint8_t *slab;
static struct mmsghdr msgs[NSLOTS];
static struct iovec iovs[NSLOTS][2];
static char cbufs[NSLOTS][64];
static uint8_t vxh[8];
static long frames, bytes, wakeups;

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void enter_ns(const char *ns) {
  char p[300];
  snprintf(p, sizeof p, "/var/run/netns/%s", ns);
  int fd = open(p, O_RDONLY);
  if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) die(p);
  close(fd);
}

static int open_tap(const char *name, int vnet, int hdrsz, unsigned offload) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
  if (fd < 0) die("/dev/net/tun");
  struct ifreq r;
  memset(&r, 0, sizeof r);
  strncpy(r.ifr_name, name, IFNAMSIZ - 1);
  r.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  if (ioctl(fd, TUNSETIFF, &r) < 0) die("TUNSETIFF");
  if (vnet && ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) < 0) die("TUNSETVNETHDRSZ");
  if (vnet && ioctl(fd, TUNSETOFFLOAD, offload) < 0) die("TUNSETOFFLOAD");
  return fd;
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s) {
  for (; n > 1; n -= 2, p += 2) s += (uint32_t)p[0] << 8 | p[1];
  if (n) s += (uint32_t)p[0] << 8;
  return s;
}
static uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)s;
}

// A small frame with a partial checksum (the tenant offloads it): finish it, as a NIC would.
static void finish_csum(uint8_t *f, size_t len, const struct vhdr *h) {
  if (!(h->flags & 1) || h->csum_start + h->csum_offset + 2u > len) return;
  uint16_t c = (uint16_t)~fold(sum16(f + h->csum_start, len - h->csum_start, 0));
  f[h->csum_start + h->csum_offset] = (uint8_t)(c >> 8);
  f[h->csum_start + h->csum_offset + 1] = (uint8_t)c;
}

// TAP -> wire. Slot layout: [THDR + OUTER bytes of room][HDR][frame]; in plain mode [frame] at the
// same offset (no vnet header on that TAP).
#define ROOM (THDR + OUTER)
static void tap_to_wire(void) {
  int n = 0;
  for (; n < NSLOTS; n++) {
    uint8_t *s = slab + (size_t)n * SLOT;
    ssize_t k = read(tap, s + ROOM, SLOT - ROOM);
    if (k <= 0) break;
    uint8_t *f = s + ROOM + (tgso ? HDR : 0);
    size_t len = (size_t)k - (tgso ? HDR : 0);
    frames++;
    bytes += (long)len;
    msgs[n].msg_hdr.msg_name = &peer;
    msgs[n].msg_hdr.msg_namelen = sizeof peer;
    msgs[n].msg_hdr.msg_iov = iovs[n];
    msgs[n].msg_hdr.msg_iovlen = 2;
    msgs[n].msg_hdr.msg_control = NULL;
    msgs[n].msg_hdr.msg_controllen = 0;
    iovs[n][0] = (struct iovec){vxh, 8};
    iovs[n][1] = (struct iovec){f, len};
    if (!tgso) continue;
    struct vhdr h;
    memcpy(&h, s + ROOM, sizeof h);
    if (h.gso_type == 0) {
      finish_csum(f, len, &h);
      continue;
    }
    // the super-frame whole, as one tunnel GSO packet on the uplink TAP
    uint8_t *o = f - OUTER;
    memcpy(o, upmac, 6);
    memcpy(o + 6, upmac, 6);
    o[6] ^= 2;
    o[12] = 0x08, o[13] = 0x00;
    uint8_t *ip = o + 14;
    size_t iplen = 20 + 8 + 8 + len;
    memset(ip, 0, 20);
    ip[0] = 0x45, ip[2] = (uint8_t)(iplen >> 8), ip[3] = (uint8_t)iplen, ip[6] = 0x40, ip[8] = 64, ip[9] = 17;
    memcpy(ip + 12, &local_ip, 4);
    memcpy(ip + 16, &remote_ip, 4);
    uint16_t c = (uint16_t)~fold(sum16(ip, 20, 0));
    ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
    uint8_t *udp = ip + 20;
    uint16_t sport = (uint16_t)(49152 | (f[26 + 14 - 14] ^ f[37] ^ f[35]));  // a little flow entropy
    udp[0] = (uint8_t)(sport >> 8), udp[1] = (uint8_t)sport, udp[2] = 0x12, udp[3] = 0xb5;
    udp[4] = (uint8_t)((iplen - 20) >> 8), udp[5] = (uint8_t)(iplen - 20), udp[6] = 0, udp[7] = 0;
    memcpy(udp + 8, vxh, 8);
    uint8_t *th = o - THDR;
    memset(th, 0, THDR);
    th[0] = 1;  // NEEDS_CSUM (the inner TCP checksum, as the tenant left it)
    th[1] = (uint8_t)(h.gso_type | GSO_UDP_TUNNEL_IPV4);
    uint16_t v;
    v = (uint16_t)(h.hdr_len + OUTER), memcpy(th + 2, &v, 2);
    v = h.gso_size, memcpy(th + 4, &v, 2);
    v = (uint16_t)(h.csum_start + OUTER), memcpy(th + 6, &v, 2);
    v = h.csum_offset, memcpy(th + 8, &v, 2);
    v = 14 + 20, memcpy(th + 20, &v, 2);       // outer_th_offset: the outer UDP header
    v = OUTER + 14, memcpy(th + 22, &v, 2);    // inner_nh_offset: the inner IPv4 header
    if (write(up, th, THDR + OUTER + len) < 0) {
      static int warned;
      if (!warned++) perror("uplink write");
    }
    msgs[n].msg_hdr.msg_iovlen = 0;  // sent; the sendmmsg below skips it
  }
  if (!n) return;
  // send the datagrams in order, skipping slots that went out through the uplink TAP
  int i = 0;
  while (i < n) {
    while (i < n && msgs[i].msg_hdr.msg_iovlen == 0) i++;
    int j = i;
    while (j < n && msgs[j].msg_hdr.msg_iovlen) j++;
    if (j > i && sendmmsg(sock, msgs + i, (unsigned)(j - i), 0) < 0) {
      static int warned;
      if (!warned++) perror("sendmmsg");
    }
    i = j;
  }
}

// wire -> TAP
static void wire_to_tap(void) {
  int n = 0;
  for (int i = 0; i < NSLOTS; i++) {
    uint8_t *s = slab + (size_t)i * SLOT;
    iovs[i][0] = (struct iovec){s + HDR, SLOT - HDR};
    msgs[i].msg_hdr = (struct msghdr){.msg_iov = iovs[i], .msg_iovlen = 1, .msg_control = cbufs[i], .msg_controllen = sizeof cbufs[i]};
  }
  n = recvmmsg(sock, msgs, NSLOTS, MSG_DONTWAIT, NULL);
  for (int i = 0; i < n; i++) {
    uint8_t *s = slab + (size_t)i * SLOT;
    size_t len = msgs[i].msg_len;
    if (len < 8 + 14) continue;
    uint16_t gso = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) memcpy(&gso, CMSG_DATA(c), 2);
    uint8_t *f = s + HDR + 8;  // the inner frame
    size_t flen = len - 8;
    frames++;
    bytes += (long)flen;
    if (!tgso) {
      if (gso) {  // GRO'd datagrams of gso bytes each: one frame per datagram
        for (size_t off = 0; off < len; off += gso) {
          size_t l = len - off < gso ? len - off : gso;
          if (l > 8) (void)!write(tap, s + HDR + off + 8, l - 8);
        }
      } else {
        (void)!write(tap, f, flen);
      }
      continue;
    }
    struct vhdr h = {0};
    size_t iptot = flen > 14 + 4 ? (size_t)(f[14 + 2] << 8 | f[14 + 3]) : 0;
    if (!gso && flen > 1514 && 14 + iptot == flen && f[14 + 9] == 6) {
      // A tunnel super-frame, whole: one GSO frame for the tenant. The kernel queues a UDP-tunnel
      // GSO packet whole on a plain UDP socket and gives no UDP_GRO cmsg for it (only for
      // SKB_GSO_UDP_L4), so it shows as one datagram longer than any wire frame; its segment size
      // is the tenant MTU's (1450) less the headers.
      size_t ihl = (size_t)(f[14] & 15) * 4;
      size_t thl = (size_t)(f[14 + ihl + 12] >> 4) * 4;
      h.flags = 1, h.gso_type = 1, h.gso_size = (uint16_t)(1450 - ihl - thl), h.hdr_len = (uint16_t)(14 + ihl + thl);
      h.csum_start = (uint16_t)(14 + ihl), h.csum_offset = 16;
      memcpy(f - HDR, &h, sizeof h);
      (void)!write(tap, f - HDR, flen + HDR);
    } else if (gso) {
      for (size_t off = 0; off < len; off += gso) {
        size_t l = len - off < gso ? len - off : gso;
        if (l <= 8) continue;
        uint8_t *g = s + HDR + off + 8;
        memset(g - HDR, 0, HDR);  // overwrites the VXLAN header of this datagram, already used
        (void)!write(tap, g - HDR, l - 8 + HDR);
      }
    } else {
      memset(f - HDR, 0, HDR);
      (void)!write(tap, f - HDR, flen + HDR);
    }
  }
}

// pbatch: TAP -> wire. Frames land at s + 8 (room for the VXLAN header is not needed: iovecs).
static void tap_to_wire_batched(void) {
  int want = round_n, n = 0;
  static size_t len[NSLOTS];
  for (int i = 0; i < want; i++) {
    struct io_uring_sqe *q = io_uring_get_sqe(&ring);
    io_uring_prep_read(q, tap, slab + (size_t)i * SLOT, SLOT, 0);
    q->rw_flags = RWF_NOWAIT;
    q->user_data = (uint64_t)i;
  }
  if (io_uring_submit_and_wait(&ring, (unsigned)want) < 0) die("io_uring read");
  struct io_uring_cqe *cqe;
  unsigned head, seen = 0;
  io_uring_for_each_cqe(&ring, head, cqe) {
    seen++;
    len[cqe->user_data] = cqe->res > 0 ? (size_t)cqe->res : 0;
    if (cqe->res > 0) n++;
  }
  io_uring_cq_advance(&ring, seen);
  round_n = n == want ? (want * 2 > NSLOTS ? NSLOTS : want * 2) : (n + 1 < 2 ? 2 : n + 1);
  // runs of equal-size frames: one UDP_SEGMENT message each (the last of a run may be shorter)
  static struct iovec iov[2 * NSLOTS];
  char ctl[CMSG_SPACE(sizeof(uint16_t))];
  int i = 0;
  while (i < want) {
    if (!len[i]) {
      i++;
      continue;
    }
    size_t seg = len[i];
    int k = 0, j = i;
    // at most 64 segments, and the whole message within one UDP datagram's 64 KB
    for (; j < want && len[j] && k < 64 && (size_t)(k + 1) * (seg + 8) <= 65000; j++) {
      if (len[j] > seg) break;
      iov[2 * k] = (struct iovec){vxh, 8};
      iov[2 * k + 1] = (struct iovec){slab + (size_t)j * SLOT, len[j]};
      frames++;
      bytes += (long)len[j];
      k++;
      if (len[j] < seg) {
        j++;
        break;
      }
    }
    struct msghdr m = {.msg_name = &peer, .msg_namelen = sizeof peer, .msg_iov = iov, .msg_iovlen = (size_t)(2 * k)};
    if (k > 1) {
      m.msg_control = ctl;
      m.msg_controllen = sizeof ctl;
      struct cmsghdr *c = CMSG_FIRSTHDR(&m);
      c->cmsg_level = SOL_UDP, c->cmsg_type = UDP_SEGMENT, c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t g = (uint16_t)(seg + 8);
      memcpy(CMSG_DATA(c), &g, 2);
    }
    if (sendmsg(sock, &m, 0) < 0) {
      static int warned;
      if (!warned++) perror("sendmsg UDP_SEGMENT");
    }
    i = j;
  }
}

// pbatch: wire -> TAP, every frame of a round in one io_uring enter
static void wire_to_tap_batched(void) {
  for (int i = 0; i < NSLOTS; i++) {
    iovs[i][0] = (struct iovec){slab + (size_t)i * SLOT, SLOT};
    msgs[i].msg_hdr = (struct msghdr){.msg_iov = iovs[i], .msg_iovlen = 1, .msg_control = cbufs[i], .msg_controllen = sizeof cbufs[i]};
  }
  int n = recvmmsg(sock, msgs, 16, MSG_DONTWAIT, NULL);
  int q = 0;
  for (int i = 0; i < n; i++) {
    uint8_t *s = slab + (size_t)i * SLOT;
    size_t len = msgs[i].msg_len;
    uint16_t gso = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) memcpy(&gso, CMSG_DATA(c), 2);
    size_t step = gso ? gso : len;
    for (size_t off = 0; off < len; off += step) {
      size_t l = len - off < step ? len - off : step;
      if (l <= 8 + 14) continue;
      if (q == 256) {
        io_uring_submit_and_wait(&ring, (unsigned)q);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) seen++;
        io_uring_cq_advance(&ring, seen);
        q = 0;
      }
      struct io_uring_sqe *e = io_uring_get_sqe(&ring);
      io_uring_prep_write(e, tap, s + off + 8, (unsigned)(l - 8), 0);
      e->rw_flags = RWF_NOWAIT;
      frames++;
      bytes += (long)(l - 8);
      q++;
    }
  }
  if (q) {
    io_uring_submit_and_wait(&ring, (unsigned)q);
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) seen++;
    io_uring_cq_advance(&ring, seen);
  }
}

static void on_term(int s) {
  (void)s;
  stop = 1;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: vxlan-floor TENANT_NS HOST_NS LOCAL_PA REMOTE_PA VNI plain|tgso\n");
    return 2;
  }
  tgso = strcmp(argv[6], "tgso") == 0;
  pbatch = strcmp(argv[6], "pbatch") == 0;
  if (pbatch && io_uring_queue_init(512, &ring, 0) < 0) die("io_uring_queue_init");
  vni = (uint32_t)atoi(argv[5]);
  vxh[0] = 0x08, vxh[4] = (uint8_t)(vni >> 16), vxh[5] = (uint8_t)(vni >> 8), vxh[6] = (uint8_t)vni;
  inet_pton(AF_INET, argv[3], &local_ip);
  inet_pton(AF_INET, argv[4], &remote_ip);
  enter_ns(argv[1]);
  tap = open_tap("eth0", tgso, HDR, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
  enter_ns(argv[2]);
  if (tgso) {
    up = open_tap("sytg0", 1, THDR, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UDP_TUNNEL_GSO_);
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "sytg0");
    int d = socket(AF_INET, SOCK_DGRAM, 0);
    if (ioctl(d, SIOCGIFHWADDR, &r) < 0) die("SIOCGIFHWADDR");
    memcpy(upmac, r.ifr_hwaddr.sa_data, 6);
    close(d);
  }
  sock = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(4789), .sin_addr.s_addr = local_ip};
  if (bind(sock, (struct sockaddr *)&me, sizeof me) < 0) die("bind");
  int one = 1, big = 8 << 20;
  setsockopt(sock, SOL_UDP, UDP_GRO, &one, sizeof one);
  setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  setsockopt(sock, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
  peer = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(4789), .sin_addr.s_addr = remote_ip};
  slab = aligned_alloc(4096, (size_t)NSLOTS * SLOT);
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  printf("ready\n");
  fflush(stdout);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
  epoll_ctl(ep, EPOLL_CTL_ADD, tap, &ev);
  ev.data.u32 = 1;
  epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev);
  struct timespec c0, c1;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
  while (!stop) {
    struct epoll_event evs[2];
    int k = epoll_wait(ep, evs, 2, 100);
    for (int j = 0; j < k; j++) {
      wakeups++;
      if (evs[j].data.u32 == 0) pbatch ? tap_to_wire_batched() : tap_to_wire();
      else pbatch ? wire_to_tap_batched() : wire_to_tap();
    }
  }
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
  double cpu = (c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) / 1e9;
  printf("{\"frames\":%ld,\"bytes\":%ld,\"wakeups\":%ld,\"cpu\":%.3f}\n", frames, bytes, wakeups, cpu);
  return 0;
}
