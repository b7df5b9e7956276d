/*
 * clockshim: an LD_PRELOAD library that shifts a process's wall clock by an offset that can be
 * changed while the process runs (the clock-skew fault).
 *
 * It defines clock_gettime, gettimeofday and time. Realtime clocks (CLOCK_REALTIME and its
 * _COARSE, _ALARM and TAI variants) get the offset added; every other clock passes through.
 * The real clock is read with syscall(SYS_clock_gettime, ...) rather than through dlsym: dlsym
 * may allocate, and allocators (jemalloc in Redis) read the clock, which is the recursion that
 * makes libfaketime fail here.
 *
 * The offset, in milliseconds (a signed decimal integer), is read from the file named by the
 * environment variable SPLITBRAIN_CLOCK_FILE. The file is stat()ed at most every
 * CHECK_INTERVAL_NS of monotonic time and re-read only when its inode, size or mtime changed.
 * A missing or unreadable file means offset 0. Writers should replace the file atomically
 * (write a temporary file, then rename), which changes the inode.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CHECK_INTERVAL_NS (20LL * 1000 * 1000)

static int64_t offset_ns;           /* current offset, read and written atomically */
static int64_t next_check_ns;       /* monotonic time of the next stat() */
static int checking;                /* one thread re-reads at a time; others use the old offset */
static dev_t seen_dev;
static ino_t seen_ino;
static off_t seen_size;
static struct timespec seen_mtime;

static long real_clock_gettime(clockid_t clk, struct timespec *ts)
{
    return syscall(SYS_clock_gettime, clk, ts);
}

static int64_t parse_offset_ms(const char *s)
{
    int64_t sign = 1, v = 0;
    while (*s == ' ' || *s == '\t' || *s == '\n')
        s++;
    if (*s == '-' || *s == '+') {
        if (*s == '-')
            sign = -1;
        s++;
    }
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (*s++ - '0');
    return sign * v;
}

static void refresh_offset(void)
{
    struct timespec now;
    if (real_clock_gettime(CLOCK_MONOTONIC, &now) != 0)
        return;
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
    if (now_ns < __atomic_load_n(&next_check_ns, __ATOMIC_RELAXED))
        return;
    if (__atomic_exchange_n(&checking, 1, __ATOMIC_ACQUIRE))
        return;
    __atomic_store_n(&next_check_ns, now_ns + CHECK_INTERVAL_NS, __ATOMIC_RELAXED);

    const char *path = getenv("SPLITBRAIN_CLOCK_FILE");
    struct stat st;
    if (path == NULL || stat(path, &st) != 0) {
        __atomic_store_n(&offset_ns, 0, __ATOMIC_RELAXED);
        seen_ino = 0;
    } else if (st.st_ino != seen_ino || st.st_dev != seen_dev || st.st_size != seen_size ||
               st.st_mtim.tv_sec != seen_mtime.tv_sec || st.st_mtim.tv_nsec != seen_mtime.tv_nsec) {
        char buf[64];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n >= 0) {
                buf[n] = '\0';
                __atomic_store_n(&offset_ns, parse_offset_ms(buf) * 1000000LL, __ATOMIC_RELAXED);
                seen_dev = st.st_dev;
                seen_ino = st.st_ino;
                seen_size = st.st_size;
                seen_mtime = st.st_mtim;
            }
        }
    }
    __atomic_store_n(&checking, 0, __ATOMIC_RELEASE);
}

static int is_realtime(clockid_t clk)
{
    return clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE || clk == CLOCK_REALTIME_ALARM ||
           clk == CLOCK_TAI;
}

static void add_offset(struct timespec *ts)
{
    int64_t off = __atomic_load_n(&offset_ns, __ATOMIC_RELAXED);
    int64_t ns = (int64_t)ts->tv_nsec + off % 1000000000LL;
    ts->tv_sec += off / 1000000000LL + ns / 1000000000LL;
    ns %= 1000000000LL;
    if (ns < 0) {
        ns += 1000000000LL;
        ts->tv_sec -= 1;
    }
    ts->tv_nsec = ns;
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
    long r = real_clock_gettime(clk, ts);
    if (r != 0)
        return -1;  /* syscall() already set errno */
    if (is_realtime(clk)) {
        refresh_offset();
        add_offset(ts);
    }
    return 0;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    (void)tz;  /* the timezone argument is obsolete; glibc ignores it too */
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    if (tv != NULL) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return 0;
}

time_t time(time_t *out)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (time_t)-1;
    if (out != NULL)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
