/* SPDX-License-Identifier: MIT */
/*
 * Description: name resolution on the thread pool — cr_getaddrinfo for
 * localhost, numeric strings, ip6-localhost (if /etc/hosts has it) and
 * another /etc/hosts name; open_connection and start_server by name; an
 * unresolvable name fails with a clear error (or times out) and never hangs;
 * a cancelled lookup returns -ECANCELED at once and its job frees its own
 * result, also when its loop is gone; cr_getnameinfo; the EAI_* → errno
 * mapping; misuse errors. No DNS is needed: the machine may have none.
 */
#include "io-helpers.h"
#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>

/* A name other than localhost that /etc/hosts maps to 127.0.0.1, or NULL. */
static const char *hosts_name(char *buf, size_t cap)
{
    FILE *f = fopen("/etc/hosts", "r");
    if (!f)
        return NULL;
    char line[512];
    const char *found = NULL;
    while (!found && fgets(line, sizeof line, f)) {
        char *save, *addr = strtok_r(line, " \t\n", &save);
        if (!addr || addr[0] == '#' || strcmp(addr, "127.0.0.1"))
            continue;
        for (char *n; !found && (n = strtok_r(NULL, " \t\n", &save));) {
            if (n[0] == '#')
                break;
            if (strcmp(n, "localhost") && strlen(n) < cap)
                found = strcpy(buf, n);
        }
    }
    fclose(f);
    return found;
}

static bool hosts_has(const char *name)
{
    FILE *f = fopen("/etc/hosts", "r");
    if (!f)
        return false;
    char line[512];
    bool yes = false;
    while (!yes && fgets(line, sizeof line, f)) {
        char *save, *tok = strtok_r(line, " \t\n", &save);
        if (!tok || tok[0] == '#')
            continue;
        while (!yes && (tok = strtok_r(NULL, " \t\n", &save)))
            yes = !strcmp(tok, name);
    }
    fclose(f);
    return yes;
}

static bool has_v4(const struct addrinfo *res, const char *want, int port)
{
    for (; res; res = res->ai_next) {
        if (res->ai_family != AF_INET)
            continue;
        const struct sockaddr_in *a = (const void *)res->ai_addr;
        char s[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a->sin_addr, s, sizeof s);
        if (!strcmp(s, want) && ntohs(a->sin_port) == port)
            return true;
    }
    return false;
}

static int lookup_main(void *arg, void **r)
{
    (void)arg, (void)r;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int rc = cr_getaddrinfo("localhost", "80", &hints, &res);
    cr_assert_eq(rc, 0, "localhost: %s", cr_strerror(rc));
    cr_assert(has_v4(res, "127.0.0.1", 80));
    cr_freeaddrinfo(res);
    cr_assert_eq(cr_getaddrinfo("127.0.0.1", "8080", &hints, &res), 0);
    cr_assert(has_v4(res, "127.0.0.1", 8080));
    cr_freeaddrinfo(res);
    struct addrinfo v6 = {.ai_family = AF_INET6, .ai_flags = AI_NUMERICHOST};
    cr_assert_eq(cr_getaddrinfo("::1", NULL, &v6, &res), 0);
    cr_assert_eq(res->ai_family, AF_INET6);
    cr_freeaddrinfo(res);
    cr_assert_eq(cr_getaddrinfo(NULL, "443", &hints, &res), 0, "a port alone");
    cr_freeaddrinfo(res);
    cr_assert_eq(cr_getaddrinfo("localhost", NULL, NULL, &res), 0, "hints NULL");
    cr_freeaddrinfo(res);
    if (hosts_has("ip6-localhost")) {
        cr_assert_eq(cr_getaddrinfo("ip6-localhost", "1", &hints, &res), 0);
        cr_freeaddrinfo(res);
    }
    char name[256];
    if (hosts_name(name, sizeof name)) {
        cr_assert_eq(cr_getaddrinfo(name, "7", &hints, &res), 0, "%s from /etc/hosts", name);
        cr_assert(has_v4(res, "127.0.0.1", 7));
        cr_freeaddrinfo(res);
    }
    /* a numeric host with AI_NUMERICHOST that is not numeric: EAI_NONAME */
    struct addrinfo num = {.ai_flags = AI_NUMERICHOST};
    cr_assert_eq(cr_getaddrinfo("localhost", NULL, &num, &res), CR_ENONAME);
    cr_assert_null(res);
    cr_assert_eq(cr_getaddrinfo("localhost", "no-such-service-xyz", &hints, &res),
                 -EPROTONOSUPPORT);
    return 0;
}

/* localhost, numeric strings, /etc/hosts names resolve on the pool. */
Test(resolve, getaddrinfo_localhost_numeric_and_hosts_file)
{
    RUN_EXPECT(lookup_main, NULL, 0);
}

static int echo_once(cr_stream *s, void *arg)
{
    (void)arg;
    char line[32];
    ssize_t n = cr_stream_readline(s, line, sizeof line);
    if (n > 0)
        cr_stream_write(s, line, (size_t)n);
    return cr_stream_drain(s);
}

static int noop_job(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return 0;
}

static int by_name_main(void *arg, void **r)
{
    (void)r;
    const char *name = arg;
    /* The loop's cross-thread inbox (an eventfd) is made when the pool is
     * first used, and lives as long as the loop: make it before counting. */
    cr_assert_eq(cr_to_thread(noop_job, NULL, NULL), 0);
    int fds = count_fds();
    cr_server *srv;
    /* the server binds by name (resolved, first address that binds) */
    cr_assert_eq(cr_start_server(NULL, name, 0, echo_once, NULL, NULL, &srv), 0);
    cr_stream *s;
    int rc = cr_open_connection(name, cr_server_port(srv), NULL, 5.0, &s);
    cr_assert_eq(rc, 0, "open_connection(%s): %s", name, cr_strerror(rc));
    cr_assert_eq(cr_stream_write(s, "hi\n", 3), 3);
    char line[8];
    cr_assert_eq(cr_stream_readline(s, line, sizeof line), 3);
    cr_assert_eq(memcmp(line, "hi\n", 3), 0);
    cr_stream_free(s);
    int fd = cr_connect_tcp(name, cr_server_port(srv), 5.0);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_server_shutdown(srv, 1.0);
    cr_assert_eq(cr_server_free(srv), 0);
    cr_assert_eq(count_fds(), fds, "no fd leaked");
    return 0;
}

/* open_connection, connect_tcp and start_server accept a name from /etc/hosts. */
Test(resolve, connect_and_serve_by_name)
{
    static char name[256];
    if (!hosts_name(name, sizeof name))
        cr_skip_test("/etc/hosts names nothing but localhost for 127.0.0.1");
    RUN_EXPECT(by_name_main, name, 0);
}

static bool clear_error(int rc)
{
    return rc == CR_ENONAME || rc == -EAGAIN || rc == -EIO || rc == -ETIMEDOUT;
}

static int unresolvable_main(void *arg, void **r)
{
    (void)arg, (void)r;
    /* No DNS here, or one that says NXDOMAIN: either way a clear error, or
     * our own timeout — never a hang. */
    struct addrinfo *res = (void *)1;
    cr_timeout_scope *to = cr_timeout(3.0);
    int rc = cr_timeout_end(to, cr_getaddrinfo("nonexistent.invalid", "80", NULL, &res));
    cr_assert(clear_error(rc), "getaddrinfo: %d %s", rc, cr_strerror(rc));
    cr_assert_null(res);
    rc = cr_connect_tcp("nonexistent.invalid", 80, 3.0);
    cr_assert(clear_error(rc), "connect_tcp: %d %s", rc, cr_strerror(rc));
    cr_stream *s;
    rc = cr_open_connection("nonexistent.invalid", 80, NULL, 3.0, &s);
    cr_assert(clear_error(rc), "open_connection: %d %s", rc, cr_strerror(rc));
    cr_assert_null(s);
    return 0;
}

/* An unresolvable name: a clear negative error or -ETIMEDOUT, never a hang. */
Test(resolve, unresolvable_name_fails_clearly)
{
    RUN_EXPECT(unresolvable_main, NULL, 0);
}

static int resolver(void *arg, void **r)
{
    (void)arg, (void)r;
    struct addrinfo *res;
    int rc = cr_getaddrinfo("localhost", "80", NULL, &res);
    if (rc == 0)
        cr_freeaddrinfo(res);
    return rc;
}

static int cancel_main(void *arg, void **r)
{
    (void)arg, (void)r;
    enum { N = 64 };
    cr_task *t[N];
    for (int i = 0; i < N; i++)
        t[i] = cr_create_task(resolver, NULL);
    cr_sleep(0); /* each runs until it parks on its lookup */
    for (int i = 0; i < N; i += 2)
        cr_cancel(t[i]);
    int errs[N];
    cr_assert_eq(cr_gather(t, N, NULL, errs, CR_RETURN_EXCEPTIONS), 0);
    for (int i = 0; i < N; i++) {
        if (i % 2 == 0)
            cr_assert_eq(errs[i], -ECANCELED, "task %d", i);
        else
            cr_assert_eq(errs[i], 0, "task %d: %s", i, cr_strerror(errs[i]));
        cr_future_unref(t[i]);
    }
    /* a cancel before the call: -ECANCELED without a lookup */
    cr_cancel(cr_current_task());
    struct addrinfo *res;
    cr_assert_eq(cr_getaddrinfo("localhost", "80", NULL, &res), -ECANCELED);
    return 0;
}

/* Cancelled lookups return -ECANCELED; their jobs free their own results
 * (ASan/LSan would report a leak); the others still succeed. */
Test(resolve, cancelled_lookups)
{
    RUN_EXPECT(cancel_main, NULL, 0);
}

static int cancel_at_once_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_task *t = cr_create_task(resolver, NULL);
    cr_sleep(0);
    cr_assert_not(cr_future_done(t), "parked on the pool");
    cr_cancel(t);
    cr_sleep(0); /* one turn: the cancel hook woke it, nothing waits on the pool */
    cr_assert(cr_future_done(t), "returned at once");
    cr_assert_eq(cr_await(t, NULL), -ECANCELED);
    cr_future_unref(t);
    return 0; /* the loop may close with the job still out: it frees itself */
}

/* A cancel returns at once, even with the lookup still on the pool. */
Test(resolve, cancel_returns_at_once)
{
    RUN_EXPECT(cancel_at_once_main, NULL, 0);
}

/* The EAI_* → negative errno table of coring/io.h. */
Test(resolve, eai_mapping)
{
    cr_assert_eq(cr_eai_to_errno(0, 0), 0);
    cr_assert_eq(cr_eai_to_errno(EAI_NONAME, 0), CR_ENONAME);
    cr_assert_eq(cr_eai_to_errno(EAI_NODATA, 0), CR_ENONAME);
    cr_assert_eq(cr_eai_to_errno(EAI_ADDRFAMILY, 0), CR_ENONAME);
    cr_assert_str_eq(cr_strerror(CR_ENONAME), "Name or service not known");
    cr_assert_eq(cr_eai_to_errno(EAI_AGAIN, 0), -EAGAIN);
    cr_assert_eq(cr_eai_to_errno(EAI_FAIL, 0), -EIO);
    cr_assert_eq(cr_eai_to_errno(EAI_MEMORY, 0), -ENOMEM);
    cr_assert_eq(cr_eai_to_errno(EAI_FAMILY, 0), -EAFNOSUPPORT);
    cr_assert_eq(cr_eai_to_errno(EAI_SOCKTYPE, 0), -ESOCKTNOSUPPORT);
    cr_assert_eq(cr_eai_to_errno(EAI_SERVICE, 0), -EPROTONOSUPPORT);
    cr_assert_eq(cr_eai_to_errno(EAI_BADFLAGS, 0), -EINVAL);
    cr_assert_eq(cr_eai_to_errno(EAI_OVERFLOW, 0), -ENAMETOOLONG);
    cr_assert_eq(cr_eai_to_errno(EAI_SYSTEM, EMFILE), -EMFILE);
    cr_assert_eq(cr_eai_to_errno(EAI_SYSTEM, 0), -EIO);
    cr_assert_eq(cr_eai_to_errno(-12345, 0), -EIO);
}

static int misuse_main(void *arg, void **r)
{
    (void)arg, (void)r;
    struct addrinfo *res;
    cr_assert_eq(cr_getaddrinfo(NULL, NULL, NULL, &res), -EINVAL);
    cr_assert_eq(cr_getaddrinfo("localhost", "1", NULL, NULL), -EINVAL);
    struct addrinfo bad = {.ai_family = 12345};
    cr_assert_eq(cr_getaddrinfo("localhost", "1", &bad, &res), -EAFNOSUPPORT);
    return 0;
}

/* Misuse: outside a task, NULL arguments, bad hints. */
Test(resolve, misuse)
{
    struct addrinfo *res;
    cr_assert_eq(cr_getaddrinfo("localhost", "80", NULL, &res), -EPERM);
    cr_assert_null(res);
    char name[256];
    if (hosts_name(name, sizeof name))
        cr_assert_eq(cr_listen_tcp(name, 0, 0), -EPERM, "a name needs a task");
    cr_freeaddrinfo(NULL);
    RUN_EXPECT(misuse_main, NULL, 0);
}

static void block_worker(void *arg)
{
    char c;
    while (read(*(int *)arg, &c, 1) < 0 && errno == EINTR)
        ;
}

static int outlive_main(void *arg, void **r)
{
    (void)r;
    cr_assert_eq(cr_loop_set_default_executor(cr_get_running_loop(NULL), arg), 0);
    cr_task *t = cr_create_task(resolver, NULL);
    cr_sleep(0); /* parked; its job is queued behind the blocked worker */
    cr_cancel(t);
    cr_assert_eq(cr_await(t, NULL), -ECANCELED);
    cr_future_unref(t);
    return 0; /* the loop closes and is freed with the job still queued */
}

/* A job that comes back after its loop is gone frees itself (LSan checks). */
Test(resolve, job_outlives_its_loop)
{
    cr_pool *pool;
    cr_assert_eq(cr_pool_new(&pool, &(cr_pool_opts){.workers = 1}), 0);
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    cr_assert_eq(cr_pool_submit(pool, block_worker, &pfd[0]), 0);
    RUN_EXPECT(outlive_main, pool, 0);
    cr_assert_eq(write(pfd[1], "x", 1), 1); /* the worker moves on to our job */
    cr_assert_eq(cr_pool_free(pool), 0);    /* runs what is queued, joins */
    close(pfd[0]);
    close(pfd[1]);
}

static int nameinfo_main(void *arg, void **r)
{
    (void)arg, (void)r;
    struct sockaddr_storage ss;
    socklen_t len;
    cr_assert_eq(cr_sockaddr_ip("127.0.0.1", 80, &ss, &len), 0);
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    int rc = cr_getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, serv, sizeof serv,
                            NI_NUMERICHOST | NI_NUMERICSERV);
    cr_assert_eq(rc, 0, "%s", cr_strerror(rc));
    cr_assert_str_eq(host, "127.0.0.1");
    cr_assert_str_eq(serv, "80");
    if (hosts_has("localhost")) {
        cr_assert_eq(cr_getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, NULL, 0,
                                    NI_NAMEREQD), 0, "a name from /etc/hosts");
        cr_assert_str_eq(host, "localhost");
        char tiny[3];
        cr_assert_eq(cr_getnameinfo((struct sockaddr *)&ss, len, tiny, sizeof tiny, NULL, 0,
                                    NI_NAMEREQD), -ENAMETOOLONG);
    }
    cr_assert_eq(cr_getnameinfo(NULL, len, host, sizeof host, NULL, 0, 0), -EINVAL);
    cr_assert_eq(cr_getnameinfo((struct sockaddr *)&ss, len, NULL, 0, NULL, 0, 0), -EINVAL);
    cr_assert_eq(cr_getnameinfo((struct sockaddr *)&ss, len, NULL, 4, NULL, 0, 0), -EINVAL);
    return 0;
}

/* getnameinfo on the pool: numeric, a name from /etc/hosts, a small buffer. */
Test(resolve, getnameinfo)
{
    RUN_EXPECT(nameinfo_main, NULL, 0);
}
