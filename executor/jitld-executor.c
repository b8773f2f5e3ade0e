/* jitld-executor: the process that runs code a jitld process links.
 *
 * It has no linker inside. The JIT reserves memory here, writes the linked bytes (or shares
 * the pages through a memfd), looks up and dlopens libraries, and calls functions; this
 * program only carries out those requests. docs/executor-protocol.md describes the wire.
 *
 * Threads: a service thread reads every message and answers memory, symbol and library
 * requests itself. Calls run elsewhere: `run_main` and `exit` on the main thread (the
 * program must see itself on its main thread), `call` on the main thread or on any thread
 * that waits in a lazy re-entry (a lazily linked body's initializers run while its caller
 * waits). So the JIT may keep talking to us while the program runs.
 *
 * Portable C for Linux/glibc; the architecture-specific parts (thread pointer, the lazy
 * re-entry routine, the crash pc, relocation numbers) are behind __x86_64__/__aarch64__.
 */
#define _GNU_SOURCE
#include "protocol.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 1
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 2
#endif

#if defined(__x86_64__)
#define ELF_MACHINE EM_X86_64
#define RELOC_ABS64 R_X86_64_64
#define RELOC_GLOB_DAT R_X86_64_GLOB_DAT
#define RELOC_JUMP_SLOT R_X86_64_JUMP_SLOT
#elif defined(__aarch64__)
#define ELF_MACHINE EM_AARCH64
#define RELOC_ABS64 R_AARCH64_ABS64
#define RELOC_GLOB_DAT R_AARCH64_GLOB_DAT
#define RELOC_JUMP_SLOT R_AARCH64_JUMP_SLOT
#else
#error "jitld-executor: unsupported architecture"
#endif

/* Low reservations (for non-PIC code) live here, searched from PREFERRED upwards first. */
#define LOW_START 0x01000000ull
#define LOW_PREFERRED 0x10000000ull
#define LOW_END 0x80000000ull
/* Shared-memory offsets are aligned to this, a multiple of every page size in use. */
#define SHM_GRANULE 0x10000ull

/* ---- state ---------------------------------------------------------------------------- */

static int in_fd = -1, out_fd = -1, shm_fd = -1;
static int out_is_socket;
static uint64_t page_size;
static uint64_t main_thread_pointer;
/* A forked child of the program inherits our channel and handlers: only this process may
 * speak on it. */
static pid_t executor_pid;
static pthread_t main_thread;

/* Guards everything below it, with `changed` signalled on each job or reply. */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;

struct job {
    struct job *next;
    uint32_t op;
    uint64_t id;
    uint64_t addr;
    uint64_t args[JITLD_MAX_CALL_ARGS];
    char **argv;
    int argc;
    char **envp; /* NULL: inherit */
    int status;
};
static struct job *jobs_head, *jobs_tail;

/* A thread inside a lazy re-entry, waiting for the JIT's answer to its request. */
struct waiter {
    struct waiter *next;
    uint64_t id;
    int done, failed;
    uint64_t value;
    char error[512];
};
static struct waiter *waiters;
static uint64_t next_request_id = 1;

struct reservation {
    uint64_t addr, size, shm_offset;
};
static struct reservation *reservations;
static size_t reservation_count, reservation_capacity;
static uint64_t low_cursor = LOW_PREFERRED;
static uint64_t shm_next, shm_size;

/* Handles we gave out, each with the file a loaded object came from (or -1). */
struct handle {
    void *dl;
    int fd;
};
static struct handle *handles;
static size_t handle_count, handle_capacity;

/* ---- failing -------------------------------------------------------------------------- */

static void say(const char *fmt, va_list ap)
{
    fputs("jitld-executor: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

/* The protocol is broken (malformed input, lost peer): say why and leave at once. */
static void __attribute__((noreturn, format(printf, 1, 2))) protocol_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
    fflush(NULL);
    _exit(JITLD_EXIT_PROTOCOL_ERROR);
}

static void *checked_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        protocol_error("out of memory (%zu bytes)", n);
    return p;
}

static void *checked_realloc(void *old, size_t n)
{
    void *p = realloc(old, n ? n : 1);
    if (!p)
        protocol_error("out of memory (%zu bytes)", n);
    return p;
}

/* ---- the thread pointer --------------------------------------------------------------- */

static uint64_t current_thread_pointer(void)
{
    uint64_t tp;
#if defined(__x86_64__)
    __asm__ volatile("mov %%fs:0, %0" : "=r"(tp));
#elif defined(__aarch64__)
    __asm__ volatile("mrs %0, tpidr_el0" : "=r"(tp));
#endif
    return tp;
}

/* ---- byte I/O ------------------------------------------------------------------------- */

/* 1: all read; 0: end of input before the first byte; -1: error or end in the middle. */
static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return got == 0 && r == 0 ? 0 : -1;
        got += (size_t)r;
    }
    return 1;
}

/* Writes without dying of SIGPIPE when the JIT has gone: the caller reports the error. */
static int write_full(int fd, const void *buf, size_t n)
{
    sigset_t pipe_only, old;
    int blocked = 0;
    if (!out_is_socket) {
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        blocked = pthread_sigmask(SIG_BLOCK, &pipe_only, &old) == 0;
    }
    size_t done = 0;
    int ok = 1;
    while (done < n) {
        ssize_t w = out_is_socket ? send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL)
                                  : write(fd, (const char *)buf + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ok = 0;
            break;
        }
        done += (size_t)w;
    }
    if (blocked) {
        if (!ok && errno == EPIPE) {
            /* Take the SIGPIPE we caused, so it is not delivered when we unblock. */
            struct timespec zero = {0, 0};
            sigtimedwait(&pipe_only, NULL, &zero);
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    return ok;
}

/* A little spin lock: the crash handler must be able to take it (a mutex is not
 * async-signal-safe). */
static volatile int write_busy;

static void write_lock(void)
{
    while (__atomic_exchange_n(&write_busy, 1, __ATOMIC_ACQUIRE))
        sched_yield();
}

static void write_unlock(void)
{
    __atomic_store_n(&write_busy, 0, __ATOMIC_RELEASE);
}

/* ---- encoding ------------------------------------------------------------------------- */

struct buf {
    uint8_t *data;
    size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap * 2 : 64;
    while (cap < b->len + more)
        cap *= 2;
    b->data = checked_realloc(b->data, cap);
    b->cap = cap;
}

static void put_u32(struct buf *b, uint32_t v)
{
    buf_reserve(b, 4);
    for (int i = 0; i < 4; i++)
        b->data[b->len++] = (uint8_t)(v >> (8 * i));
}

static void put_u64(struct buf *b, uint64_t v)
{
    buf_reserve(b, 8);
    for (int i = 0; i < 8; i++)
        b->data[b->len++] = (uint8_t)(v >> (8 * i));
}

static void put_bytes(struct buf *b, const void *p, size_t n)
{
    put_u32(b, (uint32_t)n);
    buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_str(struct buf *b, const char *s)
{
    put_bytes(b, s, strlen(s));
}

static void encode_header(uint8_t *h, uint32_t len, uint32_t op, uint64_t id)
{
    for (int i = 0; i < 4; i++) {
        h[i] = (uint8_t)(len >> (8 * i));
        h[4 + i] = (uint8_t)(op >> (8 * i));
    }
    for (int i = 0; i < 8; i++)
        h[8 + i] = (uint8_t)(id >> (8 * i));
}

/* Sends one whole message; 0 if the connection is gone. */
static int try_send_message(uint32_t op, uint64_t id, const struct buf *body)
{
    uint8_t header[JITLD_HEADER_SIZE];
    size_t len = body ? body->len : 0;
    encode_header(header, (uint32_t)len, op, id);
    write_lock();
    int ok = write_full(out_fd, header, sizeof header) && (len == 0 || write_full(out_fd, body->data, len));
    write_unlock();
    return ok;
}

static void send_message(uint32_t op, uint64_t id, const struct buf *body)
{
    if (!try_send_message(op, id, body))
        protocol_error("lost the connection to the JIT: %s", strerror(errno));
}

static void reply_ok(uint64_t id, struct buf *body)
{
    send_message(JITLD_OP_OK, id, body);
    if (body)
        free(body->data);
}

static void __attribute__((format(printf, 2, 3))) reply_error(uint64_t id, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    struct buf b = {0};
    put_str(&b, text);
    send_message(JITLD_OP_ERROR, id, &b);
    free(b.data);
}

/* ---- decoding ------------------------------------------------------------------------- */

/* Reads fields off a message body; any shortfall marks it bad, checked once at the end. */
struct cursor {
    const uint8_t *p;
    size_t left;
    int bad;
};

static uint32_t get_u32(struct cursor *c)
{
    if (c->left < 4) {
        c->bad = 1;
        c->left = 0;
        return 0;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)c->p[i] << (8 * i);
    c->p += 4;
    c->left -= 4;
    return v;
}

static uint64_t get_u64(struct cursor *c)
{
    uint64_t lo = get_u32(c);
    uint64_t hi = get_u32(c);
    return lo | hi << 32;
}

static const uint8_t *get_bytes(struct cursor *c, size_t *n)
{
    uint32_t len = get_u32(c);
    if (c->bad || len > c->left) {
        c->bad = 1;
        c->left = 0;
        *n = 0;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += len;
    c->left -= len;
    *n = len;
    return p;
}

/* A NUL-terminated copy of a string field (names may not contain NUL). */
static char *get_str(struct cursor *c)
{
    size_t n;
    const uint8_t *p = get_bytes(c, &n);
    if (c->bad)
        return NULL;
    if (memchr(p, 0, n)) {
        c->bad = 1;
        return NULL;
    }
    char *s = checked_malloc(n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* A list of strings as a NULL-terminated array (argv, envp, names). */
static char **get_str_list(struct cursor *c, int *count)
{
    uint32_t n = get_u32(c);
    /* Each entry takes at least its 4-byte length: a larger count cannot be honest. */
    if (c->bad || n > c->left / 4) {
        c->bad = 1;
        *count = 0;
        return NULL;
    }
    char **list = checked_malloc(((size_t)n + 1) * sizeof *list);
    for (uint32_t i = 0; i < n; i++)
        list[i] = get_str(c);
    list[n] = NULL;
    *count = (int)n;
    return list;
}

static void free_str_list(char **list)
{
    if (!list)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

static void expect_end(struct cursor *c, uint32_t op)
{
    if (c->bad)
        protocol_error("truncated body in message op %u", op);
    if (c->left)
        protocol_error("%zu unexpected bytes at the end of message op %u", c->left, op);
}

/* ---- memory --------------------------------------------------------------------------- */

static uint64_t round_up(uint64_t v, uint64_t to)
{
    return (v + to - 1) / to * to;
}

static void remember_reservation(uint64_t addr, uint64_t size, uint64_t offset)
{
    if (reservation_count == reservation_capacity) {
        reservation_capacity = reservation_capacity ? reservation_capacity * 2 : 16;
        reservations = checked_realloc(reservations, reservation_capacity * sizeof *reservations);
    }
    reservations[reservation_count++] = (struct reservation){addr, size, offset};
}

static struct reservation *reservation_containing(uint64_t addr, uint64_t size)
{
    for (size_t i = 0; i < reservation_count; i++) {
        struct reservation *r = &reservations[i];
        if (addr >= r->addr && size <= r->size && addr - r->addr <= r->size - size)
            return r;
    }
    return NULL;
}

/* Finds `size` bytes of free address space below 2 GiB; maps it read-write. */
static uint64_t map_low(uint64_t size, uint64_t align)
{
    uint64_t granule = align > page_size ? align : page_size;
    uint64_t step = round_up(size, granule);
    for (int pass = 0; pass < 2; pass++) {
        uint64_t from = pass == 0 ? low_cursor : LOW_START;
        uint64_t to = pass == 0 ? LOW_END : low_cursor + size;
        for (uint64_t hint = round_up(from, granule); hint + size <= to && hint + size <= LOW_END; hint += step) {
            void *p = mmap((void *)(uintptr_t)hint, size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
            if (p == MAP_FAILED && errno == EEXIST)
                continue; /* taken: try further up */
            if (p == MAP_FAILED)
                return 0;
            if ((uint64_t)(uintptr_t)p == hint) {
                low_cursor = hint + size;
                return hint;
            }
            /* An old kernel took the flag for a hint and put it elsewhere. */
            munmap(p, size);
        }
    }
    return 0;
}

/* Anywhere, aligned: over-reserve, then trim both ends. */
static uint64_t map_anywhere(uint64_t size, uint64_t align)
{
    uint64_t extra = align > page_size ? align : 0;
    void *p = mmap(NULL, size + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    uint64_t start = (uint64_t)(uintptr_t)p;
    uint64_t aligned = round_up(start, extra ? align : page_size);
    if (aligned > start)
        munmap(p, aligned - start);
    if (start + size + extra > aligned + size)
        munmap((void *)(uintptr_t)(aligned + size), start + size + extra - aligned - size);
    return aligned;
}

/* Replaces the fresh private pages at `addr` by a range of the shared memfd, so the JIT can
 * map the same pages and write them directly. Returns the file offset, or NO_OFFSET. */
static uint64_t share_pages(uint64_t addr, uint64_t size)
{
    uint64_t span = round_up(size, SHM_GRANULE);
    uint64_t offset = shm_next;
    if (offset + span > shm_size) {
        if (ftruncate(shm_fd, (off_t)(offset + span)) != 0)
            return JITLD_NO_OFFSET;
        shm_size = offset + span;
    }
    void *p = mmap((void *)(uintptr_t)addr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, shm_fd,
                   (off_t)offset);
    if (p == MAP_FAILED)
        return JITLD_NO_OFFSET;
    shm_next = offset + span;
    return offset;
}

static void handle_reserve(uint64_t id, struct cursor *c)
{
    uint64_t size = get_u64(c), align = get_u64(c);
    uint32_t flags = get_u32(c);
    expect_end(c, JITLD_OP_RESERVE);
    if (size == 0 || size > (1ull << 40) || (align & (align - 1)) || align > (1ull << 30)) {
        reply_error(id, "reserve: bad size %#llx or alignment %#llx", (unsigned long long)size,
                    (unsigned long long)align);
        return;
    }
    size = round_up(size, page_size);
    uint64_t addr = flags & JITLD_RESERVE_LOW ? map_low(size, align) : map_anywhere(size, align);
    if (!addr) {
        reply_error(id, "reserve: no free address space%s for %#llx bytes",
                    flags & JITLD_RESERVE_LOW ? " below 2 GiB" : "", (unsigned long long)size);
        return;
    }
    uint64_t offset = JITLD_NO_OFFSET;
    if ((flags & JITLD_RESERVE_SHARED) && shm_fd >= 0)
        offset = share_pages(addr, size);
    remember_reservation(addr, size, offset);
    struct buf b = {0};
    put_u64(&b, addr);
    put_u64(&b, offset);
    reply_ok(id, &b);
}

/* Copies between our own memory and a buffer without faulting: a bad address is an error
 * for the JIT, not a crash. Falls back to a plain copy where the system call is missing. */
static int copy_memory(uint64_t remote, void *local, size_t n, int to_remote)
{
    struct iovec mine = {local, n}, theirs = {(void *)(uintptr_t)remote, n};
    ssize_t done = to_remote ? process_vm_writev(getpid(), &mine, 1, &theirs, 1, 0)
                             : process_vm_readv(getpid(), &mine, 1, &theirs, 1, 0);
    if (done == (ssize_t)n)
        return 1;
    if (done < 0 && (errno == ENOSYS || errno == EPERM)) {
        if (to_remote)
            memcpy((void *)(uintptr_t)remote, local, n);
        else
            memcpy(local, (void *)(uintptr_t)remote, n);
        return 1;
    }
    return 0;
}

static void handle_write(uint64_t id, struct cursor *c)
{
    uint64_t addr = get_u64(c);
    size_t n;
    const uint8_t *bytes = get_bytes(c, &n);
    expect_end(c, JITLD_OP_WRITE);
    if (n && !copy_memory(addr, (void *)bytes, n, 1)) {
        reply_error(id, "write: cannot write %zu bytes at %#llx", n, (unsigned long long)addr);
        return;
    }
    reply_ok(id, NULL);
}

static void handle_read(uint64_t id, struct cursor *c)
{
    uint64_t addr = get_u64(c), len = get_u64(c);
    expect_end(c, JITLD_OP_READ);
    if (len > JITLD_MAX_BODY - 4) {
        reply_error(id, "read: %llu bytes is more than one message holds", (unsigned long long)len);
        return;
    }
    struct buf b = {0};
    put_u32(&b, (uint32_t)len);
    buf_reserve(&b, len);
    if (len && !copy_memory(addr, b.data + b.len, len, 0)) {
        free(b.data);
        reply_error(id, "read: cannot read %llu bytes at %#llx", (unsigned long long)len, (unsigned long long)addr);
        return;
    }
    b.len += len;
    reply_ok(id, &b);
}

static void handle_protect(uint64_t id, struct cursor *c)
{
    uint64_t addr = get_u64(c), size = get_u64(c);
    uint32_t bits = get_u32(c);
    expect_end(c, JITLD_OP_PROTECT);
    if (!reservation_containing(addr, size) || addr % page_size) {
        reply_error(id, "protect: [%#llx, +%#llx) is not page-aligned inside a reservation", (unsigned long long)addr,
                    (unsigned long long)size);
        return;
    }
    int prot = (bits & JITLD_PROT_READ ? PROT_READ : 0) | (bits & JITLD_PROT_WRITE ? PROT_WRITE : 0) |
               (bits & JITLD_PROT_EXEC ? PROT_EXEC : 0);
    if (mprotect((void *)(uintptr_t)addr, size, prot) != 0) {
        reply_error(id, "protect: %s", strerror(errno));
        return;
    }
    /* Code written through data accesses must be visible to instruction fetch. */
    if (bits & JITLD_PROT_EXEC)
        __builtin___clear_cache((char *)(uintptr_t)addr, (char *)(uintptr_t)(addr + size));
    reply_ok(id, NULL);
}

static void handle_release(uint64_t id, struct cursor *c)
{
    uint64_t addr = get_u64(c), size = get_u64(c);
    expect_end(c, JITLD_OP_RELEASE);
    size_t i = 0;
    while (i < reservation_count && !(reservations[i].addr == addr && round_up(size, page_size) == reservations[i].size))
        i++;
    if (i == reservation_count) {
        reply_error(id, "release: no reservation of %#llx bytes at %#llx", (unsigned long long)size,
                    (unsigned long long)addr);
        return;
    }
    struct reservation r = reservations[i];
    reservations[i] = reservations[--reservation_count];
    munmap((void *)(uintptr_t)r.addr, r.size);
    /* Give the shared pages' memory back; the offsets are not reused. */
    if (r.shm_offset != JITLD_NO_OFFSET)
        fallocate(shm_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)r.shm_offset, (off_t)r.size);
    reply_ok(id, NULL);
}

/* ---- libraries and symbols ------------------------------------------------------------ */

static void remember_handle(void *h, int fd)
{
    if (handle_count == handle_capacity) {
        handle_capacity = handle_capacity ? handle_capacity * 2 : 16;
        handles = checked_realloc(handles, handle_capacity * sizeof *handles);
    }
    handles[handle_count++] = (struct handle){h, fd};
}

/* Only handles we gave out may be used: dlsym or dlclose of anything else could crash. */
static int known_handle(uint64_t h, void **out)
{
    if (h == 0) {
        *out = RTLD_DEFAULT;
        return 1;
    }
    for (size_t i = 0; i < handle_count; i++)
        if ((uint64_t)(uintptr_t)handles[i].dl == h) {
            *out = handles[i].dl;
            return 1;
        }
    return 0;
}

static int dlopen_flags(uint32_t bits)
{
    return (bits & JITLD_DLOPEN_NOW ? RTLD_NOW : RTLD_LAZY) | (bits & JITLD_DLOPEN_GLOBAL ? RTLD_GLOBAL : RTLD_LOCAL);
}

static void handle_lookup(uint64_t id, struct cursor *c)
{
    uint64_t h = get_u64(c);
    int count;
    char **names = get_str_list(c, &count);
    expect_end(c, JITLD_OP_LOOKUP);
    void *handle;
    if (!known_handle(h, &handle)) {
        free_str_list(names);
        reply_error(id, "lookup: unknown handle %#llx", (unsigned long long)h);
        return;
    }
    struct buf b = {0};
    put_u32(&b, (uint32_t)count);
    for (int i = 0; i < count; i++) {
        void *addr = dlsym(handle, names[i]);
        uint64_t size = 0;
        uint32_t flags = 0, type = 0;
        Dl_info info;
        const ElfW(Sym) *sym = NULL;
        if (addr) {
            flags |= JITLD_SYMBOL_FOUND;
            if (dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) && sym && info.dli_saddr == addr) {
                size = sym->st_size;
                type = ELF64_ST_TYPE(sym->st_info);
                switch (type) {
                case STT_FUNC:
                case STT_GNU_IFUNC:
                    flags |= JITLD_SYMBOL_FUNCTION;
                    break;
                case STT_OBJECT:
                case STT_COMMON:
                    flags |= JITLD_SYMBOL_DATA;
                    break;
                }
            }
        }
        put_u64(&b, (uint64_t)(uintptr_t)addr);
        put_u64(&b, size);
        put_u32(&b, flags);
        put_u32(&b, type);
    }
    free_str_list(names);
    reply_ok(id, &b);
}

static void handle_dlopen(uint64_t id, struct cursor *c)
{
    char *path = get_str(c);
    uint32_t bits = get_u32(c);
    expect_end(c, JITLD_OP_DLOPEN);
    void *h = dlopen(*path ? path : NULL, dlopen_flags(bits));
    if (!h) {
        const char *why = dlerror();
        reply_error(id, "%s", why ? why : "dlopen failed");
    } else {
        remember_handle(h, -1);
        struct buf b = {0};
        put_u64(&b, (uint64_t)(uintptr_t)h);
        reply_ok(id, &b);
    }
    free(path);
}

static void handle_dlclose(uint64_t id, struct cursor *c)
{
    uint64_t h = get_u64(c);
    expect_end(c, JITLD_OP_DLCLOSE);
    void *handle;
    if (h == 0 || !known_handle(h, &handle)) {
        reply_error(id, "dlclose: unknown handle %#llx", (unsigned long long)h);
        return;
    }
    for (size_t i = 0; i < handle_count; i++)
        if (handles[i].dl == handle) {
            if (handles[i].fd >= 0)
                close(handles[i].fd);
            handles[i] = handles[--handle_count];
            break;
        }
    if (dlclose(handle) != 0) {
        const char *why = dlerror();
        reply_error(id, "dlclose: %s", why ? why : "failed");
        return;
    }
    reply_ok(id, NULL);
}

/* A file holding `bytes` that dlopen can open: a memfd, or an unlinked temporary file. */
static int object_file(const char *name, const uint8_t *bytes, size_t n)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) {
        char path[] = "/tmp/jitld-object-XXXXXX";
        fd = mkstemp(path);
        if (fd < 0)
            return -1;
        unlink(path);
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, bytes + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    return fd;
}

static void handle_load_object(uint64_t id, struct cursor *c)
{
    char *name = get_str(c);
    size_t n;
    const uint8_t *bytes = get_bytes(c, &n);
    uint32_t bits = get_u32(c);
    expect_end(c, JITLD_OP_LOAD_OBJECT);
    int fd = object_file(*name ? name : "jitld-object", bytes, n);
    free(name);
    if (fd < 0) {
        reply_error(id, "load_object: cannot make a file for it: %s", strerror(errno));
        return;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    /* The file stays open while the object is loaded: glibc knows objects by path, and a
     * later object must not get the same /proc/self/fd/N (it would be taken for this one). */
    void *h = dlopen(path, dlopen_flags(bits));
    if (!h) {
        close(fd);
        const char *why = dlerror();
        reply_error(id, "load_object: %s", why ? why : "dlopen failed");
        return;
    }
    struct link_map *map = NULL;
    if (dlinfo(h, RTLD_DI_LINKMAP, &map) != 0 || !map) {
        dlclose(h);
        close(fd);
        reply_error(id, "load_object: no link map");
        return;
    }
    remember_handle(h, fd);
    struct buf b = {0};
    put_u64(&b, (uint64_t)(uintptr_t)h);
    put_u64(&b, (uint64_t)map->l_addr);
    reply_ok(id, &b);
}

/* ---- interposition (what copy relocations do to the loaded libraries) ------------------ */

/* Slots are matched by what they hold, not by name, so a variable's aliases move with it
 * (the C library writes environ as __environ). */
struct interpose_request {
    uint64_t original;
    uint64_t addr;
    int only_one;       /* restrict to the object with this load bias */
    uint64_t only_bias;
    uint32_t rewritten;
};

/* The loader rebases .dynamic pointers in place for most objects, but not for all (the
 * vDSO): a value below the object's base is still relative to it. */
static uint64_t rebased(uint64_t value, uint64_t base)
{
    return value && value < base ? base + value : value;
}

static void write_slot(uint64_t slot, uint64_t value, uint64_t relro_start, uint64_t relro_end)
{
    uint64_t page = slot & ~(page_size - 1);
    int protected = slot >= relro_start && slot < relro_end;
    if (protected)
        mprotect((void *)(uintptr_t)page, page_size, PROT_READ | PROT_WRITE);
    memcpy((void *)(uintptr_t)slot, &value, sizeof value);
    if (protected)
        mprotect((void *)(uintptr_t)page, page_size, PROT_READ);
}

static void interpose_table(struct interpose_request *rq, uint64_t base, const ElfW(Rela) *table, uint64_t bytes,
                            uint64_t relro_start, uint64_t relro_end)
{
    if (!table)
        return;
    for (uint64_t i = 0; i < bytes / sizeof *table; i++) {
        const ElfW(Rela) *r = &table[i];
        uint32_t kind = (uint32_t)ELF64_R_TYPE(r->r_info);
        if (kind != RELOC_ABS64 && kind != RELOC_GLOB_DAT && kind != RELOC_JUMP_SLOT)
            continue;
        uint64_t addend = kind == RELOC_ABS64 ? (uint64_t)r->r_addend : 0, held;
        memcpy(&held, (const void *)(uintptr_t)(base + r->r_offset), sizeof held);
        if (held != rq->original + addend)
            continue;
        write_slot(base + r->r_offset, rq->addr + addend, relro_start, relro_end);
        rq->rewritten++;
    }
}

static int interpose_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct interpose_request *rq = data;
    uint64_t base = info->dlpi_addr;
    if (rq->only_one && base != rq->only_bias)
        return 0;
    const ElfW(Dyn) *dyn = NULL;
    uint64_t relro_start = 0, relro_end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(uintptr_t)(base + ph->p_vaddr);
        if (ph->p_type == PT_GNU_RELRO) {
            relro_start = base + ph->p_vaddr;
            relro_end = relro_start + ph->p_memsz;
        }
    }
    if (!dyn)
        return 0;
    uint64_t rela = 0, relasz = 0, jmprel = 0, pltrelsz = 0, pltrel = DT_RELA;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        uint64_t v = dyn->d_un.d_val;
        switch (dyn->d_tag) {
        case DT_RELA: rela = rebased(v, base); break;
        case DT_RELASZ: relasz = v; break;
        case DT_JMPREL: jmprel = rebased(v, base); break;
        case DT_PLTRELSZ: pltrelsz = v; break;
        case DT_PLTREL: pltrel = v; break;
        }
    }
    interpose_table(rq, base, (const ElfW(Rela) *)(uintptr_t)rela, relasz, relro_start, relro_end);
    if (pltrel == DT_RELA)
        interpose_table(rq, base, (const ElfW(Rela) *)(uintptr_t)jmprel, pltrelsz, relro_start, relro_end);
    return 0;
}

static void handle_interpose(uint64_t id, struct cursor *c)
{
    uint64_t h = get_u64(c);
    uint64_t original = get_u64(c);
    uint64_t addr = get_u64(c);
    expect_end(c, JITLD_OP_INTERPOSE);
    struct interpose_request rq = {original, addr, 0, 0, 0};
    void *handle;
    if (h != 0) {
        struct link_map *map = NULL;
        if (!known_handle(h, &handle) || dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || !map) {
            reply_error(id, "interpose: unknown handle %#llx", (unsigned long long)h);
            return;
        }
        rq.only_one = 1;
        rq.only_bias = (uint64_t)map->l_addr;
    }
    dl_iterate_phdr(interpose_object, &rq);
    struct buf b = {0};
    put_u32(&b, rq.rewritten);
    reply_ok(id, &b);
}

/* ---- calls ---------------------------------------------------------------------------- */

static void queue_job(struct job *j)
{
    pthread_mutex_lock(&state_lock);
    if (jobs_tail)
        jobs_tail->next = j;
    else
        jobs_head = j;
    jobs_tail = j;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&state_lock);
}

/* The first job this thread may run (run_main and exit only on the main thread), taken off
 * the queue; NULL if none. Called with state_lock held. */
static struct job *take_job(void)
{
    int on_main = pthread_equal(pthread_self(), main_thread);
    struct job **link = &jobs_head, *prev = NULL;
    for (struct job *j = jobs_head; j; prev = j, link = &j->next, j = j->next) {
        if (j->op != JITLD_OP_CALL && !on_main)
            continue;
        *link = j->next;
        if (jobs_tail == j)
            jobs_tail = prev;
        j->next = NULL;
        return j;
    }
    return NULL;
}

extern char **environ;

static void run_job(struct job *j)
{
    if (j->op == JITLD_OP_EXIT) {
        /* As a native program's exit: atexit handlers, destructors, stdio flushed. The
         * service thread goes on answering, so handlers may still re-enter the JIT. */
        exit(j->status);
    }
    struct buf b = {0};
    int status = 0;
    if (j->op == JITLD_OP_CALL) {
        typedef uint64_t (*function)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
        function f = (function)(uintptr_t)j->addr;
        put_u64(&b, f(j->args[0], j->args[1], j->args[2], j->args[3], j->args[4], j->args[5]));
    } else {
        typedef int (*main_function)(int, char **, char **);
        main_function m = (main_function)(uintptr_t)j->addr;
        if (j->envp)
            environ = j->envp; /* through the GOT: follows an interposed `environ` */
        status = m(j->argc, j->argv, environ);
        put_u32(&b, (uint32_t)status);
        /* argv and envp stay alive: the program may have kept pointers into them. */
    }
    /* A child the program forked came back here: it ends as a native one would (main's
     * status goes to exit), and never answers for its parent. */
    if (getpid() != executor_pid)
        exit(status);
    uint64_t id = j->id;
    free(j);
    reply_ok(id, &b);
}

static void parse_call(uint64_t id, uint32_t op, struct cursor *c)
{
    struct job *j = checked_malloc(sizeof *j);
    memset(j, 0, sizeof *j);
    j->op = op;
    j->id = id;
    if (op == JITLD_OP_CALL) {
        j->addr = get_u64(c);
        uint32_t n = get_u32(c);
        if (n > JITLD_MAX_CALL_ARGS)
            protocol_error("call with %u arguments (at most %d)", n, JITLD_MAX_CALL_ARGS);
        for (uint32_t i = 0; i < n; i++)
            j->args[i] = get_u64(c);
    } else if (op == JITLD_OP_RUN_MAIN) {
        j->addr = get_u64(c);
        uint32_t flags = get_u32(c);
        j->argv = get_str_list(c, &j->argc);
        int envc;
        char **envp = get_str_list(c, &envc);
        if (flags & JITLD_RUN_MAIN_ENVIRONMENT)
            j->envp = envp;
        else
            free_str_list(envp);
    } else {
        j->status = (int)get_u32(c);
    }
    expect_end(c, op);
    if (j->argv)
        for (int i = 0; i < j->argc; i++)
            if (!j->argv[i])
                protocol_error("bad argument string");
    queue_job(j);
}

static void run_jobs_forever(void)
{
    for (;;) {
        pthread_mutex_lock(&state_lock);
        struct job *j;
        while (!(j = take_job()))
            pthread_cond_wait(&changed, &state_lock);
        pthread_mutex_unlock(&state_lock);
        run_job(j);
    }
}

/* ---- lazy re-entry -------------------------------------------------------------------- */

/* Called by jitld_executor_lazy_reentry with the stub's context: asks the JIT for the body
 * (which it links now, talking to us through the service thread) and returns its address.
 * While it waits, this thread runs calls the JIT makes (the body's initializers). */
__attribute__((visibility("hidden"), used)) uint64_t jitld_executor_resolve_lazy(uint64_t context)
{
    int saved_errno = errno;
    if (getpid() != executor_pid) {
        /* Our service thread lives in the parent only: nobody here could hear the answer. */
        fprintf(stderr, "error: a lazily linked function was first called in a forked child\n");
        fflush(NULL);
        _exit(1);
    }
    struct waiter w;
    memset(&w, 0, sizeof w);
    pthread_mutex_lock(&state_lock);
    w.id = next_request_id++;
    w.next = waiters;
    waiters = &w;
    pthread_mutex_unlock(&state_lock);

    struct buf b = {0};
    put_u64(&b, context);
    send_message(JITLD_OP_LAZY_RESOLVE, w.id, &b);
    free(b.data);

    pthread_mutex_lock(&state_lock);
    while (!w.done) {
        struct job *j = take_job();
        if (j) {
            pthread_mutex_unlock(&state_lock);
            run_job(j);
            pthread_mutex_lock(&state_lock);
        } else {
            pthread_cond_wait(&changed, &state_lock);
        }
    }
    for (struct waiter **link = &waiters; *link; link = &(*link)->next)
        if (*link == &w) {
            *link = w.next;
            break;
        }
    pthread_mutex_unlock(&state_lock);
    if (w.failed) {
        /* Nothing sensible to return into: the caller expected the function to run. */
        fprintf(stderr, "error: %s\n", w.error);
        fflush(NULL);
        _exit(1);
    }
    errno = saved_errno;
    return w.value;
}

static void deliver_reply(uint32_t op, uint64_t id, struct cursor *c)
{
    uint64_t value = 0;
    char *error = NULL;
    if (op == JITLD_OP_OK)
        value = get_u64(c);
    else
        error = get_str(c);
    expect_end(c, op);
    pthread_mutex_lock(&state_lock);
    struct waiter *w = waiters;
    while (w && w->id != id)
        w = w->next;
    if (!w || w->done) {
        pthread_mutex_unlock(&state_lock);
        protocol_error("reply to request %llu, which nobody is waiting for", (unsigned long long)id);
    }
    w->value = value;
    if (error) {
        w->failed = 1;
        snprintf(w->error, sizeof w->error, "%s", error);
        free(error);
    }
    w->done = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&state_lock);
}

/* The routine JIT'd lazy trampolines jump to. It saves every register that may carry the
 * caller's arguments, asks jitld_executor_resolve_lazy for the body, restores them and
 * jumps to the body, so the call goes on as if the stub had always pointed there.
 *   x86-64: the trampoline pushed the context word; 0(%rsp) = context, 8(%rsp) = return.
 *   AArch64: the trampoline put the context in x16 (IP0) and jumped with x17. */
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl jitld_executor_lazy_reentry\n"
        ".type jitld_executor_lazy_reentry,@function\n"
        "jitld_executor_lazy_reentry:\n"
        "  push %rbp\n"
        "  mov %rsp, %rbp\n"
        "  push %rax\n" /* %al: vector registers used by a varargs call */
        "  push %rdi\n"
        "  push %rsi\n"
        "  push %rdx\n"
        "  push %rcx\n"
        "  push %r8\n"
        "  push %r9\n"
        "  push %r10\n" /* static chain */
        "  sub $136, %rsp\n" /* 8 vector registers, and %rsp 16-byte aligned for the call */
        "  movdqu %xmm0, 0(%rsp)\n"
        "  movdqu %xmm1, 16(%rsp)\n"
        "  movdqu %xmm2, 32(%rsp)\n"
        "  movdqu %xmm3, 48(%rsp)\n"
        "  movdqu %xmm4, 64(%rsp)\n"
        "  movdqu %xmm5, 80(%rsp)\n"
        "  movdqu %xmm6, 96(%rsp)\n"
        "  movdqu %xmm7, 112(%rsp)\n"
        "  mov 8(%rbp), %rdi\n"
        "  call jitld_executor_resolve_lazy\n"
        "  mov %rax, %r11\n"
        "  movdqu 0(%rsp), %xmm0\n"
        "  movdqu 16(%rsp), %xmm1\n"
        "  movdqu 32(%rsp), %xmm2\n"
        "  movdqu 48(%rsp), %xmm3\n"
        "  movdqu 64(%rsp), %xmm4\n"
        "  movdqu 80(%rsp), %xmm5\n"
        "  movdqu 96(%rsp), %xmm6\n"
        "  movdqu 112(%rsp), %xmm7\n"
        "  add $136, %rsp\n"
        "  pop %r10\n"
        "  pop %r9\n"
        "  pop %r8\n"
        "  pop %rcx\n"
        "  pop %rdx\n"
        "  pop %rsi\n"
        "  pop %rdi\n"
        "  pop %rax\n"
        "  pop %rbp\n"
        "  add $8, %rsp\n" /* drop the context word */
        "  jmp *%r11\n"
        ".size jitld_executor_lazy_reentry, .-jitld_executor_lazy_reentry\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl jitld_executor_lazy_reentry\n"
        ".type jitld_executor_lazy_reentry,%function\n"
        "jitld_executor_lazy_reentry:\n"
        "  stp x29, x30, [sp, #-16]!\n"
        "  mov x29, sp\n"
        "  stp x0, x1, [sp, #-16]!\n"
        "  stp x2, x3, [sp, #-16]!\n"
        "  stp x4, x5, [sp, #-16]!\n"
        "  stp x6, x7, [sp, #-16]!\n"
        "  stp x8, x18, [sp, #-16]!\n" /* x8: indirect result location */
        "  stp q0, q1, [sp, #-32]!\n"
        "  stp q2, q3, [sp, #-32]!\n"
        "  stp q4, q5, [sp, #-32]!\n"
        "  stp q6, q7, [sp, #-32]!\n"
        "  mov x0, x16\n"
        "  bl jitld_executor_resolve_lazy\n"
        "  mov x16, x0\n"
        "  ldp q6, q7, [sp], #32\n"
        "  ldp q4, q5, [sp], #32\n"
        "  ldp q2, q3, [sp], #32\n"
        "  ldp q0, q1, [sp], #32\n"
        "  ldp x8, x18, [sp], #16\n"
        "  ldp x6, x7, [sp], #16\n"
        "  ldp x4, x5, [sp], #16\n"
        "  ldp x2, x3, [sp], #16\n"
        "  ldp x0, x1, [sp], #16\n"
        "  ldp x29, x30, [sp], #16\n"
        "  br x16\n"
        ".size jitld_executor_lazy_reentry, .-jitld_executor_lazy_reentry\n");
#endif

/* ---- thread-local storage ------------------------------------------------------------- */

typedef struct {
    uint64_t module;
    uint64_t offset;
} tls_index;

/* glibc grants a dlopened object static TLS only if its alignment is at most the static TLS
 * alignment of the objects loaded at startup (every thread's block is aligned to that). That
 * is 16 on AArch64 (64 on x86-64) unless the executable asks for more: this variable makes
 * jitld's blocks (see src/platform/tls.rs) aligned up to 256 bytes loadable, as
 * `alignas(64)` and `alignas(std::hardware_destructive_interference_size)` (256 on AArch64)
 * thread_local variables need. */
#define JITLD_STATIC_TLS_ALIGN 256
__attribute__((used)) static __thread char static_tls_alignment[1] __attribute__((aligned(JITLD_STATIC_TLS_ALIGN)));

extern void *__tls_get_addr(tls_index *);

/* The __tls_get_addr JIT'd code calls: jitld's pairs carry an offset from the thread
 * pointer; anything else is the real one's. */
void *jitld_executor_tls_get_addr(tls_index *index)
{
    if (index->module == JITLD_STATIC_TLS_MODULE)
        return (void *)(uintptr_t)(current_thread_pointer() + index->offset);
    return __tls_get_addr(index);
}

/* ---- C runtime pieces ------------------------------------------------------------------ */

/* What an executable gets from libc_nonshared.a, which JIT'd code cannot link from there
 * (glibc's shared library exports __cxa_atexit but not atexit): the JIT binds these names to
 * our exports. Registered here, the handlers belong to the main program, as a native
 * program's do. */
int jitld_executor_atexit(void (*f)(void))
{
    return atexit(f);
}

int jitld_executor_at_quick_exit(void (*f)(void))
{
    return at_quick_exit(f);
}

int jitld_executor_pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    return pthread_atfork(prepare, parent, child);
}

/* pthread_create for JIT'd code: each new thread gets an alternate signal stack, so that a
 * stack overflow there is reported too (the crash handler runs on it). */
#define ALT_STACK_SIZE (64 * 1024)

struct thread_start {
    void *(*start)(void *);
    void *arg;
};

static pthread_key_t alt_stack_key;
static pthread_once_t alt_stack_once = PTHREAD_ONCE_INIT;

static void free_alt_stack(void *stack)
{
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    free(stack);
}

static void make_alt_stack_key(void)
{
    pthread_key_create(&alt_stack_key, free_alt_stack);
}

static void *start_with_alt_stack(void *p)
{
    struct thread_start start = *(struct thread_start *)p;
    free(p);
    stack_t ss = {.ss_sp = malloc(ALT_STACK_SIZE), .ss_size = ALT_STACK_SIZE, .ss_flags = 0};
    if (ss.ss_sp && sigaltstack(&ss, NULL) == 0)
        pthread_setspecific(alt_stack_key, ss.ss_sp); /* freed when the thread ends */
    else
        free(ss.ss_sp);
    return start.start(start.arg);
}

int jitld_executor_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
    pthread_once(&alt_stack_once, make_alt_stack_key);
    struct thread_start *s = malloc(sizeof *s);
    if (!s)
        return EAGAIN;
    s->start = start;
    s->arg = arg;
    int err = pthread_create(thread, attr, start_with_alt_stack, s);
    if (err)
        free(s);
    return err;
}

/* ---- crash reporting ------------------------------------------------------------------ */

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT, SIGSYS};

/* Async-signal-safe: tells the JIT where the program died, then dies of the signal as the
 * native program would (the handler was reset to the default on entry). */
static void on_fatal_signal(int sig, siginfo_t *info, void *context)
{
    if (getpid() != executor_pid) {
        raise(sig);
        return;
    }
    ucontext_t *uc = context;
    uint64_t pc;
#if defined(__x86_64__)
    pc = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    pc = (uint64_t)uc->uc_mcontext.pc;
#endif
    uint8_t msg[JITLD_HEADER_SIZE + 20];
    uint64_t addr = (uint64_t)(uintptr_t)info->si_addr;
    encode_header(msg, 20, JITLD_OP_CRASHED, 0);
    for (int i = 0; i < 4; i++)
        msg[16 + i] = (uint8_t)((uint32_t)sig >> (8 * i));
    for (int i = 0; i < 8; i++) {
        msg[20 + i] = (uint8_t)(pc >> (8 * i));
        msg[28 + i] = (uint8_t)(addr >> (8 * i));
    }
    /* Take the write lock if we can, so the report does not land inside another message;
     * if the crash happened while writing, go ahead after a while. */
    for (long spin = 0; spin < 10000000 && __atomic_exchange_n(&write_busy, 1, __ATOMIC_ACQUIRE); spin++)
        ;
    size_t done = 0;
    while (done < sizeof msg) {
        ssize_t w = out_is_socket ? send(out_fd, msg + done, sizeof msg - done, MSG_NOSIGNAL)
                                  : write(out_fd, msg + done, sizeof msg - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    /* Blocked while we run: delivered with the default action as soon as we return. */
    raise(sig);
}

static void install_crash_reporting(void)
{
    static char alt_stack[64 * 1024];
    stack_t ss = {.ss_sp = alt_stack, .ss_size = sizeof alt_stack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal_signal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++)
        sigaction(fatal_signals[i], &sa, NULL);
}

/* ---- the service thread --------------------------------------------------------------- */

static void handle_request(uint32_t op, uint64_t id, struct cursor *c)
{
    switch (op) {
    case JITLD_OP_RESERVE: handle_reserve(id, c); break;
    case JITLD_OP_WRITE: handle_write(id, c); break;
    case JITLD_OP_READ: handle_read(id, c); break;
    case JITLD_OP_PROTECT: handle_protect(id, c); break;
    case JITLD_OP_RELEASE: handle_release(id, c); break;
    case JITLD_OP_LOOKUP: handle_lookup(id, c); break;
    case JITLD_OP_DLOPEN: handle_dlopen(id, c); break;
    case JITLD_OP_DLCLOSE: handle_dlclose(id, c); break;
    case JITLD_OP_LOAD_OBJECT: handle_load_object(id, c); break;
    case JITLD_OP_INTERPOSE: handle_interpose(id, c); break;
    case JITLD_OP_THREAD_POINTER: {
        expect_end(c, op);
        struct buf b = {0};
        put_u64(&b, main_thread_pointer);
        reply_ok(id, &b);
        break;
    }
    case JITLD_OP_CALL:
    case JITLD_OP_RUN_MAIN:
    case JITLD_OP_EXIT: parse_call(id, op, c); break;
    case JITLD_OP_OK:
    case JITLD_OP_ERROR: deliver_reply(op, id, c); break;
    default:
        /* A newer JIT's request: refuse it, and stay in step with the stream. */
        reply_error(id, "unknown operation %u (protocol version %d)", op, JITLD_PROTOCOL_VERSION);
    }
}

static void *serve(void *unused)
{
    (void)unused;
    /* Faults stay deliverable here, so that a crash of our own is reported too. */
    sigset_t faults;
    sigemptyset(&faults);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++)
        sigaddset(&faults, fatal_signals[i]);
    pthread_sigmask(SIG_UNBLOCK, &faults, NULL);
    for (;;) {
        uint8_t h[JITLD_HEADER_SIZE];
        int r = read_full(in_fd, h, sizeof h);
        if (r == 0) {
            /* The JIT hung up between messages: it is done with us. */
            fflush(NULL);
            _exit(0);
        }
        if (r < 0)
            protocol_error("input ended inside a message header");
        uint32_t len = 0, op = 0;
        uint64_t id = 0;
        for (int i = 0; i < 4; i++) {
            len |= (uint32_t)h[i] << (8 * i);
            op |= (uint32_t)h[4 + i] << (8 * i);
        }
        for (int i = 0; i < 8; i++)
            id |= (uint64_t)h[8 + i] << (8 * i);
        if (len > JITLD_MAX_BODY)
            protocol_error("message op %u of %u bytes exceeds the limit of %u", op, len, JITLD_MAX_BODY);
        uint8_t *body = checked_malloc(len);
        if (len && read_full(in_fd, body, len) != 1)
            protocol_error("input ended inside the body of message op %u (%u bytes expected)", op, len);
        struct cursor c = {body, len, 0};
        handle_request(op, id, &c);
        free(body);
    }
    return NULL;
}

/* ---- connecting ----------------------------------------------------------------------- */

/* Splits "HOST:PORT" (HOST may be [v6]) into its parts; 0 if it has no port. */
static int split_host_port(const char *spec, char *host, size_t host_size, char *port, size_t port_size)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || !colon[1])
        return 0;
    const char *start = spec, *end = colon;
    if (*start == '[' && end[-1] == ']') {
        start++;
        end--;
    }
    if ((size_t)(end - start) >= host_size || strlen(colon + 1) >= port_size)
        return 0;
    memcpy(host, start, (size_t)(end - start));
    host[end - start] = 0;
    snprintf(port, port_size, "%s", colon + 1);
    return 1;
}

static int open_tcp(const char *spec, int listening)
{
    char host[256], port[32];
    if (!split_host_port(spec, host, sizeof host, port, sizeof port))
        protocol_error("expected HOST:PORT, got '%s'", spec);
    struct addrinfo hints, *list;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = listening ? AI_PASSIVE : 0;
    int err = getaddrinfo(host, port, &hints, &list);
    if (err)
        protocol_error("%s: %s", spec, gai_strerror(err));
    int fd = -1;
    for (struct addrinfo *a = list; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        if (listening) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 1) == 0)
                break;
        } else if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(list);
    if (fd < 0)
        protocol_error("cannot %s %s: %s", listening ? "listen on" : "connect to", spec, strerror(errno));
    if (listening) {
        struct sockaddr_storage bound;
        socklen_t len = sizeof bound;
        /* With port 0 the system chose one: say which, so that a script can connect. */
        if (strcmp(port, "0") == 0 && getsockname(fd, (struct sockaddr *)&bound, &len) == 0) {
            int p = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                                : ntohs(((struct sockaddr_in *)&bound)->sin_port);
            fprintf(stderr, "jitld-executor: listening on port %d\n", p);
        }
        int conn;
        do
            conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        while (conn < 0 && errno == EINTR);
        if (conn < 0)
            protocol_error("accept on %s: %s", spec, strerror(errno));
        close(fd);
        fd = conn;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int parse_fd(const char *s, const char **rest)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 0 || v > 1 << 20)
        return -1;
    if (rest)
        *rest = end;
    else if (*end)
        return -1;
    return (int)v;
}

static void usage(FILE *to)
{
    fputs("usage: jitld-executor --fds IN,OUT [--shm FD]\n"
          "       jitld-executor --listen HOST:PORT\n"
          "       jitld-executor --connect HOST:PORT\n"
          "Runs code that jitld links (jitld run --oop / --executor / --connect).\n",
          to);
}

static void parse_arguments(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(arg, "--version") == 0) {
            printf("jitld-executor protocol %d\n", JITLD_PROTOCOL_VERSION);
            exit(0);
        } else if (strcmp(arg, "--fds") == 0 && value) {
            const char *rest = "";
            in_fd = parse_fd(value, &rest);
            out_fd = in_fd >= 0 && *rest == ',' ? parse_fd(rest + 1, NULL) : -1;
            if (in_fd < 0 || out_fd < 0)
                protocol_error("--fds wants IN,OUT, got '%s'", value);
            i++;
        } else if (strcmp(arg, "--shm") == 0 && value) {
            shm_fd = parse_fd(value, NULL);
            if (shm_fd < 0)
                protocol_error("--shm wants a file descriptor, got '%s'", value);
            i++;
        } else if ((strcmp(arg, "--listen") == 0 || strcmp(arg, "--connect") == 0) && value) {
            in_fd = out_fd = open_tcp(value, arg[2] == 'l');
            i++;
        } else {
            usage(stderr);
            exit(2);
        }
    }
    if (in_fd < 0) {
        usage(stderr);
        exit(2);
    }
}

/* Registered first, so it runs after the program's own exit handlers: tells the JIT the
 * status of an exit() the program made itself (or the JIT asked for). A JIT that is gone
 * does not change the status. */
static void report_exit(int status, void *unused)
{
    (void)unused;
    if (getpid() != executor_pid)
        return;
    struct buf b = {0};
    put_u32(&b, (uint32_t)status & 0xff);
    try_send_message(JITLD_OP_EXITED, 0, &b);
    free(b.data);
}

static void send_hello(void)
{
    struct buf b = {0};
    buf_reserve(&b, 8);
    memcpy(b.data, JITLD_PROTOCOL_MAGIC, 8);
    b.len = 8;
    put_u32(&b, JITLD_PROTOCOL_VERSION);
    put_u32(&b, ELF_MACHINE);
    put_u32(&b, (uint32_t)page_size);
    put_u32(&b, (uint32_t)sizeof(void *));
    put_u32(&b, (uint32_t)getpid());
    put_u32(&b, shm_fd >= 0 ? JITLD_HELLO_SHARED_MEMORY : 0);
    send_message(JITLD_OP_HELLO, 0, &b);
    free(b.data);
}

/* A JIT that spawns us raises glibc's static TLS surplus through GLIBC_TUNABLES (JIT'd
 * thread-local blocks live there, and the loader reads the tunable before main) and names
 * what the variable was in JITLD_ORIGINAL_GLIBC_TUNABLES ("-": unset). Put it back, so the
 * program sees the environment the JIT was given. */
static void restore_environment(void)
{
    const char *original = getenv("JITLD_ORIGINAL_GLIBC_TUNABLES");
    if (!original)
        return;
    if (strcmp(original, "-") == 0)
        unsetenv("GLIBC_TUNABLES");
    else
        setenv("GLIBC_TUNABLES", original, 1);
    unsetenv("JITLD_ORIGINAL_GLIBC_TUNABLES");
}

int main(int argc, char **argv)
{
    restore_environment();
    parse_arguments(argc, argv);
    page_size = (uint64_t)sysconf(_SC_PAGESIZE);
    executor_pid = getpid();
    main_thread = pthread_self();
    main_thread_pointer = current_thread_pointer();
    struct stat st;
    out_is_socket = fstat(out_fd, &st) == 0 && S_ISSOCK(st.st_mode);
    if (shm_fd >= 0 && (fstat(shm_fd, &st) != 0 || !S_ISREG(st.st_mode)))
        shm_fd = -1; /* not a memfd we can use: every write goes over the stream */
    /* The program's children must not hold our end of the channel open. */
    fcntl(in_fd, F_SETFD, FD_CLOEXEC);
    fcntl(out_fd, F_SETFD, FD_CLOEXEC);
    if (shm_fd >= 0)
        fcntl(shm_fd, F_SETFD, FD_CLOEXEC);
    install_crash_reporting();
    send_hello();
    on_exit(report_exit, NULL);

    /* Signals meant for the program go to its threads, never to the service thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_t service;
    int err = pthread_create(&service, NULL, serve, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err)
        protocol_error("cannot start the service thread: %s", strerror(err));
    run_jobs_forever();
}
