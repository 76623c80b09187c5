/*
 * Reference Modbus/TCP server for BenchmarkFC3Peer: libmodbus serving a
 * plain register mapping from one thread, multiplexing clients with select()
 * as libmodbus's own many-client example does.
 *
 * Usage: server PORT   (listens on 127.0.0.1:PORT; PORT 0 picks a free one)
 *
 * Once listening it prints "ready PORT\n" on stdout with the port it got, so
 * the benchmark needs no sleep and no port race. It runs until killed.
 *
 * Build: cc -O2 -o server server.c $(pkg-config --cflags --libs libmodbus)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>

#include <modbus.h>

#define NREGS 1000

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);

    modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
    if (ctx == NULL) {
        fprintf(stderr, "modbus_new_tcp: %s\n", modbus_strerror(errno));
        return 1;
    }
    modbus_mapping_t *map = modbus_mapping_new(NREGS, NREGS, NREGS, NREGS);
    if (map == NULL) {
        fprintf(stderr, "modbus_mapping_new: %s\n", modbus_strerror(errno));
        return 1;
    }
    for (int i = 0; i < NREGS; i++) {
        map->tab_registers[i] = (uint16_t)(i * 7);
    }

    int lsock = modbus_tcp_listen(ctx, 128);
    if (lsock == -1) {
        fprintf(stderr, "modbus_tcp_listen: %s\n", modbus_strerror(errno));
        return 1;
    }
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);
    if (getsockname(lsock, (struct sockaddr *)&sa, &salen) == -1) {
        perror("getsockname");
        return 1;
    }
    printf("ready %d\n", ntohs(sa.sin_port));
    fflush(stdout);

    fd_set all, rd;
    FD_ZERO(&all);
    FD_SET(lsock, &all);
    int maxfd = lsock;
    uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];

    for (;;) {
        rd = all;
        if (select(maxfd + 1, &rd, NULL, NULL, NULL) == -1) {
            if (errno == EINTR) {
                continue;
            }
            perror("select");
            return 1;
        }
        for (int fd = 0; fd <= maxfd; fd++) {
            if (!FD_ISSET(fd, &rd)) {
                continue;
            }
            if (fd == lsock) {
                int c = accept(lsock, NULL, NULL);
                if (c == -1) {
                    continue;
                }
                if (c >= FD_SETSIZE) {
                    close(c);
                    continue;
                }
                FD_SET(c, &all);
                if (c > maxfd) {
                    maxfd = c;
                }
                continue;
            }
            modbus_set_socket(ctx, fd);
            int n = modbus_receive(ctx, req);
            if (n > 0) {
                modbus_reply(ctx, req, n, map);
            } else if (n == -1) {
                /* Closed by the client, or a framing error: drop it. */
                close(fd);
                FD_CLR(fd, &all);
                while (maxfd > lsock && !FD_ISSET(maxfd, &all)) {
                    maxfd--;
                }
            }
        }
    }
}
