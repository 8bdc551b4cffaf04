// Feasibility micro-benchmark for issue 13 (not part of the product, built ad hoc by run.sh):
// CPU per MTU frame on a TAP queue with read()/write() per frame (what the addon's fdio.cc does)
// against io_uring batches. Run inside a network namespace that run.sh creates and removes.
//
// Modes (each runs SECS seconds; run.sh interleaves them):
//   rsys    epoll_wait, then read() until EAGAIN (the addon's wake-up: uv_poll + readBatch)
//   ruring  DEPTH single-shot IORING_OP_READ kept queued on fixed slots; one io_uring_enter per
//           batch (submit the re-armed reads and wait for >= 1 completion), CQEs reaped in memory
//   rnowait epoll_wait, then ONE io_uring_enter of n RWF_NOWAIT reads (they complete inline: a frame
//           or -EAGAIN), waiting for all n: synchronous, what the addon's uring.cc does
//   rmshot  one multishot read (IORING_OP_READ_MULTISHOT, kernel >= 6.7) on a provided-buffer
//           ring: no submission per frame at all; io_uring_enter only to wait when the CQ is empty
//   wsys    write() per frame, batches of BATCH (the addon's writeBatch); RATE=frames/s paces both
//           write modes alike
//   wuring  BATCH IORING_OP_WRITE per batch, one io_uring_enter per batch
// Read modes get frames from a forked generator (UDP sendmmsg of 1400-byte datagrams routed out of
// the TAP). Write modes write 1514-byte frames; DROP=other (default) addresses them to another MAC
// so the stack drops them at once (the I/O path alone, an upper bound for any saving), DROP=udp to
// the TAP's own address and a UDP port the generator child drains (the stack's work included).
// CPU is CLOCK_PROCESS_CPUTIME_ID: all threads of this process, io-wq workers (iou-wrk-*) included.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <liburing.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#ifndef IORING_OP_READ_MULTISHOT
#define IORING_OP_READ_MULTISHOT 49
#endif

#define SLOT 2048
#define NSLOTS 256
static int DEPTH = 64, BATCH = 32;
static long RATE = 0;  // write modes: frames/s (0: as fast as possible)

// Write modes with RATE: sleep until batch k is due, so both modes run at the same frame rate and
// the same wake-ups (the receiver's, the sink's) are paid per frame.
static void pace(double w0, long frames) {
  if (!RATE) return;
  double due = w0 + (double)frames / RATE;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  double t = ts.tv_sec + ts.tv_nsec / 1e9;
  if (due <= t) return;
  double d = due - t;
  struct timespec s = {(time_t)d, (long)((d - (time_t)d) * 1e9)};
  nanosleep(&s, NULL);
}
static double SECS = 3.0;
static int tapfd = -1;
static uint8_t *slab;
static const char *TAP = "syu0";

static double now(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int err) {
  fprintf(stderr, "%s: %s\n", what, strerror(err));
  exit(1);
}

static int iou_workers(void) {
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[300], comm[64] = "";
    snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(p, "r");
    if (!f) continue;
    if (fgets(comm, sizeof comm, f) && strncmp(comm, "iou-wrk", 7) == 0) n++;
    fclose(f);
  }
  closedir(d);
  return n;
}

struct result {
  long frames, enters;
  double cpu, wall;
  int maxwrk;
};

static void report(const char *mode, struct result *r) {
  printf("%-7s frames %8ld  %7.0f frames/s  cpu %5.2f s of %4.2f wall  %6.3f us cpu/frame  "
         "%5.2f enters/frame  iou-wrk %d\n",
         mode, r->frames, r->frames / r->wall, r->cpu, r->wall, r->cpu * 1e6 / (r->frames ? r->frames : 1),
         (double)r->enters / (r->frames ? r->frames : 1), r->maxwrk);
  fflush(stdout);
}

static void drain(void) {
  while (read(tapfd, slab, SLOT) > 0) {
  }
}

static void rsys(struct result *r) {
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  epoll_ctl(ep, EPOLL_CTL_ADD, tapfd, &ev);
  double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
  while (now(CLOCK_MONOTONIC) - w0 < SECS) {
    struct epoll_event out;
    r->enters++;
    if (epoll_wait(ep, &out, 1, 100) <= 0) continue;
    for (int n = 0; n < NSLOTS; n++) {
      r->enters++;
      ssize_t k = read(tapfd, slab + (size_t)n * SLOT, SLOT);
      if (k <= 0) break;
      r->frames++;
    }
  }
  r->cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
  r->wall = now(CLOCK_MONOTONIC) - w0;
  close(ep);
}

static void setup_ring(struct io_uring *ring, int entries) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  int e = io_uring_queue_init_params(entries, ring, &p);
  if (e < 0) die("io_uring_queue_init", -e);
}

static void ruring(struct result *r) {
  struct io_uring ring;
  setup_ring(&ring, DEPTH * 2);
  struct iovec iov = {slab, (size_t)NSLOTS * SLOT};
  int e = io_uring_register_buffers(&ring, &iov, 1);
  if (e < 0) die("register_buffers", -e);
  for (int i = 0; i < DEPTH; i++) {
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    io_uring_prep_read_fixed(s, tapfd, slab + (size_t)i * SLOT, SLOT, 0, 0);
    s->user_data = i;
  }
  double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
  struct __kernel_timespec ts = {0, 100000000};
  while (now(CLOCK_MONOTONIC) - w0 < SECS) {
    struct io_uring_cqe *cqe;
    r->enters++;
    e = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
    if (e < 0 && e != -ETIME && e != -EINTR) die("submit_and_wait", -e);
    unsigned head, n = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      n++;
      if (cqe->user_data >= (uint64_t)DEPTH) continue;  // timeout cqes
      if (cqe->res > 0) r->frames++;
      else if (cqe->res != -EAGAIN) die("read cqe", -cqe->res);
      int i = (int)cqe->user_data;
      struct io_uring_sqe *s = io_uring_get_sqe(&ring);
      io_uring_prep_read_fixed(s, tapfd, slab + (size_t)i * SLOT, SLOT, 0, 0);
      s->user_data = i;
    }
    io_uring_cq_advance(&ring, n);
    int w = iou_workers();
    if (w > r->maxwrk) r->maxwrk = w;
  }
  r->cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
  r->wall = now(CLOCK_MONOTONIC) - w0;
  io_uring_queue_exit(&ring);
}

static void rmshot(struct result *r) {
  struct io_uring ring;
  setup_ring(&ring, 256);
  const int nbufs = 128;  // power of two
  // liburing 2.3 has no io_uring_setup_buf_ring: map and register the ring by hand.
  struct io_uring_buf_ring *br = mmap(NULL, nbufs * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                                      MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (br == MAP_FAILED) die("mmap", errno);
  io_uring_buf_ring_init(br);
  struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = nbufs, .bgid = 1};
  int e = io_uring_register_buf_ring(&ring, &reg, 0);
  if (e < 0) die("register_buf_ring", -e);
  for (int i = 0; i < nbufs; i++)
    io_uring_buf_ring_add(br, slab + (size_t)i * SLOT, SLOT, i, io_uring_buf_ring_mask(nbufs), i);
  io_uring_buf_ring_advance(br, nbufs);
  int armed = 0;
  double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
  struct __kernel_timespec ts = {0, 100000000};
  while (now(CLOCK_MONOTONIC) - w0 < SECS) {
    if (!armed) {
      struct io_uring_sqe *s = io_uring_get_sqe(&ring);
      io_uring_prep_rw(IORING_OP_READ_MULTISHOT, s, tapfd, NULL, 0, 0);
      s->flags |= IOSQE_BUFFER_SELECT;
      s->buf_group = 1;
      s->user_data = 1;
      armed = 1;
    }
    struct io_uring_cqe *cqe;
    // Reap without a syscall when the CQ has entries; enter only to submit or to wait.
    if (io_uring_cq_ready(&ring) == 0 || io_uring_sq_ready(&ring) > 0) {
      r->enters++;
      int e = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
      if (e < 0 && e != -ETIME && e != -EINTR) die("submit_and_wait", -e);
    }
    unsigned head, n = 0, bufs = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      n++;
      if (cqe->user_data != 1) continue;
      if (!(cqe->flags & IORING_CQE_F_MORE)) armed = 0;
      if (cqe->res == -EINVAL && r->frames == 0) die("multishot read unsupported", EINVAL);
      if (cqe->res == -ENOBUFS) continue;
      if (cqe->res < 0) die("mshot cqe", -cqe->res);
      if (cqe->flags & IORING_CQE_F_BUFFER) {
        int id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        io_uring_buf_ring_add(br, slab + (size_t)id * SLOT, SLOT, id, io_uring_buf_ring_mask(nbufs), bufs++);
      }
      if (cqe->res > 0) r->frames++;
    }
    io_uring_buf_ring_advance(br, bufs);
    io_uring_cq_advance(&ring, n);
    int w = iou_workers();
    if (w > r->maxwrk) r->maxwrk = w;
  }
  r->cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
  r->wall = now(CLOCK_MONOTONIC) - w0;
  io_uring_queue_exit(&ring);
  munmap(br, nbufs * sizeof(struct io_uring_buf));
}

// rnowait: the addon's shape with io_uring and synchronous semantics: after epoll says readable,
// ONE io_uring_enter issues n reads with RWF_NOWAIT into slots 0..n-1 and waits for all n (they
// complete inline: a frame, or -EAGAIN when the queue is empty; never an async completion into
// memory the caller is using). n adapts: twice the last batch, 8..64.
static void rnowait(struct result *r) {
  struct io_uring ring;
  setup_ring(&ring, 128);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  epoll_ctl(ep, EPOLL_CTL_ADD, tapfd, &ev);
  int want = 8, maxgot = 0;
  double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
  while (now(CLOCK_MONOTONIC) - w0 < SECS) {
    struct epoll_event out;
    r->enters++;
    if (epoll_wait(ep, &out, 1, 100) <= 0) continue;
    for (;;) {
      for (int i = 0; i < want; i++) {
        struct io_uring_sqe *s = io_uring_get_sqe(&ring);
        io_uring_prep_read(s, tapfd, slab + (size_t)i * SLOT, SLOT, 0);
        s->rw_flags = RWF_NOWAIT;
        s->user_data = i;
      }
      r->enters++;
      int e = io_uring_submit_and_wait(&ring, want);
      if (e < 0 && e != -EINTR) die("submit", -e);
      struct io_uring_cqe *cqe;
      unsigned head, n = 0;
      int got = 0;
      io_uring_for_each_cqe(&ring, head, cqe) {
        n++;
        if (cqe->res > 0) got++;
        else if (cqe->res != -EAGAIN) die("read cqe", -cqe->res);
      }
      io_uring_cq_advance(&ring, n);
      r->frames += got;
      if (got > maxgot) maxgot = got;
      int full = got == want;
      want = got * 2 < 8 ? 8 : got * 2 > 64 ? 64 : got * 2;
      if (!full) break;  // the queue ran dry inside this batch
    }
    int w = iou_workers();
    if (w > r->maxwrk) r->maxwrk = w;
  }
  r->cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
  r->wall = now(CLOCK_MONOTONIC) - w0;
  close(ep);
  io_uring_queue_exit(&ring);
}

static uint8_t tapmac[6];
static int FRAMELEN = 1514;

static void build_frames(const char *drop) {
  // Ethernet/IPv4/UDP 10.99.0.2:4000 -> 10.99.0.1:5001, 1472 bytes of payload, UDP checksum 0.
  for (int i = 0; i < NSLOTS; i++) {
    uint8_t *f = slab + (size_t)i * SLOT;
    memset(f, 0, SLOT);
    if (strcmp(drop, "udp") == 0) memcpy(f, tapmac, 6);
    else memcpy(f, "\x02\x00\x00\x00\x00\x99", 6);
    memcpy(f + 6, "\x02\x00\x00\x00\x00\x02", 6);
    f[12] = 0x08;
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    uint16_t tot = htons(FRAMELEN - 14);
    memcpy(ip + 2, &tot, 2);
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, "\x0a\x63\x00\x02", 4);
    memcpy(ip + 16, "\x0a\x63\x00\x01", 4);
    uint32_t sum = 0;
    for (int k = 0; k < 20; k += 2) sum += (ip[k] << 8) | ip[k + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    uint16_t cs = htons(~sum & 0xffff);
    memcpy(ip + 10, &cs, 2);
    uint8_t *udp = ip + 20;
    uint16_t sp = htons(4000), dp = htons(5001), ul = htons(FRAMELEN - 34);
    memcpy(udp, &sp, 2);
    memcpy(udp + 2, &dp, 2);
    memcpy(udp + 4, &ul, 2);
  }
}

static void wsys(struct result *r) {
  double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
  while (now(CLOCK_MONOTONIC) - w0 < SECS) {
    for (int i = 0; i < BATCH; i++) {
      r->enters++;
      if (write(tapfd, slab + (size_t)i * SLOT, FRAMELEN) == FRAMELEN) r->frames++;
    }
    pace(w0, r->frames);
  }
  r->cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
  r->wall = now(CLOCK_MONOTONIC) - w0;
}

static void wuring(struct result *r) {
  struct io_uring ring;
  setup_ring(&ring, BATCH * 2);
  struct iovec iov = {slab, (size_t)NSLOTS * SLOT};
  int e = io_uring_register_buffers(&ring, &iov, 1);
  if (e < 0) die("register_buffers", -e);
  double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
  while (now(CLOCK_MONOTONIC) - w0 < SECS) {
    for (int i = 0; i < BATCH; i++) {
      struct io_uring_sqe *s = io_uring_get_sqe(&ring);
      io_uring_prep_write_fixed(s, tapfd, slab + (size_t)i * SLOT, FRAMELEN, 0, 0);
      s->user_data = i;
    }
    r->enters++;
    // Writes to a TAP complete inline during the submit; wait_nr = BATCH costs no extra sleep
    // then, and covers a write that was punted.
    e = io_uring_submit_and_wait(&ring, BATCH);
    if (e < 0 && e != -EINTR) die("submit", -e);
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      n++;
      if (cqe->res == FRAMELEN) r->frames++;
    }
    io_uring_cq_advance(&ring, n);
    int w = iou_workers();
    if (w > r->maxwrk) r->maxwrk = w;
    pace(w0, r->frames);
  }
  r->cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
  r->wall = now(CLOCK_MONOTONIC) - w0;
  io_uring_queue_exit(&ring);
}

// Generator (child): UDP datagrams of 1400 bytes to 10.99.0.2 (out through the TAP), in
// sendmmsg batches of 64; with drainport it instead drains a UDP socket on 10.99.0.1:5001.
static pid_t spawn(int sink, long pace_us) {
  pid_t p = fork();
  if (p) return p;
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  static char buf[64][1472];
  struct mmsghdr m[64];
  struct iovec io[64];
  for (int i = 0; i < 64; i++) {
    io[i].iov_base = buf[i];
    io[i].iov_len = sink ? sizeof buf[i] : 1400;
    memset(&m[i], 0, sizeof m[i]);
    m[i].msg_hdr.msg_iov = &io[i];
    m[i].msg_hdr.msg_iovlen = 1;
  }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(sink ? 5001 : 9)};
  if (sink) {
    int big = 8 << 20;
    setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    inet_pton(AF_INET, "10.99.0.1", &a.sin_addr);
    if (bind(s, (void *)&a, sizeof a) < 0) _exit(2);
    for (;;) recvmmsg(s, m, 64, 0, NULL);
  }
  inet_pton(AF_INET, "10.99.0.2", &a.sin_addr);
  for (int i = 0; i < 64; i++) {
    m[i].msg_hdr.msg_name = &a;
    m[i].msg_hdr.msg_namelen = sizeof a;
  }
  for (;;) {
    sendmmsg(s, m, 64, 0);
    if (pace_us) usleep(pace_us);
  }
}

int main(int argc, char **argv) {
  if (getenv("SECS")) SECS = atof(getenv("SECS"));
  if (getenv("DEPTH")) DEPTH = atoi(getenv("DEPTH"));
  if (getenv("BATCH")) BATCH = atoi(getenv("BATCH"));
  if (getenv("RATE")) RATE = atol(getenv("RATE"));
  long pace_us = getenv("PACE_US") ? atol(getenv("PACE_US")) : 0;
  const char *drop = getenv("DROP") ? getenv("DROP") : "other";
  slab = aligned_alloc(4096, (size_t)NSLOTS * SLOT);
  tapfd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (tapfd < 0) die("open tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, TAP, IFNAMSIZ - 1);
  if (ioctl(tapfd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF", errno);
  if (system("ip link set syu0 up && ip addr add 10.99.0.1/24 dev syu0 && "
             "ip neigh replace 10.99.0.2 lladdr 02:00:00:00:00:02 dev syu0 nud permanent && "
             "ip link set lo up") != 0)
    die("ip setup", EIO);
  int sk = socket(AF_INET, SOCK_DGRAM, 0);
  struct ifreq hw;
  memset(&hw, 0, sizeof hw);
  strcpy(hw.ifr_name, TAP);
  ioctl(sk, SIOCGIFHWADDR, &hw);
  memcpy(tapmac, hw.ifr_hwaddr.sa_data, 6);
  close(sk);
  build_frames(drop);
  printf("depth %d batch %d secs %.1f pace_us %ld rate %ld drop %s\n", DEPTH, BATCH, SECS, pace_us, RATE, drop);
  for (int a = 1; a < argc; a++) {
    struct result r = {0};
    const char *m = argv[a];
    pid_t child = 0;
    if (m[0] == 'r') {
      child = spawn(0, pace_us);
      usleep(200000);
      drain();
    } else if (strcmp(drop, "udp") == 0) {
      child = spawn(1, 0);
      usleep(100000);
    }
    if (!strcmp(m, "rsys")) rsys(&r);
    else if (!strcmp(m, "ruring")) ruring(&r);
    else if (!strcmp(m, "rmshot")) rmshot(&r);
    else if (!strcmp(m, "rnowait")) rnowait(&r);
    else if (!strcmp(m, "wsys")) wsys(&r);
    else if (!strcmp(m, "wuring")) wuring(&r);
    else die(m, EINVAL);
    if (child) {
      kill(child, SIGKILL);
      waitpid(child, NULL, 0);
    }
    report(m, &r);
  }
  return 0;
}
