// The floor of a TAP-to-TAP switch on this machine (issue 14; not part of the product, built ad hoc
// by bench/tap-floor.ts): the least any userspace switch whose ports are TAPs must do per frame,
// in C, with no engine, no JS, no libuv. It creates a TAP in each of two network namespaces, with
// the virtio-net header and the offloads switchyard's ports have (checksum, TSO), and copies every
// frame one reads to the other, header and all, so a 64 KB TSO super-frame crosses whole: one read
// and one write per frame, exactly switchyard's I/O per frame on a switch path. What it cannot
// avoid (two copies, a thread hand-off and a wake-up, the syscalls) is the part of switchyard's
// cost no userspace switch on TAPs can remove; its throughput against a kernel bridge is the best
// ratio a TAP-based switch can reach here.
//
// Usage: tap-floor NS_A NS_B IFNAME [sys|uring] [1|2]
//   sys    epoll, then read() until EAGAIN (at most 64 frames), then write() per frame
//   uring  epoll, then one io_uring_enter of RWF_NOWAIT reads, one of writes (what the agent's
//          default --tap-io uring does; a lone frame uses read()/write())
//   spin   no epoll: read() both queues in a loop that never sleeps (busy polling, as a DPDK PMD
//          thread does), then write() per frame
//   1|2    threads: one for both directions (one agent worker), or one per direction
// Prints "ready" once both TAPs exist; on SIGTERM prints frames, bytes, wake-ups and CPU seconds.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SLOT (65536 + 256)
#define NSLOTS 64

static volatile sig_atomic_t stop;
static int use_uring, use_spin;

struct dir {
  int from, to;
  uint8_t *slab;
  size_t len[NSLOTS];
  struct io_uring ring;
  int ring_ok;
  int round;  // reads in the next io_uring round
  long frames, bytes, wakeups, enters;
};

static void die(const char *what) {
  perror(what);
  exit(1);
}

static int open_tap(const char *ns, const char *name) {
  char p[300];
  snprintf(p, sizeof p, "/var/run/netns/%s", ns);
  int nsfd = open(p, O_RDONLY);
  if (nsfd < 0) die(p);
  if (setns(nsfd, CLONE_NEWNET) < 0) die("setns");
  close(nsfd);
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
  if (fd < 0) die("/dev/net/tun");
  struct ifreq r;
  memset(&r, 0, sizeof r);
  strncpy(r.ifr_name, name, IFNAMSIZ - 1);
  r.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(fd, TUNSETIFF, &r) < 0) die("TUNSETIFF");
  int hs = 10;
  if (ioctl(fd, TUNSETVNETHDRSZ, &hs) < 0) die("TUNSETVNETHDRSZ");
  if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) die("TUNSETOFFLOAD");
  return fd;
}

// Reads what is queued on d->from into the slots: n frames.
static int read_batch(struct dir *d) {
  int n = 0;
  if (use_uring && d->ring_ok && d->round > 1) {
    int want = d->round;
    for (int i = 0; i < want; i++) {
      struct io_uring_sqe *s = io_uring_get_sqe(&d->ring);
      io_uring_prep_read(s, d->from, d->slab + (size_t)i * SLOT, SLOT, 0);
      s->rw_flags = RWF_NOWAIT;
      s->user_data = i;
    }
    d->enters++;
    int e = io_uring_submit_and_wait(&d->ring, want);
    if (e < 0) die("io_uring read");
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    // slots complete in order for one fd; count the frames and keep their lengths
    // an empty slot may sit before a filled one (a frame queued during the round): every filled
    // slot is written, and an empty one has length 0
    io_uring_for_each_cqe(&d->ring, head, cqe) {
      seen++;
      d->len[cqe->user_data] = cqe->res > 0 ? (size_t)cqe->res : 0;
      if (cqe->res > 0) n++;
    }
    io_uring_cq_advance(&d->ring, seen);
    d->round = n == want ? (want * 2 > NSLOTS ? NSLOTS : want * 2) : (n + 1 < 2 ? 2 : n + 1);
    if (n <= 1) d->round = 1;
    return n ? want : 0;  // slots to look at
  }
  while (n < NSLOTS) {
    ssize_t k = read(d->from, d->slab + (size_t)n * SLOT, SLOT);
    if (k <= 0) break;
    d->len[n++] = (size_t)k;
  }
  d->round = n > 1 ? n + 1 : 1;
  return n;
}

static void write_batch(struct dir *d, int slots) {
  int n = 0;
  for (int i = 0; i < slots; i++) {
    if (!d->len[i]) continue;
    n++;
    d->frames++;
    d->bytes += (long)d->len[i] - 10;
  }
  if (use_uring && d->ring_ok && n > 1) {
    for (int i = 0; i < slots; i++) {
      if (!d->len[i]) continue;
      struct io_uring_sqe *s = io_uring_get_sqe(&d->ring);
      io_uring_prep_write(s, d->to, d->slab + (size_t)i * SLOT, d->len[i], 0);
      s->rw_flags = RWF_NOWAIT;
    }
    d->enters++;
    if (io_uring_submit_and_wait(&d->ring, n) < 0) die("io_uring write");
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&d->ring, head, cqe) seen++;
    io_uring_cq_advance(&d->ring, seen);
    return;
  }
  for (int i = 0; i < slots; i++)
    if (d->len[i]) (void)!write(d->to, d->slab + (size_t)i * SLOT, d->len[i]);
}

static void init_dir(struct dir *d, int from, int to) {
  memset(d, 0, sizeof *d);
  d->from = from;
  d->to = to;
  d->slab = aligned_alloc(4096, (size_t)NSLOTS * SLOT);
  if (!d->slab) die("slab");
  d->round = 1;
  if (use_uring) d->ring_ok = io_uring_queue_init(2 * NSLOTS, &d->ring, 0) == 0;
}

struct worker {
  struct dir *dirs[2];
  int ndirs;
};

static void *run(void *arg) {
  struct worker *w = arg;
  int ep = epoll_create1(0);
  for (int i = 0; i < w->ndirs; i++) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, w->dirs[i]->from, &ev) < 0) die("epoll_ctl");
  }
  while (use_spin && !stop) {
    for (int i = 0; i < w->ndirs; i++) {
      struct dir *d = w->dirs[i];
      int slots = read_batch(d);
      if (slots) {
        d->wakeups++;
        write_batch(d, slots);
      }
    }
  }
  while (!stop) {
    struct epoll_event evs[2];
    int k = epoll_wait(ep, evs, 2, 100);
    for (int j = 0; j < k; j++) {
      struct dir *d = w->dirs[evs[j].data.u32];
      d->wakeups++;
      int slots;
      while ((slots = read_batch(d)) > 0) {
        write_batch(d, slots);
        if (slots < 2) break;
      }
    }
  }
  return NULL;
}

static void on_term(int s) {
  (void)s;
  stop = 1;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: tap-floor NS_A NS_B IFNAME [sys|uring] [1|2]\n");
    return 2;
  }
  use_uring = argc > 4 && strcmp(argv[4], "uring") == 0;
  use_spin = argc > 4 && strcmp(argv[4], "spin") == 0;
  int threads = argc > 5 ? atoi(argv[5]) : 1;
  int a = open_tap(argv[1], argv[3]);
  int b = open_tap(argv[2], argv[3]);
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  static struct dir ab, ba;
  init_dir(&ab, a, b);
  init_dir(&ba, b, a);
  printf("ready\n");
  fflush(stdout);
  struct timespec c0, w0, c1, w1;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
  clock_gettime(CLOCK_MONOTONIC, &w0);
  struct worker ws[2] = {{{&ab, &ba}, 2}, {{&ba, NULL}, 1}};
  pthread_t t[2];
  if (threads == 2) {
    ws[0].ndirs = 1;
    pthread_create(&t[0], NULL, run, &ws[0]);
    pthread_create(&t[1], NULL, run, &ws[1]);
  } else {
    pthread_create(&t[0], NULL, run, &ws[0]);
  }
  pthread_join(t[0], NULL);
  if (threads == 2) pthread_join(t[1], NULL);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
  clock_gettime(CLOCK_MONOTONIC, &w1);
  double cpu = (c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) / 1e9;
  double wall = (w1.tv_sec - w0.tv_sec) + (w1.tv_nsec - w0.tv_nsec) / 1e9;
  printf("{\"frames\":%ld,\"bytes\":%ld,\"wakeups\":%ld,\"enters\":%ld,\"cpu\":%.3f,\"wall\":%.3f}\n",
         ab.frames + ba.frames, ab.bytes + ba.bytes, ab.wakeups + ba.wakeups, ab.enters + ba.enters, cpu, wall);
  return 0;
}
