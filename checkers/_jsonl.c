/* The fast path of checkers/history.py's read_jsonl: history.jsonl lines straight into Events.
 *
 * Reading a history was most of what `splitbrain check` spent on a big one: orjson built a dict
 * per line, every value was walked again for integers orjson may have rounded, and then an Event
 * was built from the dict. This reader parses each line once, builds only what the Event keeps,
 * and makes equal values one object: the ints and short strings of keys and micro-ops, which a
 * history repeats millions of times, and equal lists (shared_list), which a history is read-only
 * data for (see history.py).
 *
 *     reader = Reader(new_event, ("invoke", "ok", "fail", "info"))
 *     stop, line_end, lines = reader.read(block, pos, size, events)
 *
 * `new_event` builds an Event from its ten fields (history.new_event, or the Event class).
 * `read` appends to `events` an Event for each line of block[pos:size] (block: bytes, a
 * bytearray, any buffer), and stops at the first line it leaves to Python: it returns that
 * line's offset (`stop`, `size` when it read them all), where that line ends (after its \n,
 * \r\n or \r, or `size`), and how many lines it read (blank ones included). It reads a line
 * only when it is sure to build what history.py builds from it: a JSON object on one line
 * ending in \n or \r\n, every field known (index, time, process, type, f, value, key, node,
 * error) or kept in `extra`, none repeated, index and time integers, process an integer or a
 * string, type one of the four, f and node strings, keys without escapes, numbers no json
 * module reads differently (integers up to 18 digits, plain floats), strings in valid UTF-8
 * without lone surrogates. Anything else (blank lines of other whitespace, damaged lines, NaN,
 * huge integers, a torn last line) is Python's, which then says what is wrong or reads it the
 * way the json module does. So history.py stays the definition;
 * tests/checkers/test_history_reading.py holds the two to each other on random lines.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_prefetch.h"

#define INT_SLOTS 4096 /* ints shared between lines, by value (direct-mapped) */
#define STR_SLOTS 4096 /* ASCII strings shared between lines, by content (direct-mapped) */
#define STR_SHARED_MAX 48 /* longer strings are not shared */
#define LIST_SLOTS 4096 /* lists shared between lines, by their items (direct-mapped) */
#define MAX_DEPTH 64 /* deeper values are Python's */
#define FLOAT_MAX 63 /* longer numbers are Python's */

enum { INDEX, TIME, PROCESS, TYPE, F, VALUE, KEY, NODE, ERROR, FIELDS };
static const char *const FIELD_NAMES[FIELDS] = {"index", "time", "process", "type", "f",
                                                "value", "key", "node", "error"};
static const Py_ssize_t FIELD_LENGTHS[FIELDS] = {5, 4, 7, 4, 1, 5, 3, 4, 5};
#define REQUIRED 5 /* index .. f */

typedef struct {
    PyObject_HEAD
    PyObject *event_type;
    PyObject *types[4]; /* the interned event type names */
    PyObject *ints[INT_SLOTS];
    long long int_values[INT_SLOTS];
    PyObject *strs[STR_SLOTS];
    PyObject *lists[LIST_SLOTS];
    uint64_t list_hashes[LIST_SLOTS];
    PyObject **stack; /* the items of the arrays being read */
    Py_ssize_t stack_len, stack_cap;
    char *buf; /* a string's bytes with its escapes undone */
    Py_ssize_t buf_cap;
} Reader;

typedef struct {
    Reader *r;
    const char *p;
    const char *end;
    int depth;
    int share_ints;
} Cursor;

/* NULL with no exception set: the line is Python's. */
static PyObject *fall_back(Cursor *c) {
    (void)c;
    return NULL;
}

static inline int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static inline void skip_space(Cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

/* CPython's own shared ints -5..256, looked up here without a call per element: a history's
 * reads are lists of millions of small ints. */
#define SMALL_MIN (-5)
#define SMALL_MAX 256
static PyObject *small_ints[SMALL_MAX - SMALL_MIN + 1];

static PyObject *new_int(Cursor *c, long long v) {
    if (v >= SMALL_MIN && v <= SMALL_MAX)
        return Py_NewRef(small_ints[v - SMALL_MIN]);
    if (!c->share_ints)
        return PyLong_FromLongLong(v);
    Reader *r = c->r;
    size_t slot = (size_t)(((uint64_t)v * 0x9E3779B97F4A7C15ull) >> 52) & (INT_SLOTS - 1);
    PyObject *hit = r->ints[slot];
    if (hit != NULL && r->int_values[slot] == v) {
        Py_INCREF(hit);
        return hit;
    }
    PyObject *made = PyLong_FromLongLong(v);
    if (made == NULL)
        return NULL;
    Py_XSETREF(r->ints[slot], Py_NewRef(made));
    r->int_values[slot] = v;
    return made;
}

static size_t str_slot(const char *s, Py_ssize_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return (size_t)(h ^ (h >> 16)) & (STR_SLOTS - 1);
}

/* The str of n ASCII bytes, shared with earlier lines' equal ones when short; `intern`: the
 * interned one (op names, which compiled code compares by identity first). */
static PyObject *ascii_str(Cursor *c, const char *s, Py_ssize_t n, int intern) {
    Reader *r = c->r;
    size_t slot = 0;
    if (n <= STR_SHARED_MAX) {
        slot = str_slot(s, n);
        PyObject *hit = r->strs[slot];
        if (hit != NULL && PyUnicode_GET_LENGTH(hit) == n &&
            memcmp(PyUnicode_1BYTE_DATA(hit), s, (size_t)n) == 0 &&
            (!intern || PyUnicode_CHECK_INTERNED(hit))) {
            Py_INCREF(hit);
            return hit;
        }
    }
    PyObject *made = PyUnicode_New(n, 127);
    if (made == NULL)
        return NULL;
    memcpy(PyUnicode_1BYTE_DATA(made), s, (size_t)n);
    if (intern)
        PyUnicode_InternInPlace(&made);
    if (n <= STR_SHARED_MAX)
        Py_XSETREF(r->strs[slot], Py_NewRef(made));
    return made;
}

static int reserve_buf(Reader *r, Py_ssize_t n) {
    if (n <= r->buf_cap)
        return 0;
    Py_ssize_t cap = r->buf_cap ? r->buf_cap : 256;
    while (cap < n)
        cap *= 2;
    char *grown = PyMem_Realloc(r->buf, (size_t)cap);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    r->buf = grown;
    r->buf_cap = cap;
    return 0;
}

static int hex4(const char *s, const char *end, unsigned *out) {
    if (end - s < 4)
        return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char h = s[i];
        unsigned d;
        if (h >= '0' && h <= '9')
            d = (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f')
            d = (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F')
            d = (unsigned)(h - 'A' + 10);
        else
            return 0;
        v = v * 16 + d;
    }
    *out = v;
    return 1;
}

/* A string with escapes or non-ASCII bytes, from just after its opening quote: its bytes with
 * the escapes undone, decoded as strict UTF-8 (an encoded lone surrogate fails there too). */
static PyObject *escaped_str(Cursor *c, const char *s) {
    Reader *r = c->r;
    Py_ssize_t n = 0;
    const char *p = s;
    while (1) {
        if (p >= c->end)
            return fall_back(c);
        unsigned char ch = (unsigned char)*p;
        if (ch == '"')
            break;
        if (ch < 0x20)
            return fall_back(c); /* the json module refuses control characters */
        if (reserve_buf(r, n + 4) < 0)
            return NULL;
        if (ch != '\\') {
            r->buf[n++] = (char)ch;
            p++;
            continue;
        }
        if (++p >= c->end)
            return fall_back(c);
        char e = *p++;
        unsigned cp;
        switch (e) {
        case '"': case '\\': case '/': r->buf[n++] = e; continue;
        case 'b': r->buf[n++] = '\b'; continue;
        case 'f': r->buf[n++] = '\f'; continue;
        case 'n': r->buf[n++] = '\n'; continue;
        case 'r': r->buf[n++] = '\r'; continue;
        case 't': r->buf[n++] = '\t'; continue;
        case 'u':
            if (!hex4(p, c->end, &cp))
                return fall_back(c);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && c->end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                unsigned low;
                if (hex4(p + 2, c->end, &low) && low >= 0xDC00 && low <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    p += 6;
                }
            }
            break;
        default:
            return fall_back(c);
        }
        /* UTF-8; a lone surrogate gets its 3-byte form, which the strict decoder refuses */
        if (cp < 0x80) {
            r->buf[n++] = (char)cp;
        } else if (cp < 0x800) {
            r->buf[n++] = (char)(0xC0 | (cp >> 6));
            r->buf[n++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            r->buf[n++] = (char)(0xE0 | (cp >> 12));
            r->buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            r->buf[n++] = (char)(0x80 | (cp & 0x3F));
        } else {
            r->buf[n++] = (char)(0xF0 | (cp >> 18));
            r->buf[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            r->buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            r->buf[n++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    PyObject *text = PyUnicode_DecodeUTF8(r->buf, n, NULL);
    if (text == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
            return NULL;
        PyErr_Clear(); /* invalid UTF-8: the json path reads it with errors="replace" */
        return fall_back(c);
    }
    c->p = p + 1;
    return text;
}

/* The string whose opening quote is at c->p. */
static PyObject *parse_str(Cursor *c, int intern) {
    const char *s = ++c->p, *p = s;
    while (p < c->end) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"') {
            c->p = p + 1;
            return ascii_str(c, s, p - s, intern);
        }
        if (ch == '\\' || ch < 0x20 || ch >= 0x80)
            break;
        p++;
    }
    if (intern)
        return fall_back(c); /* op names are plain ASCII; others are Python's */
    return escaped_str(c, s);
}

static PyObject *parse_number(Cursor *c) {
    const char *s = c->p, *p = s;
    int negative = 0, is_float = 0;
    if (*p == '-') {
        negative = 1;
        p++;
    }
    if (p >= c->end || !is_digit(*p))
        return fall_back(c); /* -Infinity and the like */
    long long v = 0; /* the value as it is read, up to 18 digits (beyond: Python's) */
    if (*p == '0') {
        p++;
    } else {
        const char *stop = c->end - p > 18 ? p + 18 : c->end;
        while (p < stop && is_digit(*p))
            v = v * 10 + (*p++ - '0');
        if (p < c->end && is_digit(*p))
            return fall_back(c); /* orjson may round it; Python reads it exactly */
    }
    if (p < c->end && *p == '.') {
        if (++p >= c->end || !is_digit(*p))
            return fall_back(c);
        while (p < c->end && is_digit(*p))
            p++;
        is_float = 1;
    }
    if (p < c->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < c->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= c->end || !is_digit(*p))
            return fall_back(c);
        while (p < c->end && is_digit(*p))
            p++;
        is_float = 1;
    }
    c->p = p;
    if (!is_float)
        return new_int(c, negative ? -v : v);
    if (p - s > FLOAT_MAX)
        return fall_back(c);
    char text[FLOAT_MAX + 1];
    memcpy(text, s, (size_t)(p - s));
    text[p - s] = '\0';
    char *stop;
    /* float(text), as the json module reads it: the same correctly rounded conversion */
    double d = PyOS_string_to_double(text, &stop, NULL);
    if (d == -1.0 && PyErr_Occurred())
        return NULL;
    if (stop != text + (p - s))
        return fall_back(c);
    return PyFloat_FromDouble(d);
}

static PyObject *parse_value(Cursor *c);

static inline int push(Reader *r, PyObject *item) {
    if (r->stack_len == r->stack_cap) {
        Py_ssize_t cap = r->stack_cap ? r->stack_cap * 2 : 256;
        PyObject **grown = PyMem_Realloc(r->stack, (size_t)cap * sizeof(PyObject *));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        r->stack = grown;
        r->stack_cap = cap;
    }
    r->stack[r->stack_len++] = item;
    return 0;
}

static void drop_stack(Reader *r, Py_ssize_t base) {
    while (r->stack_len > base)
        Py_DECREF(r->stack[--r->stack_len]);
}

/* The list of the items on the stack from `base` on (the stack gives them up): a list read
 * earlier whose items are the very same objects when the cache has one, else a new one, of
 * exactly its items (as small as the json module's lists, which grow by appends). Equal
 * strings and ints are one object (ascii_str, new_int), so the micro-ops an invocation and its
 * completion both hold, and the lists successive reads of a key return, are made once. */
static PyObject *shared_list(Reader *r, Py_ssize_t base) {
    Py_ssize_t n = r->stack_len - base;
    PyObject **items = r->stack + base;
    /* the slot of a length and three of the items (the first, middle and last, which tell a
     * key's successive reads, and micro-ops, apart), not all: memcmp then says if it is equal */
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ull;
    if (n) {
        h = (h ^ (uint64_t)(uintptr_t)items[0]) * 0x100000001B3ull;
        h = (h ^ (uint64_t)(uintptr_t)items[n / 2]) * 0x100000001B3ull;
        h = (h ^ (uint64_t)(uintptr_t)items[n - 1]) * 0x100000001B3ull;
    }
    size_t slot = (size_t)(h >> 40) & (LIST_SLOTS - 1);
    PyObject *hit = r->lists[slot];
    if (hit != NULL) /* visited below either way: compared, or let go when replaced */
        prefetch(hit);
    /* the hash kept beside the list: the list itself is far away in memory, worth a visit
     * only when it is likely the one */
    if (hit != NULL && r->list_hashes[slot] == h && PyList_GET_SIZE(hit) == n &&
        memcmp(((PyListObject *)hit)->ob_item, items, (size_t)n * sizeof(PyObject *)) == 0) {
        drop_stack(r, base);
        return Py_NewRef(hit);
    }
    PyObject *list = PyList_New(n);
    if (list == NULL) {
        drop_stack(r, base);
        return NULL;
    }
    memcpy(((PyListObject *)list)->ob_item, items, (size_t)n * sizeof(PyObject *));
    r->stack_len = base; /* the list owns them now */
    Py_XSETREF(r->lists[slot], Py_NewRef(list));
    r->list_hashes[slot] = h;
    return list;
}

static PyObject *parse_array(Cursor *c) {
    Reader *r = c->r;
    Py_ssize_t base = r->stack_len;
    c->p++;
    skip_space(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        return shared_list(r, base);
    }
    while (1) {
        PyObject *item = parse_value(c);
        if (item == NULL || push(r, item) < 0) {
            Py_XDECREF(item);
            drop_stack(r, base);
            return NULL;
        }
        skip_space(c);
        if (c->p >= c->end) {
            drop_stack(r, base);
            return fall_back(c);
        }
        char ch = *c->p++;
        if (ch == ']')
            break;
        if (ch != ',') {
            drop_stack(r, base);
            return fall_back(c);
        }
    }
    return shared_list(r, base);
}

/* The key of an object member at c->p (a string), then the colon after it. */
static PyObject *parse_key(Cursor *c) {
    skip_space(c);
    if (c->p >= c->end || *c->p != '"')
        return fall_back(c);
    PyObject *key = parse_str(c, 0);
    if (key == NULL)
        return NULL;
    skip_space(c);
    if (c->p >= c->end || *c->p != ':') {
        Py_DECREF(key);
        return fall_back(c);
    }
    c->p++;
    return key;
}

/* After a member: 1 at the closing brace, 0 after a comma, -1 otherwise (fallback). */
static int member_end(Cursor *c) {
    skip_space(c);
    if (c->p >= c->end)
        return -1;
    char ch = *c->p++;
    return ch == '}' ? 1 : ch == ',' ? 0 : -1;
}

static PyObject *parse_object(Cursor *c) {
    PyObject *dict = PyDict_New();
    if (dict == NULL)
        return NULL;
    c->p++;
    skip_space(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return dict;
    }
    while (1) {
        PyObject *key = parse_key(c);
        PyObject *value = key ? parse_value(c) : NULL;
        /* a repeated key: the last value, where the first stood, as the json module has it */
        int failed = value == NULL || PyDict_SetItem(dict, key, value) < 0;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (failed) {
            Py_DECREF(dict);
            return NULL;
        }
        int end = member_end(c);
        if (end < 0) {
            Py_DECREF(dict);
            return fall_back(c);
        }
        if (end)
            return dict;
    }
}

static int literal(Cursor *c, const char *word, Py_ssize_t n) {
    if (c->end - c->p < n || memcmp(c->p, word, (size_t)n) != 0)
        return 0;
    c->p += n;
    return 1;
}

static PyObject *parse_value(Cursor *c) {
    skip_space(c);
    if (c->p >= c->end)
        return fall_back(c);
    char ch = *c->p;
    if (ch == '"')
        return parse_str(c, 0);
    if (ch == '-' || is_digit(ch))
        return parse_number(c);
    if (ch == '[' || ch == '{') {
        if (c->depth >= MAX_DEPTH)
            return fall_back(c);
        c->depth++;
        PyObject *v = ch == '[' ? parse_array(c) : parse_object(c);
        c->depth--;
        return v;
    }
    if (ch == 'n' && literal(c, "null", 4))
        return Py_NewRef(Py_None);
    if (ch == 't' && literal(c, "true", 4))
        return Py_NewRef(Py_True);
    if (ch == 'f' && literal(c, "false", 5))
        return Py_NewRef(Py_False);
    return fall_back(c); /* NaN, Infinity, damage */
}

/* Which known field a plain ASCII key names, FIELDS for another one. */
static int field_of(const char *s, Py_ssize_t n) {
    for (int i = 0; i < FIELDS; i++)
        if (FIELD_LENGTHS[i] == n && memcmp(FIELD_NAMES[i], s, (size_t)n) == 0)
            return i;
    return FIELDS;
}

/* The event of the line at c->p appended to `events`, c->p then after the line's end: 1 when
 * read, 0 when the line is Python's (c->p is then anywhere), -1 on an error. */
static int read_event(Cursor *c, PyObject *events) {
    Reader *r = c->r;
    PyObject *f[FIELDS] = {NULL};
    PyObject *extra = NULL;
    int result = -1;
    c->depth = 0;
    if (c->p >= c->end || *c->p != '{')
        return 0;
    c->p++;
    while (1) {
        skip_space(c);
        if (c->p >= c->end || *c->p != '"')
            goto fallback;
        const char *s = c->p + 1, *q = s;
        while (q < c->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20 &&
               (unsigned char)*q < 0x80)
            q++;
        if (q >= c->end || *q != '"')
            goto fallback; /* escapes (which may spell a known name) or non-ASCII: Python's */
        int which = field_of(s, q - s);
        if (which < FIELDS) {
            if (f[which] != NULL)
                goto fallback; /* a repeated field */
            c->p = q + 1;
            skip_space(c);
            if (c->p >= c->end || *c->p != ':')
                goto fallback;
            c->p++;
            c->share_ints = which != INDEX && which != TIME; /* those never repeat */
            if (which == F) { /* op names are interned, as history.py interns them */
                skip_space(c);
                f[which] = c->p < c->end && *c->p == '"' ? parse_str(c, 1) : fall_back(c);
            } else {
                f[which] = parse_value(c);
            }
            c->share_ints = 1;
            if (f[which] == NULL)
                goto fallback;
        } else {
            PyObject *key = parse_key(c);
            PyObject *value = key ? parse_value(c) : NULL;
            if (value != NULL && extra == NULL)
                extra = PyDict_New();
            int failed = value == NULL || extra == NULL || PyDict_SetItem(extra, key, value) < 0;
            Py_XDECREF(key);
            Py_XDECREF(value);
            if (failed)
                goto fallback;
        }
        int end = member_end(c);
        if (end < 0)
            goto fallback;
        if (end)
            break;
    }
    skip_space(c);
    if (c->p < c->end && *c->p == '\r')
        c->p++;
    if (c->p >= c->end || *c->p != '\n')
        goto fallback; /* no line end (a torn last line) or a lone CR: Python's */
    c->p++;
    for (int i = 0; i < REQUIRED; i++)
        if (f[i] == NULL)
            goto fallback; /* Event.from_dict names the missing field */
    if (!PyLong_CheckExact(f[INDEX]) || !PyLong_CheckExact(f[TIME]) ||
        !(PyLong_CheckExact(f[PROCESS]) || PyUnicode_CheckExact(f[PROCESS])) ||
        !PyUnicode_CheckExact(f[TYPE]) ||
        (f[NODE] != NULL && f[NODE] != Py_None && !PyUnicode_CheckExact(f[NODE])))
        goto fallback;
    int type = 0;
    while (type < 4 && PyUnicode_Compare(f[TYPE], r->types[type]) != 0)
        type++;
    if (type == 4)
        goto fallback; /* Event.from_dict says which types there are */
    Py_SETREF(f[TYPE], Py_NewRef(r->types[type]));
    if (extra == NULL && (extra = PyDict_New()) == NULL)
        goto error;
    PyObject *args[FIELDS + 1];
    for (int i = 0; i < FIELDS; i++)
        args[i] = f[i] != NULL ? f[i] : Py_None;
    args[FIELDS] = extra;
    PyObject *event = PyObject_Vectorcall(r->event_type, args, FIELDS + 1, NULL);
    if (event == NULL)
        goto error;
    result = PyList_Append(events, event) < 0 ? -1 : 1;
    Py_DECREF(event);
    goto done;
fallback:
    result = PyErr_Occurred() ? -1 : 0;
    goto done;
error:
    result = -1;
done:
    for (int i = 0; i < FIELDS; i++)
        Py_XDECREF(f[i]);
    Py_XDECREF(extra);
    return result;
}

/* Offset just after the line that starts at `at`: after its \n, \r\n or lone \r, or `size`. */
static Py_ssize_t line_end(const char *data, Py_ssize_t at, Py_ssize_t size) {
    for (Py_ssize_t i = at; i < size; i++) {
        if (data[i] == '\n')
            return i + 1;
        if (data[i] == '\r')
            return i + 1 < size && data[i + 1] == '\n' ? i + 2 : i + 1;
    }
    return size;
}

/* The lines of data[pos:size] into `events`, up to the first one left to Python: see the
 * module comment. */
static PyObject *read_lines(Reader *r, const char *data, Py_ssize_t pos, Py_ssize_t size,
                            PyObject *events) {
    Py_ssize_t lines = 0;
    /* No line end is looked for ahead: nothing the parser takes (spaces, tabs, tokens,
     * strings without control characters) holds one, so it stops at the line's end. */
    Cursor c = {r, NULL, data + size, 0, 1};
    while (pos < size) {
        c.p = data + pos;
        skip_space(&c);
        if (c.p < c.end && *c.p == '\n') { /* blank: spaces and tabs only */
            pos = c.p + 1 - data;
            lines++;
            continue;
        }
        if (c.end - c.p >= 2 && c.p[0] == '\r' && c.p[1] == '\n') {
            pos = c.p + 2 - data;
            lines++;
            continue;
        }
        int done = read_event(&c, events);
        if (done < 0) {
            drop_stack(r, 0);
            return NULL;
        }
        if (done == 0) {
            drop_stack(r, 0);
            return Py_BuildValue("nnn", pos, line_end(data, pos, size), lines);
        }
        pos = c.p - data;
        lines++;
    }
    return Py_BuildValue("nnn", pos, pos, lines);
}

static PyObject *reader_read(Reader *r, PyObject *args) {
    Py_buffer view;
    PyObject *events, *result = NULL;
    Py_ssize_t pos, size;
    if (!PyArg_ParseTuple(args, "y*nnO!", &view, &pos, &size, &PyList_Type, &events))
        return NULL;
    if (pos < 0 || pos > size || size > view.len) {
        PyErr_SetString(PyExc_ValueError, "pos and size outside the block");
        PyBuffer_Release(&view);
        return NULL;
    }
    result = read_lines(r, view.buf, pos, size, events);
    PyBuffer_Release(&view);
    return result;
}

static int reader_init(Reader *r, PyObject *args, PyObject *kwds) {
    PyObject *event_type, *types;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "Reader takes no keyword arguments");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "OO!", &event_type, &PyTuple_Type, &types))
        return -1;
    if (PyTuple_GET_SIZE(types) != 4) {
        PyErr_SetString(PyExc_ValueError, "Reader takes the four event types");
        return -1;
    }
    Py_XSETREF(r->event_type, Py_NewRef(event_type));
    for (int i = 0; i < 4; i++) {
        PyObject *t = PyTuple_GET_ITEM(types, i);
        if (!PyUnicode_CheckExact(t)) {
            PyErr_SetString(PyExc_TypeError, "event types are str");
            return -1;
        }
        Py_XSETREF(r->types[i], Py_NewRef(t));
    }
    return 0;
}

static void reader_dealloc(Reader *r) {
    Py_XDECREF(r->event_type);
    for (int i = 0; i < 4; i++)
        Py_XDECREF(r->types[i]);
    for (int i = 0; i < INT_SLOTS; i++)
        Py_XDECREF(r->ints[i]);
    for (int i = 0; i < STR_SLOTS; i++)
        Py_XDECREF(r->strs[i]);
    for (int i = 0; i < LIST_SLOTS; i++)
        Py_XDECREF(r->lists[i]);
    drop_stack(r, 0);
    PyMem_Free(r->stack);
    PyMem_Free(r->buf);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyMethodDef reader_methods[] = {
    {"read", (PyCFunction)reader_read, METH_VARARGS,
     "read(block, pos, size, events) -> (stop, line_end, lines): Events of the lines of "
     "block[pos:size], up to the first line left to Python."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "checkers._jsonl.Reader",
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Reader(Event, event_types): history.jsonl lines into Events (see the module).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)reader_init,
    .tp_dealloc = (destructor)reader_dealloc,
    .tp_methods = reader_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jsonl", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__jsonl(void) {
    if (PyType_Ready(&ReaderType) < 0)
        return NULL;
    for (long v = SMALL_MIN; v <= SMALL_MAX; v++)
        if ((small_ints[v - SMALL_MIN] = PyLong_FromLong(v)) == NULL)
            return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Reader", (PyObject *)&ReaderType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
