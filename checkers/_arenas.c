/* Python's object arenas from memory faulted in 16 MiB at a time.
 *
 * Reading and checking a big history makes hundreds of megabytes of small objects, which
 * Python's allocator takes from 1 MiB arenas that the kernel then faults in 4 KiB page by page:
 * 55,000 page faults, a sixth of `splitbrain check`'s CPU time at 100,000 transactions. This
 * arena allocator carves arenas out of one reserved stretch of address space and asks the kernel
 * for each next 16 MiB of it at once (madvise MADV_POPULATE_WRITE, Linux 5.14+), which costs
 * about a third as much per page (100k: 0.15 -> 0.09 s of system time).
 *
 *     import checkers._arenas; checkers._arenas.install()   # True when installed
 *
 * Only `splitbrain check` installs it (harness/cli.py), before it reads a big history, and only
 * when that process is the command itself: the allocator is the whole process's. Objects are
 * not touched, only where their arenas come from, so results cannot differ. Arenas made before,
 * or after the stretch is used up, are the default allocator's (mmap/munmap) and are given back
 * to it; arenas of the stretch that Python frees are returned to the kernel (MADV_DONTNEED) and
 * reused for the next arenas. Without MADV_POPULATE_WRITE it only carves arenas.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define STRETCH (16ull << 30) /* address space reserved (MAP_NORESERVE: not memory) */
#define CHUNK ((size_t)16 << 20) /* faulted in at a time, ahead of the arenas carved */
#define FREED_MAX 4096 /* freed arenas kept for reuse */

static char *start, *next, *end, *populated;
static int populate = 1;
static size_t arena_size; /* every arena has one size (obmalloc's ARENA_SIZE) */
static void *freed[FREED_MAX];
static int freed_n;
static PyObjectArenaAllocator previous;

static void *arena_alloc(void *ctx, size_t size) {
    (void)ctx;
    if (size == arena_size && freed_n > 0)
        return freed[--freed_n];
    if (arena_size == 0)
        arena_size = size;
    if (size != arena_size || (size_t)(end - next) < size)
        return previous.alloc(previous.ctx, size);
    char *arena = next;
    next += size;
    while (populate && next > populated && populated < end) {
        size_t n = (size_t)(end - populated) < CHUNK ? (size_t)(end - populated) : CHUNK;
        if (madvise(populated, n, MADV_POPULATE_WRITE) != 0)
            populate = 0; /* an older kernel (EINVAL) or no memory now: fault page by page */
        populated += n;
    }
    return arena;
}

static void arena_free(void *ctx, void *arena, size_t size) {
    (void)ctx;
    if ((char *)arena < start || (char *)arena >= end) {
        previous.free(previous.ctx, arena, size);
        return;
    }
    madvise(arena, size, MADV_DONTNEED);
    if (freed_n < FREED_MAX)
        freed[freed_n++] = arena;
}

static PyObject *install(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    if (start != NULL)
        Py_RETURN_TRUE;
    void *stretch = mmap(NULL, STRETCH, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (stretch == MAP_FAILED) /* e.g. strict overcommit: keep the default allocator */
        Py_RETURN_FALSE;
    start = next = populated = stretch;
    end = start + STRETCH;
    PyObject_GetArenaAllocator(&previous);
    PyObjectArenaAllocator mine = {NULL, arena_alloc, arena_free};
    PyObject_SetArenaAllocator(&mine);
    Py_RETURN_TRUE;
}

static PyObject *carved(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    return PyLong_FromSsize_t(start == NULL ? 0 : (Py_ssize_t)(next - start));
}

static PyMethodDef methods[] = {
    {"install", install, METH_NOARGS, "use this arena allocator from now on; False if it cannot"},
    {"carved", carved, METH_NOARGS, "bytes of arenas carved from the reserved stretch so far"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_arenas", NULL, -1, methods, NULL, NULL,
                                    NULL, NULL};

PyMODINIT_FUNC PyInit__arenas(void) { return PyModule_Create(&module); }
