/* The native linearizability search: search.py's algorithm over integer-encoded states.
 *
 * Same nodes, order and pruning as search.py (Wing & Gong's search, Lowe's memo, cuts into
 * segments, eager reads, leaving out ops of unknown outcome, twins, the failed-subsumption rule),
 * without the model's look-ahead guards. States are small ints, numbered through kernel.py's
 * dict and list (`ids`, `states`). Each op's compiled step becomes one of five instructions, by
 * its type (`kinds`: models.Expect, Become, Swap, AppendText; anything else is a CALL):
 *
 *   READ a     Expect(a): legal only in state a, which it keeps (never calls back into Python)
 *   WRITE a    Become(a): legal everywhere, leaves state a
 *   SWAP a b   Swap(a, b): legal only in state a, leaves state b
 *   APPEND     kv's one-key append, AppendText(key, tail, observed):
 *              from () or ((key, text),) the state becomes ((key, text + tail),), or
 *              ((key, unobservable),) when no string in `observed` (sorted) starts with that,
 *              or () for "" (once per distinct (op, state), as CALL)
 *   CALL       the model's own step function steps[op](state), called once per distinct
 *              (op, state): ILLEGAL, a new state (numbered here through `ids` and `states`,
 *              kernel.py's dict and list), or Branches, which kernel.py's transit(op, state)
 *              numbers into a tuple
 *
 * search(steps, kinds, ops, read_fs, optional, twin_prev, starts, ends, init, states, ids,
 *        illegal, branches, transit, unobservable, deadline, min_segment, max_bytes)
 * takes one partition, its ops in invocation order (a CALL op whose f is in read_fs only
 * observes; `optional` and `twin_prev` are None when every op ended ok), and returns
 * (verdict, path, state, unplaceable, first_due, nodes): verdict 1 linearizable, 0 not,
 * -1 deadline passed, -2 the search outgrew max_bytes (negative: no limit), -3 a state named by
 * a step is not hashable (kernel.py then leaves the partition to search.py); for 0, the deepest
 * dead end's path (op indexes in linearization order), its state, the ops that could have come
 * next there, and the one whose return closed that window.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

enum { OP_CALL = 0, OP_READ = 1, OP_WRITE = 2, OP_SWAP = 3, OP_APPEND = 4 };
enum { FLAG_OPTIONAL = 1, FLAG_PURE = 2 };

#define CHECK_EVERY 2048
#define NONE (-1)

/* ---- growable arrays ------------------------------------------------------------------- */

#define GROW(ptr, cap, need, type)                                                       \
    do {                                                                                 \
        if ((size_t)(need) > (cap)) {                                                    \
            size_t _c = (cap) ? (cap) : 64;                                              \
            while (_c < (size_t)(need)) _c *= 2;                                         \
            type *_p = (type *)PyMem_Realloc((ptr), _c * sizeof(type));                  \
            if (!_p) { PyErr_NoMemory(); goto fail; }                                    \
            (ptr) = _p;                                                                  \
            (cap) = _c;                                                                  \
        }                                                                                \
    } while (0)

static inline uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* ---- the memo of one segment: (done bitset, state) -> failed generation ------------------ */

typedef struct {
    int W;            /* 64-bit words per bitset */
    size_t stride;    /* words per entry: state, failed generation, bits */
    uint64_t *entries;
    size_t count, cap;  /* entries */
    int64_t *slots;     /* entry index or -1 */
    size_t mask;
} Memo;

static uint64_t node_hash(const uint64_t *bits, int W, int64_t state) {
    uint64_t h = (uint64_t)state * 0x9E3779B97F4A7C15ULL + (uint64_t)W;
    for (int w = 0; w < W; w++) h = (h ^ bits[w]) * 0x100000001B3ULL + (h >> 29);
    return mix64(h);
}

static int memo_init(Memo *m, int W) {
    m->W = W;
    m->stride = (size_t)W + 2;
    m->entries = NULL;
    m->count = m->cap = 0;
    m->mask = 255;
    m->slots = (int64_t *)PyMem_Malloc((m->mask + 1) * sizeof(int64_t));
    if (!m->slots) { PyErr_NoMemory(); return -1; }
    memset(m->slots, 0xff, (m->mask + 1) * sizeof(int64_t));
    return 0;
}

static void memo_free(Memo *m) {
    PyMem_Free(m->entries);
    PyMem_Free(m->slots);
    m->entries = NULL;
    m->slots = NULL;
}

static inline uint64_t *memo_entry(Memo *m, int64_t e) { return m->entries + (size_t)e * m->stride; }

static int64_t memo_find(Memo *m, const uint64_t *bits, int64_t state) {
    size_t i = node_hash(bits, m->W, state) & m->mask;
    for (;;) {
        int64_t e = m->slots[i];
        if (e < 0) return -1;
        uint64_t *p = memo_entry(m, e);
        if ((int64_t)p[0] == state && memcmp(p + 2, bits, (size_t)m->W * 8) == 0) return e;
        i = (i + 1) & m->mask;
    }
}

static int memo_grow(Memo *m) {
    size_t size = (m->mask + 1) * 2;
    int64_t *slots = (int64_t *)PyMem_Malloc(size * sizeof(int64_t));
    if (!slots) { PyErr_NoMemory(); return -1; }
    memset(slots, 0xff, size * sizeof(int64_t));
    for (size_t e = 0; e < m->count; e++) {
        uint64_t *p = memo_entry(m, (int64_t)e);
        size_t i = node_hash(p + 2, m->W, (int64_t)p[0]) & (size - 1);
        while (slots[i] >= 0) i = (i + 1) & (size - 1);
        slots[i] = (int64_t)e;
    }
    PyMem_Free(m->slots);
    m->slots = slots;
    m->mask = size - 1;
    return 0;
}

/* 1 when (bits, state) is new (and now recorded), 0 when seen before, -1 on error */
static int memo_add(Memo *m, const uint64_t *bits, int64_t state) {
    size_t i = node_hash(bits, m->W, state) & m->mask;
    for (;;) {
        int64_t e = m->slots[i];
        if (e < 0) break;
        uint64_t *p = memo_entry(m, e);
        if ((int64_t)p[0] == state && memcmp(p + 2, bits, (size_t)m->W * 8) == 0) return 0;
        i = (i + 1) & m->mask;
    }
    GROW(m->entries, m->cap, (m->count + 1) * m->stride, uint64_t);
    uint64_t *p = m->entries + m->count * m->stride;
    p[0] = (uint64_t)state;
    p[1] = 0; /* failed in no search generation yet */
    memcpy(p + 2, bits, (size_t)m->W * 8);
    m->slots[i] = (int64_t)m->count;
    m->count++;
    if (m->count * 2 > m->mask + 1 && memo_grow(m) < 0) return -1;
    return 1;
fail:
    return -1;
}

/* ---- remembered CALL answers: (op, state) -> state, -1 illegal, or -2 - offset of a list -- */

typedef struct {
    uint64_t *keys;   /* op << 32 | state, + 1 (0 = empty) */
    int64_t *values;
    size_t count, mask;
    int64_t *lists;   /* count, then states */
    size_t nlists, caplists;
} Answers;

static int answers_init(Answers *a) {
    a->mask = 255;
    a->count = 0;
    a->keys = (uint64_t *)PyMem_Calloc(a->mask + 1, sizeof(uint64_t));
    a->values = (int64_t *)PyMem_Malloc((a->mask + 1) * sizeof(int64_t));
    a->lists = NULL;
    a->nlists = a->caplists = 0;
    if (!a->keys || !a->values) { PyErr_NoMemory(); return -1; }
    return 0;
}

static void answers_free(Answers *a) {
    PyMem_Free(a->keys);
    PyMem_Free(a->values);
    PyMem_Free(a->lists);
}

static int answers_find(Answers *a, uint64_t key, int64_t *value) {
    size_t i = mix64(key) & a->mask;
    while (a->keys[i]) {
        if (a->keys[i] == key) { *value = a->values[i]; return 1; }
        i = (i + 1) & a->mask;
    }
    return 0;
}

static int answers_put(Answers *a, uint64_t key, int64_t value) {
    if ((a->count + 1) * 2 > a->mask + 1) {
        size_t size = (a->mask + 1) * 2;
        uint64_t *keys = (uint64_t *)PyMem_Calloc(size, sizeof(uint64_t));
        int64_t *values = (int64_t *)PyMem_Malloc(size * sizeof(int64_t));
        if (!keys || !values) { PyMem_Free(keys); PyMem_Free(values); PyErr_NoMemory(); return -1; }
        for (size_t j = 0; j <= a->mask; j++) {
            if (!a->keys[j]) continue;
            size_t i = mix64(a->keys[j]) & (size - 1);
            while (keys[i]) i = (i + 1) & (size - 1);
            keys[i] = a->keys[j];
            values[i] = a->values[j];
        }
        PyMem_Free(a->keys);
        PyMem_Free(a->values);
        a->keys = keys;
        a->values = values;
        a->mask = size - 1;
    }
    size_t i = mix64(key) & a->mask;
    while (a->keys[i]) i = (i + 1) & a->mask;
    a->keys[i] = key;
    a->values[i] = value;
    a->count++;
    return 0;
}

/* ---- one partition ------------------------------------------------------------------- */

typedef struct {
    int lo, n, W;      /* ops lo .. lo+n-1 of the partition */
    int nfin;
    int *by_end;       /* local indexes of the ops with a finite end, earliest end first */
    int *reach;        /* per local op: ops 0 .. reach-1 were invoked before it returned */
    uint64_t *optional, *pure, *must, *twinned;  /* W words each */
    Memo memo;
    int64_t generation;  /* of the latest search started in this segment */
} Segment;

typedef struct {
    int seg;
    int64_t state;
    int64_t path;      /* index into the path arena, or -1 */
    int64_t generation;
    int leave;         /* local op of unknown outcome to leave out once the candidates fail, or -1 */
    int pos;           /* next by_end position */
    size_t words;      /* offset of bits[W] then cand[W] in the word stack */
} Frame;

typedef struct {
    int64_t parent;
    int op;
} PathNode;

typedef struct {
    int n;
    int64_t *code;
    int64_t *a, *b;
    int64_t *flags;
    int *twin_prev;
    int64_t *start, *end;
    PyObject *steps;    /* kernel.py's compiled steps, one per op */
    PyObject *states;   /* state number -> state, and back: */
    PyObject *ids;
    PyObject *illegal;  /* models.ILLEGAL */
    PyObject *branches; /* models.Branches */
    PyObject *transit;
    PyObject **appends;     /* per op: APPEND's key, tail, observed (owned), 3 per op */
    PyObject *unobservable; /* models.UNOBSERVABLE */
    PyObject *hidden_key;   /* the key of the last ((key, UNOBSERVABLE),) APPEND numbered, */
    int64_t hidden;         /* and its number (a partition has one key: numbered once) */
    double deadline;   /* CLOCK_MONOTONIC seconds, or < 0 for none */
    double max_bytes;  /* memory the search may hold, or < 0 for no limit */
    int nseg;
    Segment *segs;
    Frame *frames;
    size_t nframes, capframes;
    uint64_t *words;
    size_t nwords, capwords;
    PathNode *path;     /* linearized ops as a tree: each node's op and its parent node */
    size_t npath, cappath;
    Answers answers;
    uint64_t *scratch;  /* W words for a child's bits */
    int64_t generations;
    long ticks;
    int64_t nodes;
    /* the deepest dead end */
    int64_t deep_done;
    int deep_seg;
    uint64_t *deep_bits;
    int64_t deep_state, deep_path;
} Search;

static inline int bit(const uint64_t *bits, int i) { return (int)((bits[i >> 6] >> (i & 63)) & 1); }
static inline void set_bit(uint64_t *bits, int i) { bits[i >> 6] |= (uint64_t)1 << (i & 63); }
static inline void clear_bit(uint64_t *bits, int i) { bits[i >> 6] &= ~((uint64_t)1 << (i & 63)); }

static int lowest(const uint64_t *bits, int W) {
    for (int w = 0; w < W; w++)
        if (bits[w]) return w * 64 + __builtin_ctzll(bits[w]);
    return -1;
}

static int64_t popcount(const uint64_t *bits, int W) {
    int64_t c = 0;
    for (int w = 0; w < W; w++) c += __builtin_popcountll(bits[w]);
    return c;
}

static double monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int64_t path_push(Search *s, int op, int64_t parent) {
    GROW(s->path, s->cappath, s->npath + 1, PathNode);
    s->path[s->npath].op = op;
    s->path[s->npath].parent = parent;
    return (int64_t)s->npath++;
fail:
    return -2;
}

/* The number of `state` (a new object gets the next one). */
static int64_t intern(Search *s, PyObject *state) {
    PyObject *known = PyDict_GetItemWithError(s->ids, state);
    if (known) return PyLong_AsLongLong(known);
    if (PyErr_Occurred()) return -1;
    Py_ssize_t sid = PyList_GET_SIZE(s->states);
    PyObject *number = PyLong_FromSsize_t(sid);
    if (!number) return -1;
    int err = PyDict_SetItem(s->ids, state, number);
    Py_DECREF(number);
    if (err < 0 || PyList_Append(s->states, state) < 0) return -1;
    return sid;
}

/* Op i's step from `state`, by the model's own function: *v is the new state, -1 (illegal),
 * or -2 - offset of a list of states (Branches, numbered by kernel.py's transit). */
static int call_step(Search *s, int i, int64_t state, int64_t *v) {
    PyObject *from = PyList_GET_ITEM(s->states, state);
    Py_INCREF(from);
    PyObject *r = PyObject_CallOneArg(PyList_GET_ITEM(s->steps, i), from);
    Py_DECREF(from);
    if (!r) return -1;
    if (r == s->illegal) {
        Py_DECREF(r);
        *v = -1;
        return 0;
    }
    if (Py_TYPE(r) != (PyTypeObject *)s->branches) {
        *v = intern(s, r);
        Py_DECREF(r);
        return *v < 0 ? -1 : 0;
    }
    Py_DECREF(r);
    /* several outcomes: kernel.py numbers them (a rare case, not worth doing here) */
    PyObject *args[2] = {PyLong_FromLong(i), PyLong_FromLongLong(state)};
    r = args[0] && args[1] ? PyObject_Vectorcall(s->transit, args, 2, NULL) : NULL;
    Py_XDECREF(args[0]);
    Py_XDECREF(args[1]);
    if (!r) return -1;
    if (!PyTuple_Check(r)) {
        Py_DECREF(r);
        PyErr_SetString(PyExc_TypeError, "transit must return a tuple of state numbers");
        return -1;
    }
    Py_ssize_t k = PyTuple_GET_SIZE(r);
    size_t need = s->answers.nlists + 1 + (size_t)k;
    if (need > s->answers.caplists) {
        size_t c = s->answers.caplists ? s->answers.caplists : 64;
        while (c < need) c *= 2;
        int64_t *p = (int64_t *)PyMem_Realloc(s->answers.lists, c * sizeof(int64_t));
        if (!p) { Py_DECREF(r); PyErr_NoMemory(); return -1; }
        s->answers.lists = p;
        s->answers.caplists = c;
    }
    *v = -2 - (int64_t)s->answers.nlists;
    s->answers.lists[s->answers.nlists++] = k;
    for (Py_ssize_t j = 0; j < k; j++)
        s->answers.lists[s->answers.nlists++] = PyLong_AsLongLong(PyTuple_GET_ITEM(r, j));
    Py_DECREF(r);
    return PyErr_Occurred() ? -1 : 0;
}

/* Whether some string in `observed` (a sorted list of str) starts with `text`: the first one
 * not below it is the only candidate. 1, 0, or -1 on error. */
static int observable(PyObject *observed, PyObject *text) {
    Py_ssize_t lo = 0, hi = PyList_GET_SIZE(observed);
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        int c = PyUnicode_Compare(PyList_GET_ITEM(observed, mid), text);
        if (c == -1 && PyErr_Occurred()) return -1;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    if (lo == PyList_GET_SIZE(observed)) return 0;
    Py_ssize_t m = PyUnicode_Tailmatch(PyList_GET_ITEM(observed, lo), text, 0, PY_SSIZE_T_MAX, -1);
    return m < 0 ? -1 : (int)m;
}

/* Op i's APPEND from `state` (see the top of this file): *v is the new state's number. */
static int append_step(Search *s, int i, int64_t state, int64_t *v) {
    PyObject **args = s->appends + 3 * (size_t)i;
    PyObject *from = PyList_GET_ITEM(s->states, state);
    if (!PyTuple_Check(from) || PyTuple_GET_SIZE(from) > 1) {
        return call_step(s, i, state, v); /* not the shapes this handles: the model's own step */
    }
    PyObject *key = args[0], *tail = args[1], *observed = args[2];
    PyObject *old;
    if (PyTuple_GET_SIZE(from) == 0) {
        old = NULL; /* "" */
    } else {
        PyObject *pair = PyTuple_GET_ITEM(from, 0);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) return call_step(s, i, state, v);
        old = PyTuple_GET_ITEM(pair, 1);
        if (old == s->unobservable) { *v = state; return 0; }
        if (!PyUnicode_Check(old)) return call_step(s, i, state, v);
    }
    PyObject *text = old ? PyUnicode_Concat(old, tail) : Py_NewRef(tail);
    if (!text) return -1;
    int seen = observable(observed, text);
    if (seen < 0) { Py_DECREF(text); return -1; }
    if (!seen && key == s->hidden_key) {
        Py_DECREF(text);
        *v = s->hidden;
        return 0;
    }
    PyObject *to;
    if (seen && PyUnicode_GET_LENGTH(text) == 0) {
        to = PyTuple_New(0);
    } else {
        PyObject *pair = PyTuple_Pack(2, key, seen ? text : s->unobservable);
        to = pair ? PyTuple_Pack(1, pair) : NULL;
        Py_XDECREF(pair);
    }
    Py_DECREF(text);
    if (!to) return -1;
    *v = intern(s, to);
    Py_DECREF(to);
    if (*v < 0) return -1;
    if (!seen) {
        s->hidden_key = key; /* borrowed: s->appends holds it for the whole search */
        s->hidden = *v;
    }
    return 0;
}

/* The state(s) op i (partition index) leaves from `state`: count of them in *out or -1. */
static int step(Search *s, int i, int64_t state, int64_t *one, const int64_t **many) {
    switch (s->code[i]) {
    case OP_READ:
        if (state != s->a[i]) return 0;
        *one = state;
        return 1;
    case OP_WRITE:
        *one = s->a[i];
        return 1;
    case OP_SWAP:
        if (state != s->a[i]) return 0;
        *one = s->b[i];
        return 1;
    default:
        break;
    }
    uint64_t key = (((uint64_t)(uint32_t)i << 32) | (uint64_t)(uint32_t)state) + 1;
    int64_t v;
    if (!answers_find(&s->answers, key, &v)) {
        if ((s->code[i] == OP_APPEND ? append_step(s, i, state, &v) : call_step(s, i, state, &v))
            < 0)
            return -1;
        if (answers_put(&s->answers, key, v) < 0) return -1;
    }
    if (v == -1) return 0;
    if (v >= 0) { *one = v; return 1; }
    const int64_t *list = s->answers.lists + (-2 - v);
    *many = list + 1;
    return (int)list[0];
}

static void dead_end(Search *s, int k, const uint64_t *bits, int64_t state, int64_t path,
                     int64_t generation) {
    Segment *g = &s->segs[k];
    int64_t e = memo_find(&g->memo, bits, state);
    if (e >= 0) memo_entry(&g->memo, e)[1] = (uint64_t)generation;
    int64_t done = g->lo + popcount(bits, g->W);
    if (done > s->deep_done) {
        s->deep_done = done;
        s->deep_seg = k;
        memcpy(s->deep_bits, bits, (size_t)g->W * 8);
        s->deep_state = state;
        s->deep_path = path;
    }
}

static inline int failed_in(Segment *g, const uint64_t *bits, int64_t state, int64_t generation) {
    int64_t e = memo_find(&g->memo, bits, state);
    return e >= 0 && (int64_t)memo_entry(&g->memo, e)[1] == generation;
}

#define NOT_FINAL (-3)
#define ERROR (-4)

/* Push the frame of a new node of segment k (bits in s->scratch), unless it is a dead end.
 * Returns the node's path when every op with an end is done (the segment ends there),
 * NOT_FINAL otherwise, ERROR on error. */
static int64_t open_frame(Search *s, int k, int64_t state, int pos, int64_t path,
                          int64_t generation) {
    Segment *g = &s->segs[k];
    int W = g->W;
    uint64_t *bits = s->scratch;
    s->nodes++;
    /* A node with an op of unknown outcome still pending can do all the same node with it done
     * can: when that one failed, this one fails too. */
    for (int w = 0; w < W; w++) {
        uint64_t done_optional = bits[w] & g->optional[w];
        while (done_optional) {
            uint64_t low = done_optional & -done_optional;
            done_optional ^= low;
            bits[w] ^= low;
            int failed = failed_in(g, bits, state, generation);
            bits[w] ^= low;
            if (failed) {
                int64_t e = memo_find(&g->memo, bits, state);
                if (e >= 0) memo_entry(&g->memo, e)[1] = (uint64_t)generation;
                return NOT_FINAL;
            }
        }
    }
    int r;
    for (;;) {
        while (pos < g->nfin && bit(bits, g->by_end[pos])) pos++;
        if (pos == g->nfin) return path;
        r = g->by_end[pos];
        /* reads legal now are linearized now: moving them forward breaks no real-time order */
        int reach = g->reach[r];
        int taken = 0;
        for (int w = 0; w * 64 < reach; w++) {
            uint64_t window = reach - w * 64 >= 64 ? ~(uint64_t)0
                                                   : (((uint64_t)1 << (reach - w * 64)) - 1);
            uint64_t eager = window & ~bits[w] & g->pure[w];
            while (eager) {
                uint64_t low = eager & -eager;
                eager ^= low;
                int i = w * 64 + __builtin_ctzll(low);
                int64_t one;
                const int64_t *many;
                int c = step(s, g->lo + i, state, &one, &many);
                if (c < 0) return ERROR;
                if (c > 0) {  /* pure: the state is unchanged */
                    bits[w] |= low;
                    path = path_push(s, g->lo + i, path);
                    if (path < -1) return ERROR;
                    taken = 1;
                }
            }
        }
        if (!taken) break;
        int added = memo_add(&g->memo, bits, state);
        if (added < 0) return ERROR;
        if (!added) return NOT_FINAL;
    }
    /* the frame: bits, then candidates (window minus done, later twins of pending ops out) */
    GROW(s->frames, s->capframes, s->nframes + 1, Frame);
    GROW(s->words, s->capwords, s->nwords + 2 * (size_t)W, uint64_t);
    uint64_t *fbits = s->words + s->nwords;
    uint64_t *cand = fbits + W;
    memcpy(fbits, bits, (size_t)W * 8);
    int reach = g->reach[r];
    for (int w = 0; w < W; w++) {
        uint64_t window = reach <= w * 64 ? 0
                          : reach - w * 64 >= 64 ? ~(uint64_t)0
                                                 : (((uint64_t)1 << (reach - w * 64)) - 1);
        cand[w] = window & ~bits[w];
        uint64_t twin = cand[w] & g->twinned[w];
        while (twin) {
            uint64_t low = twin & -twin;
            twin ^= low;
            int i = w * 64 + __builtin_ctzll(low);
            for (int p = s->twin_prev[g->lo + i]; p >= g->lo; p = s->twin_prev[p]) {
                if (!bit(bits, p - g->lo)) { cand[w] ^= low; break; }
            }
        }
    }
    Frame *f = &s->frames[s->nframes++];
    f->seg = k;
    f->state = state;
    f->path = path;
    f->generation = generation;
    f->leave = bit(g->optional, r) ? r : -1;
    f->pos = pos;
    f->words = s->nwords;
    s->nwords += 2 * (size_t)W;
    return NOT_FINAL;
fail:
    return ERROR;
}

/* Start segment k's search from `state`. 1: the whole partition is linearized; 0: not from
 * here, or frames pushed for later; -1: error. */
static int enter(Search *s, int k, int64_t state, int64_t path) {
    for (;;) {
        Segment *g = &s->segs[k];
        memset(s->scratch, 0, (size_t)g->W * 8);
        int added = memo_add(&g->memo, s->scratch, state);
        if (added < 0) return -1;
        if (!added) return 0;
        int64_t generation = ++s->generations;
        int64_t final = open_frame(s, k, state, 0, path, generation);
        if (final == ERROR) return -1;
        if (final == NOT_FINAL) return 0;
        if (k == s->nseg - 1) return 1;
        k++;
        path = final;
    }
}

/* After a step of segment k reached a node whose frame open_frame declined as final. */
static int advance(Search *s, int k, int64_t state, int64_t final) {
    if (final == ERROR) return -1;
    if (final == NOT_FINAL) return 0;
    if (k == s->nseg - 1) return 1;
    return enter(s, k + 1, state, final);
}

/* What the search holds now: memo tables, frames, paths and remembered answers. */
static double held_bytes(Search *s) {
    double total = (double)s->capframes * sizeof(Frame) + (double)s->capwords * 8
                   + (double)s->cappath * sizeof(PathNode) + (double)s->answers.caplists * 8
                   + (double)(s->answers.mask + 1) * 16;
    for (int k = 0; k < s->nseg; k++) {
        Memo *m = &s->segs[k].memo;
        total += (double)m->cap * 8 + (double)(m->mask + 1) * 8;
    }
    return total;
}

static int run(Search *s, int64_t init) {
    int r = enter(s, 0, init, -1);
    if (r) return r;
    while (s->nframes) {
        Frame *f = &s->frames[s->nframes - 1];
        int k = f->seg;
        Segment *g = &s->segs[k];
        int W = g->W;
        uint64_t *fbits = s->words + f->words;
        uint64_t *cand = fbits + W;
        int i = -1;
        for (int w = 0; w < W; w++) {  /* ops that did happen before ops that may not have */
            uint64_t c = cand[w] & g->must[w];
            if (c) { i = w * 64 + __builtin_ctzll(c); break; }
        }
        if (i < 0) i = lowest(cand, W);
        if (i >= 0) {
            clear_bit(cand, i);
            if (++s->ticks >= CHECK_EVERY) {
                s->ticks = 0;
                if (s->deadline >= 0 && monotonic() > s->deadline) return -2;
                if (s->max_bytes >= 0 && held_bytes(s) > s->max_bytes) return -3;
            }
            int64_t one;
            const int64_t *many = NULL;
            int64_t from = f->state, parent = f->path, generation = f->generation;
            int pos = f->pos;
            size_t at = f->words;
            int c = step(s, g->lo + i, from, &one, &many);
            if (c < 0) return -1;
            if (c == 0) continue;
            for (int j = 0; j < c; j++) {
                int64_t next = many ? many[j] : one;
                memcpy(s->scratch, s->words + at, (size_t)W * 8);
                set_bit(s->scratch, i);
                int added = memo_add(&g->memo, s->scratch, next);
                if (added < 0) return -1;
                if (!added) continue;
                int64_t path = path_push(s, g->lo + i, parent);
                if (path < -1) return -1;
                r = advance(s, k, next, open_frame(s, k, next, pos, path, generation));
                if (r) return r;
                /* the list of answers may have moved while growing: re-read it */
                if (many) {
                    uint64_t key = (((uint64_t)(uint32_t)(g->lo + i) << 32)
                                    | (uint64_t)(uint32_t)from) + 1;
                    int64_t v;
                    answers_find(&s->answers, key, &v);
                    many = s->answers.lists + (-2 - v) + 1;
                }
            }
        } else if (f->leave >= 0) {
            /* every candidate failed: the pending op of unknown outcome never took effect */
            memcpy(s->scratch, fbits, (size_t)W * 8);
            set_bit(s->scratch, f->leave);
            f->leave = -1;
            int64_t state = f->state, path = f->path, generation = f->generation;
            int pos = f->pos;
            int added = memo_add(&g->memo, s->scratch, state);
            if (added < 0) return -1;
            if (!added) continue;
            r = advance(s, k, state, open_frame(s, k, state, pos, path, generation));
            if (r) return r;
        } else {
            s->nframes--;
            s->nwords -= 2 * (size_t)W;
            dead_end(s, k, fbits, f->state, f->path, f->generation);
        }
    }
    return 0;
}

/* ---- arguments and results ---------------------------------------------------------------- */

/* Times as order-preserving int64: ints as they are, floats by their bit pattern (so inf and a
 * mix of ints and floats still compare right). 0 ok, 1 must redo as floats, -1 error. */
static int64_t float_key(double d) {
    if (d == 0.0) d = 0.0;  /* -0.0 == 0.0 */
    int64_t bitsv;
    memcpy(&bitsv, &d, 8);
    return bitsv >= 0 ? bitsv : bitsv ^ INT64_MAX;
}

static int read_times(PyObject *list, int64_t *out, int n, int as_float) {
    for (int i = 0; i < n; i++) {
        PyObject *x = PyList_GET_ITEM(list, i);
        if (!as_float && PyLong_Check(x)) {
            int overflow;
            long long v = PyLong_AsLongLongAndOverflow(x, &overflow);
            if (overflow) return 1;
            out[i] = v;
        } else if (!as_float && PyFloat_Check(x) && isinf(PyFloat_AS_DOUBLE(x))) {
            out[i] = PyFloat_AS_DOUBLE(x) > 0 ? INT64_MAX : INT64_MIN;
        } else if (!as_float) {
            return 1;
        } else {
            double d = PyFloat_AsDouble(x);
            if (d == -1.0 && PyErr_Occurred()) return -1;
            if (isnan(d)) {
                PyErr_SetString(PyExc_ValueError, "an op's time is NaN");
                return -1;
            }
            out[i] = float_key(d);
        }
    }
    return 0;
}

static int64_t *int_list(PyObject *list, int n, const char *name) {
    if (!PyList_Check(list) || PyList_GET_SIZE(list) != n) {
        PyErr_Format(PyExc_ValueError, "%s must be a list of %d ints", name, n);
        return NULL;
    }
    int64_t *out = (int64_t *)PyMem_Malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (!out) { PyErr_NoMemory(); return NULL; }
    for (int i = 0; i < n; i++) {
        out[i] = PyLong_AsLongLong(PyList_GET_ITEM(list, i));
        if (out[i] == -1 && PyErr_Occurred()) { PyMem_Free(out); return NULL; }
    }
    return out;
}

/* Names of the step attributes encode() reads, interned once by the module. */
static PyObject *name_value, *name_expected, *name_key, *name_tail, *name_observed, *name_f;

/* The number of the state a step holds in its attribute `name`, or -1 with an exception. */
static int64_t number_of(Search *s, PyObject *step, PyObject *name) {
    PyObject *state = PyObject_GetAttr(step, name);
    if (!state) return -1;
    int64_t sid = intern(s, state);
    Py_DECREF(state);
    return sid;
}

/* Op i's APPEND operands from its AppendText step: 1 when they have the shapes APPEND handles,
 * 0 when they do not (the op stays a CALL), -1 on error. */
static int append_operands(Search *s, int i, PyObject *step) {
    if (!s->appends) {
        s->appends = (PyObject **)PyMem_Calloc((size_t)s->n * 3, sizeof(PyObject *));
        if (!s->appends) { PyErr_NoMemory(); return -1; }
    }
    PyObject **args = s->appends + 3 * (size_t)i;
    if (!(args[0] = PyObject_GetAttr(step, name_key)) || !(args[1] = PyObject_GetAttr(step, name_tail))
        || !(args[2] = PyObject_GetAttr(step, name_observed)))
        return -1;
    return PyUnicode_Check(args[1]) && PyList_Check(args[2]);
}

/* Each op's instruction and operands from its compiled step, by the step's type (see the top
 * of this file); flags gain PURE for reads. 0, or -1 with an exception. */
static int encode(Search *s, PyObject *kinds, PyObject *ops, PyObject *read_fs) {
    PyTypeObject *expect = (PyTypeObject *)PyTuple_GET_ITEM(kinds, 0);
    PyTypeObject *become = (PyTypeObject *)PyTuple_GET_ITEM(kinds, 1);
    PyTypeObject *swap = (PyTypeObject *)PyTuple_GET_ITEM(kinds, 2);
    PyTypeObject *append = (PyTypeObject *)PyTuple_GET_ITEM(kinds, 3);
    for (int i = 0; i < s->n; i++) {
        PyObject *step = PyList_GET_ITEM(s->steps, i);
        PyTypeObject *t = Py_TYPE(step);
        if (t == expect) {
            s->code[i] = OP_READ;
            s->flags[i] |= FLAG_PURE;
            if ((s->a[i] = number_of(s, step, name_value)) < 0) return -1;
        } else if (t == become) {
            s->code[i] = OP_WRITE;
            if ((s->a[i] = number_of(s, step, name_value)) < 0) return -1;
        } else if (t == swap) {
            s->code[i] = OP_SWAP;
            if ((s->a[i] = number_of(s, step, name_expected)) < 0
                || (s->b[i] = number_of(s, step, name_value)) < 0)
                return -1;
        } else {
            s->code[i] = OP_CALL;
            if (t == append) {
                int fits = append_operands(s, i, step);
                if (fits < 0) return -1;
                if (fits) { s->code[i] = OP_APPEND; continue; }
            }
            /* the model's own step: pure when the op's f only observes */
            PyObject *f = PyObject_GetAttr(PyList_GET_ITEM(ops, i), name_f);
            if (!f) return -1;
            int pure = PySequence_Contains(read_fs, f);
            Py_DECREF(f);
            if (pure < 0) return -1;
            if (pure) s->flags[i] |= FLAG_PURE;
        }
    }
    return 0;
}

static int build_segments(Search *s, int min_segment) {
    int n = s->n, cap = 8;
    s->segs = (Segment *)PyMem_Calloc((size_t)cap, sizeof(Segment));
    if (!s->segs) { PyErr_NoMemory(); return -1; }
    int lo = 0;
    int64_t horizon = INT64_MIN;
    for (int i = 0; i <= n; i++) {
        int cut = i == n ? n > 0 : (s->start[i] > horizon && i - lo >= min_segment);
        if (cut) {
            if (s->nseg == cap) {
                Segment *p = (Segment *)PyMem_Realloc(s->segs, (size_t)cap * 2 * sizeof(Segment));
                if (!p) { PyErr_NoMemory(); return -1; }
                memset(p + cap, 0, (size_t)cap * sizeof(Segment));
                s->segs = p;
                cap *= 2;
            }
            Segment *g = &s->segs[s->nseg++];
            g->lo = lo;
            g->n = i - lo;
            g->W = (g->n + 63) / 64;
            if (g->W == 0) g->W = 1;
            lo = i;
        }
        if (i < n && s->end[i] > horizon) horizon = s->end[i];
    }
    for (int k = 0; k < s->nseg; k++) {
        Segment *g = &s->segs[k];
        int m = g->n, W = g->W;
        g->by_end = (int *)PyMem_Malloc((size_t)m * sizeof(int));
        g->reach = (int *)PyMem_Malloc((size_t)m * sizeof(int));
        g->optional = (uint64_t *)PyMem_Calloc((size_t)W * 4, sizeof(uint64_t));
        if (!g->by_end || !g->reach || !g->optional) { PyErr_NoMemory(); return -1; }
        g->pure = g->optional + W;
        g->must = g->pure + W;
        g->twinned = g->must + W;
        if (memo_init(&g->memo, W) < 0) return -1;
        int nfin = 0;
        for (int j = 0; j < m; j++) {
            int i = g->lo + j;
            unsigned char fl = s->flags[i];
            if (fl & FLAG_OPTIONAL) set_bit(g->optional, j); else set_bit(g->must, j);
            if (fl & FLAG_PURE) set_bit(g->pure, j);
            if (s->twin_prev[i] >= g->lo) set_bit(g->twinned, j);
            g->reach[j] = m;
            if (s->end[i] != INT64_MAX) g->by_end[nfin++] = j;
        }
        g->nfin = nfin;
        /* stable insertion sort by end: most histories are nearly sorted already */
        for (int x = 1; x < nfin; x++) {
            int v = g->by_end[x], y = x;
            int64_t e = s->end[g->lo + v];
            while (y > 0 && s->end[g->lo + g->by_end[y - 1]] > e) {
                g->by_end[y] = g->by_end[y - 1];
                y--;
            }
            g->by_end[y] = v;
        }
        int p = 0;
        for (int x = 0; x < nfin; x++) {
            int j = g->by_end[x];
            int64_t e = s->end[g->lo + j];
            while (p < m && s->start[g->lo + p] <= e) p++;
            g->reach[j] = p;
        }
    }
    return 0;
}

static void search_free(Search *s) {
    for (int k = 0; k < s->nseg; k++) {
        PyMem_Free(s->segs[k].by_end);
        PyMem_Free(s->segs[k].reach);
        PyMem_Free(s->segs[k].optional);
        memo_free(&s->segs[k].memo);
    }
    PyMem_Free(s->segs);
    PyMem_Free(s->frames);
    PyMem_Free(s->words);
    PyMem_Free(s->path);
    PyMem_Free(s->scratch);
    PyMem_Free(s->deep_bits);
    PyMem_Free(s->code);
    PyMem_Free(s->flags);
    PyMem_Free(s->a);
    PyMem_Free(s->b);
    PyMem_Free(s->twin_prev);
    if (s->appends) {
        for (size_t k = 0; k < 3 * (size_t)s->n; k++) Py_XDECREF(s->appends[k]);
        PyMem_Free(s->appends);
    }
    PyMem_Free(s->start);
    PyMem_Free(s->end);
    answers_free(&s->answers);
}

static PyObject *result(Search *s, int verdict) {
    PyObject *path = PyList_New(0), *unplaceable = PyList_New(0);
    if (!path || !unplaceable) goto fail;
    int64_t first_due = -1;
    if (verdict == 0 && s->deep_done >= 0 && s->deep_path >= 0) {
        Py_ssize_t len = 0;
        for (int64_t p = s->deep_path; p >= 0; p = s->path[p].parent) len++;
        Py_DECREF(path);
        path = PyList_New(len);
        if (!path) goto fail;
        for (int64_t p = s->deep_path; p >= 0; p = s->path[p].parent) {
            PyObject *x = PyLong_FromLong(s->path[p].op);
            if (!x) goto fail;
            PyList_SET_ITEM(path, --len, x);
        }
    }
    if (verdict == 0) {
        Segment *g = &s->segs[s->deep_seg];
        for (int x = 0; x < g->nfin; x++) {
            int j = g->by_end[x];
            if (bit(s->deep_bits, j)) continue;
            first_due = g->lo + j;
            for (int i = 0; i < g->reach[j]; i++) {
                if (bit(s->deep_bits, i)) continue;
                PyObject *v = PyLong_FromLong(g->lo + i);
                if (!v || PyList_Append(unplaceable, v) < 0) { Py_XDECREF(v); goto fail; }
                Py_DECREF(v);
            }
            break;
        }
    }
    return Py_BuildValue("iNLNLL", verdict, path, (long long)(s->deep_done >= 0 ? s->deep_state : -1),
                         unplaceable, (long long)first_due, (long long)s->nodes);
fail:
    Py_XDECREF(path);
    Py_XDECREF(unplaceable);
    return NULL;
}

/* n int64s, zeroed, or `fill` for each when it is a list (of n ints); NULL with an exception. */
static int64_t *int_array(PyObject *fill, int n, const char *name, int64_t zero) {
    if (fill != Py_None) return int_list(fill, n, name);
    int64_t *out = (int64_t *)PyMem_Malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (!out) { PyErr_NoMemory(); return NULL; }
    for (int i = 0; i < n; i++) out[i] = zero;
    return out;
}

static PyObject *wgl_search(PyObject *self, PyObject *args) {
    PyObject *steps, *kinds, *ops, *read_fs, *optional, *twins, *starts, *ends, *states, *ids,
        *illegal, *branches, *transit, *unobservable, *deadline;
    long long init;
    int min_segment;
    double max_bytes;
    if (!PyArg_ParseTuple(args, "O!O!O!OOOOOLO!O!OOOOOid", &PyList_Type, &steps, &PyTuple_Type,
                          &kinds, &PyList_Type, &ops, &read_fs, &optional, &twins, &starts, &ends,
                          &init, &PyList_Type, &states, &PyDict_Type, &ids, &illegal, &branches,
                          &transit, &unobservable, &deadline, &min_segment, &max_bytes))
        return NULL;
    Search s;
    memset(&s, 0, sizeof s);
    s.n = (int)PyList_GET_SIZE(steps);
    int n = s.n;
    if (PyList_GET_SIZE(ops) != n || !PyList_Check(starts) || !PyList_Check(ends)
        || PyList_GET_SIZE(starts) != n || PyList_GET_SIZE(ends) != n) {
        PyErr_SetString(PyExc_ValueError, "search: arguments of different lengths");
        return NULL;
    }
    if (!PyType_Check(branches) || PyTuple_GET_SIZE(kinds) != 4) {
        PyErr_SetString(PyExc_ValueError, "search: branches must be a type, kinds four types");
        return NULL;
    }
    for (int k = 0; k < 4; k++) {
        if (!PyType_Check(PyTuple_GET_ITEM(kinds, k))) {
            PyErr_SetString(PyExc_ValueError, "search: kinds must be four types");
            return NULL;
        }
    }
    s.steps = steps;
    s.states = states;
    s.ids = ids;
    s.illegal = illegal;
    s.branches = branches;
    s.transit = transit;
    s.unobservable = unobservable;
    s.deadline = deadline == Py_None ? -1.0 : PyFloat_AsDouble(deadline);
    s.max_bytes = max_bytes;
    s.deep_done = -1;
    s.deep_path = -1;
    PyObject *out = NULL;
    if (answers_init(&s.answers) < 0) goto done;
    if (!(s.code = int_array(Py_None, n, "", OP_CALL))
        || !(s.flags = int_array(optional, n, "optional", 0))
        || !(s.a = int_array(Py_None, n, "", 0)) || !(s.b = int_array(Py_None, n, "", 0)))
        goto done;
    if (encode(&s, kinds, ops, read_fs) < 0) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) { /* a state that is not hashable */
            PyErr_Clear();
            out = Py_BuildValue("i[]i[]ii", -3, -1, -1, 0);
        }
        goto done;
    }
    int64_t *tp = int_array(twins, n, "twin_prev", -1);
    if (!tp) goto done;
    s.twin_prev = (int *)PyMem_Malloc((size_t)(n ? n : 1) * sizeof(int));
    if (!s.twin_prev) { PyMem_Free(tp); PyErr_NoMemory(); goto done; }
    for (int i = 0; i < n; i++) s.twin_prev[i] = (int)tp[i];
    PyMem_Free(tp);
    s.start = (int64_t *)PyMem_Malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    s.end = (int64_t *)PyMem_Malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (!s.start || !s.end) { PyErr_NoMemory(); goto done; }
    int redo = read_times(starts, s.start, n, 0);
    if (redo == 0) redo = read_times(ends, s.end, n, 0);
    if (redo == 1) {
        if (read_times(starts, s.start, n, 1) < 0 || read_times(ends, s.end, n, 1) < 0) goto done;
    } else if (redo < 0) {
        goto done;
    }
    if (build_segments(&s, min_segment) < 0) goto done;
    int maxW = 1;
    for (int k = 0; k < s.nseg; k++) if (s.segs[k].W > maxW) maxW = s.segs[k].W;
    s.scratch = (uint64_t *)PyMem_Calloc((size_t)maxW, sizeof(uint64_t));
    s.deep_bits = (uint64_t *)PyMem_Calloc((size_t)maxW, sizeof(uint64_t));
    if (!s.scratch || !s.deep_bits) { PyErr_NoMemory(); goto done; }
    int verdict = s.nseg == 0 ? 1 : run(&s, init);
    if (verdict == -1) goto done;
    out = result(&s, verdict == -2 ? -1 : verdict == -3 ? -2 : verdict);
done:
    search_free(&s);
    return out;
}

static PyMethodDef methods[] = {
    {"search", wgl_search, METH_VARARGS,
     "search(steps, kinds, ops, read_fs, optional, twin_prev, starts, ends, init, states, ids, "
     "illegal, branches, transit, unobservable, deadline, min_segment, max_bytes)"
     " -> (verdict, path, state, unplaceable, first_due, nodes)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wgl",
    "The native linearizability search over integer-encoded states (see kernel.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__wgl(void) {
    if (!name_value) {
        if (!(name_value = PyUnicode_InternFromString("value"))
            || !(name_expected = PyUnicode_InternFromString("expected"))
            || !(name_key = PyUnicode_InternFromString("key"))
            || !(name_tail = PyUnicode_InternFromString("tail"))
            || !(name_observed = PyUnicode_InternFromString("observed"))
            || !(name_f = PyUnicode_InternFromString("f")))
            return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddIntConstant(m, "CALL", OP_CALL) < 0 || PyModule_AddIntConstant(m, "READ", OP_READ) < 0
        || PyModule_AddIntConstant(m, "WRITE", OP_WRITE) < 0 || PyModule_AddIntConstant(m, "SWAP", OP_SWAP) < 0
        || PyModule_AddIntConstant(m, "APPEND", OP_APPEND) < 0
        || PyModule_AddIntConstant(m, "OPTIONAL", FLAG_OPTIONAL) < 0
        || PyModule_AddIntConstant(m, "PURE", FLAG_PURE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
