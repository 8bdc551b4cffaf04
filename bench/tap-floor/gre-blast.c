// The ceiling of NVGRE through a raw IP socket on this machine (issue 13; not part of the product,
// built ad hoc by bench/gre-floor.ts). This kernel has no GRE, so NVGRE goes through a raw socket of
// IP protocol 47: no GSO, no GRO, one packet per sendmmsg/recvmmsg slot. This program does only
// that part: `send` sends one prebuilt NVGRE packet (GRE with key + a 1450-byte inner frame) as
// fast as sendmmsg of 1024 allows, `recv` counts what its raw socket receives. No TAP, no tenant
// TCP, no segmentation, no checksum: every real NVGRE path does all of this and more, so its rate
// bounds any of them from above.
//
// Usage: gre-blast send NS LOCAL_PA REMOTE_PA SECS | gre-blast recv NS SECS
// Prints {"packets","bytes"(inner frame bytes),"cpu","wall"} at the end.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define INNER (14 + 1450)
#define BATCH 1024

static double now(clockid_t c) {
  struct timespec t;
  clock_gettime(c, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: gre-blast send NS LOCAL_PA REMOTE_PA SECS | recv NS SECS\n");
    return 2;
  }
  int sending = strcmp(argv[1], "send") == 0;
  char p[300];
  snprintf(p, sizeof p, "/var/run/netns/%s", argv[2]);
  int nsfd = open(p, O_RDONLY);
  if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
    perror(p);
    return 1;
  }
  int s = socket(AF_INET, SOCK_RAW, 47);
  if (s < 0) {
    perror("socket");
    return 1;
  }
  int big = 16 << 20;
  setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
  setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  double secs = atof(argv[sending ? 5 : 3]);
  static uint8_t pkt[BATCH][8 + INNER + 64];
  static struct mmsghdr m[BATCH];
  static struct iovec iov[BATCH];
  struct sockaddr_in peer = {.sin_family = AF_INET};
  long packets = 0, bytes = 0;
  if (sending) {
    struct sockaddr_in me = {.sin_family = AF_INET};
    inet_pton(AF_INET, argv[3], &me.sin_addr);
    inet_pton(AF_INET, argv[4], &peer.sin_addr);
    if (bind(s, (struct sockaddr *)&me, sizeof me) < 0) perror("bind");
    for (int i = 0; i < BATCH; i++) {
      memset(pkt[i], 0xab, sizeof pkt[i]);
      // GRE: key present, protocol 0x6558 (transparent Ethernet bridging), VSID 5001, FlowID 0
      uint8_t g[8] = {0x20, 0x00, 0x65, 0x58, 0x00, 0x13, 0x89, 0x00};
      memcpy(pkt[i], g, 8);
      iov[i] = (struct iovec){pkt[i], 8 + INNER};
      m[i].msg_hdr = (struct msghdr){.msg_name = &peer, .msg_namelen = sizeof peer, .msg_iov = &iov[i], .msg_iovlen = 1};
    }
  } else {
    for (int i = 0; i < BATCH; i++) {
      iov[i] = (struct iovec){pkt[i], sizeof pkt[i]};
      m[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
    }
    struct timeval tv = {0, 200000};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
  while (now(CLOCK_MONOTONIC) - w0 < secs) {
    if (sending) {
      int n = sendmmsg(s, m, BATCH, 0);
      if (n > 0) packets += n, bytes += (long)n * INNER;
    } else {
      int n = recvmmsg(s, m, BATCH, MSG_WAITFORONE, NULL);
      for (int i = 0; i < n; i++)
        if (m[i].msg_len > 20 + 8) packets++, bytes += m[i].msg_len - 20 - 8;
    }
  }
  printf("{\"packets\":%ld,\"bytes\":%ld,\"cpu\":%.3f,\"wall\":%.3f}\n", packets, bytes, now(CLOCK_PROCESS_CPUTIME_ID) - c0,
         now(CLOCK_MONOTONIC) - w0);
  return 0;
}
