/*
 * The floor for bench/idle.ts: one libsrt connection held in its own
 * process, with nothing but libsrt's own threads and a blocking receive.
 *
 *     cc -O2 -o one_connection one_connection.c -lsrt
 *     ./one_connection PORT
 *
 * A live-mode listener on 127.0.0.1:PORT (as an Atoll child is: the
 * listening side of one connection), with libsrt's defaults and the 120 ms
 * latency Atoll uses. It accepts one caller and receives from it with a
 * blocking srt_recvmsg (RCVTIMEO -1), discarding what comes, until the
 * connection ends: a caller that sends nothing leaves it idle, one that
 * sends a stream makes it the floor for receiving that stream. Prints
 * "listening", "connected" and "closed BYTES" on stdout, one a line.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <srt/srt.h>

static int fail(const char* what) {
  fprintf(stderr, "%s: %s\n", what, srt_getlasterror_str());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  srt_startup();
  srt_setloglevel(2); /* LOG_CRIT, as Atoll's children */
  SRTSOCKET listener = srt_create_socket();
  if (listener == SRT_INVALID_SOCK) return fail("srt_create_socket");
  int live = SRTT_LIVE;
  int latency = 120;
  srt_setsockflag(listener, SRTO_TRANSTYPE, &live, sizeof live);
  srt_setsockflag(listener, SRTO_LATENCY, &latency, sizeof latency);
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  address.sin_port = htons((unsigned short)atoi(argv[1]));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (srt_bind(listener, (struct sockaddr*)&address, sizeof address) == SRT_ERROR) {
    return fail("srt_bind");
  }
  if (srt_listen(listener, 1) == SRT_ERROR) return fail("srt_listen");
  printf("listening\n");
  fflush(stdout);
  SRTSOCKET connection = srt_accept(listener, NULL, NULL);
  if (connection == SRT_INVALID_SOCK) return fail("srt_accept");
  printf("connected\n");
  fflush(stdout);
  /* The listener stays open, as in an Atoll child. */
  char message[1500];
  long long bytes = 0;
  for (;;) {
    int received = srt_recvmsg(connection, message, sizeof message);
    if (received == SRT_ERROR) break;
    bytes += received;
  }
  printf("closed %lld\n", bytes);
  fflush(stdout);
  srt_close(connection);
  srt_close(listener);
  srt_cleanup();
  return 0;
}
