/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bench/lg_stats.c — log-linear latency histogram (no sort of all samples), /proc figures */
#include "bench/loadgen.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Values below 128 ns have a bucket each; above, 64 buckets per power of two (the six bits
 * after the leading one), so a bucket's width is at most 1/64 of its value (1.6 %). */
static int hist_index(uint64_t v)
{
    if (v < 128)
        return (int)v;
    int e = 63 - __builtin_clzll(v); /* >= 7 */
    return 128 + (e - 7) * 64 + (int)((v >> (e - 6)) & 63);
}

/* Middle of a bucket */
static uint64_t hist_value(int i)
{
    if (i < 128)
        return (uint64_t)i;
    int e = (i - 128) / 64 + 7;
    uint64_t lo = (64ull + (uint64_t)((i - 128) % 64)) << (e - 6);
    return lo + ((1ull << (e - 6)) >> 1);
}

void lg_hist_add(LgHist *h, uint64_t v)
{
    int i = hist_index(v);
    if (i >= LG_HIST_SIZE)
        i = LG_HIST_SIZE - 1;
    h->counts[i]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}

uint64_t lg_hist_percentile(const LgHist *h, double p)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)(p / 100.0 * (double)h->n);
    if (rank >= h->n)
        rank = h->n - 1;
    uint64_t seen = 0;
    for (int i = 0; i < LG_HIST_SIZE; i++) {
        seen += h->counts[i];
        if (seen > rank) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

gboolean lg_proc_rss(int pid, long *rss_kib, long *anon_kib)
{
    char path[64], line[256];
    g_snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return FALSE;
    *rss_kib = *anon_kib = -1;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6))
            *rss_kib = strtol(line + 6, NULL, 10);
        else if (!strncmp(line, "RssAnon:", 8))
            *anon_kib = strtol(line + 8, NULL, 10);
    }
    fclose(f);
    return *rss_kib >= 0;
}

/* /proc/<pid>/task/<tid>/schedstat, summed over the threads (ejabberd's BEAM runs its
 * schedulers in threads; ternd and Prosody have one that works): nanoseconds on a CPU,
 * nanoseconds runnable but waiting for one */
static gboolean schedstat_file(const char *path, unsigned long long *r, unsigned long long *w)
{
    unsigned long long run = 0, wait = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return FALSE;
    int n = fscanf(f, "%llu %llu", &run, &wait);
    fclose(f);
    if (n != 2)
        return FALSE;
    *r += run;
    *w += wait;
    return TRUE;
}

static gboolean schedstat(int pid, double *run, double *wait)
{
    char path[96];
    unsigned long long r = 0, w = 0;
    gboolean any = FALSE;
    g_snprintf(path, sizeof path, "/proc/%d/task", pid);
    GDir *dir = g_dir_open(path, 0, NULL);
    if (dir) {
        const char *tid;
        while ((tid = g_dir_read_name(dir))) {
            g_snprintf(path, sizeof path, "/proc/%d/task/%s/schedstat", pid, tid);
            any |= schedstat_file(path, &r, &w);
        }
        g_dir_close(dir);
    } else {
        g_snprintf(path, sizeof path, "/proc/%d/schedstat", pid);
        any = schedstat_file(path, &r, &w);
    }
    if (!any)
        return FALSE;
    *run = (double)r / 1e9;
    *wait = (double)w / 1e9;
    return TRUE;
}

double lg_proc_cpu(int pid)
{
    double run, wait;
    if (schedstat(pid, &run, &wait))
        return run;
    /* no schedstat: utime + stime in clock ticks (coarse) */
    char path[64], buf[1024];
    g_snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* fields after "(comm)": state is field 3, utime 14, stime 15 */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long utime = 0, stime = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

double lg_proc_wait(int pid)
{
    double run, wait;
    return schedstat(pid, &run, &wait) ? wait : -1;
}

double lg_self_cpu(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
