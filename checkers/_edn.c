/* The fast path of checkers/edn.py: read_forms(text) for text that is well-formed EDN.
 *
 * Jepsen histories are mostly small op maps, one per line, and reading them was most of the time
 * `splitbrain check` spent on a batch of small files. This reader builds the same plain Python
 * data as edn.py's (keywords and symbols as their names, vectors and lists as lists, maps as
 * dicts with vector keys as tuples, sets as sorted lists, tagged elements as the element) in one
 * pass over the characters, without a regular expression per token.
 *
 * It answers None whenever it is not sure: malformed text (edn.py then raises the error with its
 * message and position), and anything outside ASCII outside strings (edn.py's regular
 * expressions know Unicode whitespace and digits). So edn.py stays the definition; this file only
 * has to agree with it on what it accepts, which tests/checkers/test_edn.py checks on random EDN.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t len;
    Py_ssize_t pos;
    PyObject *atoms; /* atom text -> value, shared within one call */
} Reader;

#define CH(r, i) PyUnicode_READ((r)->kind, (r)->data, (i))
#define FALLBACK 1 /* not an error: edn.py decides */

/* Python's str.isspace() within ASCII, plus the comma EDN counts as whitespace. */
static int is_space(Py_UCS4 c) {
    return c == ' ' || c == ',' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
}

static int is_delimiter(Py_UCS4 c) {
    return is_space(c) || c == '[' || c == ']' || c == '(' || c == ')' || c == '{' || c == '}' ||
           c == '"' || c == '\\' || c == ';';
}

static int is_digit(Py_UCS4 c) { return c >= '0' && c <= '9'; }

static int is_hex(Py_UCS4 c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_alpha(Py_UCS4 c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Skip whitespace, commas and ; comments. Returns FALLBACK on a non-ASCII character. */
static int skip(Reader *r) {
    while (r->pos < r->len) {
        Py_UCS4 c = CH(r, r->pos);
        if (c >= 128)
            return FALLBACK;
        if (is_space(c)) {
            r->pos++;
        } else if (c == ';') {
            while (r->pos < r->len && CH(r, r->pos) != '\n')
                r->pos++;
        } else {
            break;
        }
    }
    return 0;
}

/* An atom's end: the first delimiter after start (non-ASCII: -1). */
static Py_ssize_t atom_end(Reader *r, Py_ssize_t start) {
    Py_ssize_t i = start;
    while (i < r->len) {
        Py_UCS4 c = CH(r, i);
        if (c >= 128)
            return -1;
        if (is_delimiter(c))
            break;
        i++;
    }
    return i;
}

/* The ASCII characters [start, end) into buf (NUL-terminated), leaving out what skip says. */
static char *ascii(Reader *r, Py_ssize_t start, Py_ssize_t end, char *buf, size_t size) {
    Py_ssize_t n = end - start;
    if (n < 0 || (size_t)n + 1 > size) {
        buf = PyMem_Malloc((size_t)n + 1);
        if (buf == NULL)
            return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        buf[i] = (char)CH(r, start + i);
    buf[n] = '\0';
    return buf;
}

/* edn.py's _INTEGER, _FLOAT and _RATIO, on the ASCII text s of length n. */
static int match_integer(const char *s, Py_ssize_t n) {
    Py_ssize_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0, digits = 0;
    while (i < n && is_digit((Py_UCS4)s[i])) {
        i++;
        digits++;
    }
    if (digits == 0)
        return 0;
    if (i < n && s[i] == 'N')
        i++;
    return i == n;
}

static int match_float(const char *s, Py_ssize_t n) {
    Py_ssize_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0, digits = 0;
    while (i < n && is_digit((Py_UCS4)s[i])) {
        i++;
        digits++;
    }
    if (digits == 0)
        return 0;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit((Py_UCS4)s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        Py_ssize_t j = i + 1, exp_digits = 0;
        if (j < n && (s[j] == '+' || s[j] == '-'))
            j++;
        while (j < n && is_digit((Py_UCS4)s[j])) {
            j++;
            exp_digits++;
        }
        if (exp_digits) /* otherwise the e is not part of the match */
            i = j;
    }
    if (i < n && s[i] == 'M')
        i++;
    return i == n;
}

/* The value of an atom that starts with a digit or a sign and a digit; NULL with no error set
 * means FALLBACK. */
static PyObject *number(char *s, Py_ssize_t n) {
    if (match_integer(s, n)) {
        if (s[n - 1] == 'N')
            s[n - 1] = '\0';
        return PyLong_FromString(s, NULL, 10);
    }
    if (match_float(s, n)) {
        if (s[n - 1] == 'M')
            s[n - 1] = '\0';
        double d = PyOS_string_to_double(s, NULL, NULL);
        if (d == -1.0 && PyErr_Occurred())
            return NULL;
        return PyFloat_FromDouble(d);
    }
    char *slash = strchr(s, '/');
    if (slash != NULL && slash != s) {
        *slash = '\0';
        Py_ssize_t left = slash - s, right = n - left - 1;
        if (right > 0 && match_integer(s, left) && s[left - 1] != 'N') {
            for (Py_ssize_t i = 0; i < right; i++)
                if (!is_digit((Py_UCS4)slash[1 + i]))
                    return NULL;
            PyObject *a = PyLong_FromString(s, NULL, 10);
            PyObject *b = a ? PyLong_FromString(slash + 1, NULL, 10) : NULL;
            PyObject *q = NULL;
            if (b != NULL && PyObject_IsTrue(b) == 1) /* a zero denominator: edn.py says so */
                q = PyNumber_TrueDivide(a, b);
            Py_XDECREF(a);
            Py_XDECREF(b);
            return q;
        }
    }
    return NULL;
}

/* The value of the atom [start, end); NULL with no error set means FALLBACK. */
static PyObject *atom_value(Reader *r, PyObject *source, Py_ssize_t start, Py_ssize_t end) {
    PyObject *text = PyUnicode_Substring(source, start, end);
    if (text == NULL)
        return NULL;
    PyObject *cached = PyDict_GetItemWithError(r->atoms, text);
    if (cached != NULL) {
        Py_DECREF(text);
        Py_INCREF(cached);
        return cached;
    }
    if (PyErr_Occurred()) {
        Py_DECREF(text);
        return NULL;
    }
    Py_ssize_t n = end - start;
    Py_UCS4 first = CH(r, start);
    PyObject *value = NULL;
    if (first == ':') {
        if (n == 1 || (n == 2 && CH(r, start + 1) == ':')) {
            Py_DECREF(text);
            return NULL; /* a keyword with no name */
        }
        value = PyUnicode_Substring(source, start + 1, end);
    } else if (is_digit(first) || ((first == '+' || first == '-') && n > 1 &&
                                   is_digit(CH(r, start + 1)))) {
        char small[64];
        char *s = ascii(r, start, end, small, sizeof small);
        if (s == NULL) {
            Py_DECREF(text);
            return PyErr_NoMemory();
        }
        value = number(s, n);
        if (s != small)
            PyMem_Free(s);
    } else if (n == 3 && first == 'n' && CH(r, start + 1) == 'i' && CH(r, start + 2) == 'l') {
        value = Py_NewRef(Py_None);
    } else if (n == 4 && first == 't' && CH(r, start + 1) == 'r' && CH(r, start + 2) == 'u' &&
               CH(r, start + 3) == 'e') {
        value = Py_NewRef(Py_True);
    } else if (n == 5 && first == 'f' && CH(r, start + 1) == 'a' && CH(r, start + 2) == 'l' &&
               CH(r, start + 3) == 's' && CH(r, start + 4) == 'e') {
        value = Py_NewRef(Py_False);
    } else {
        value = Py_NewRef(text); /* a symbol: its name */
    }
    if (value != NULL && PyDict_SetItem(r->atoms, text, value) < 0)
        Py_CLEAR(value);
    Py_DECREF(text);
    return value;
}

/* The string whose opening quote is at r->pos; NULL with no error set means FALLBACK. */
static PyObject *string(Reader *r, PyObject *source) {
    Py_ssize_t start = r->pos + 1, i = start;
    int escaped = 0;
    while (i < r->len) {
        Py_UCS4 c = CH(r, i);
        if (c == '"')
            break;
        if (c == '\\') {
            escaped = 1;
            i++;
        }
        i++;
    }
    if (i >= r->len)
        return NULL; /* unterminated */
    r->pos = i + 1;
    if (!escaped)
        return PyUnicode_Substring(source, start, i);
    Py_UCS4 *out = PyMem_Malloc(sizeof(Py_UCS4) * (size_t)(i - start + 1));
    if (out == NULL)
        return PyErr_NoMemory();
    Py_ssize_t n = 0;
    for (Py_ssize_t j = start; j < i; j++) {
        Py_UCS4 c = CH(r, j);
        if (c == '\\') {
            Py_UCS4 e = CH(r, ++j);
            switch (e) {
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'n': c = '\n'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u':
                c = 'u'; /* unless four hex digits follow, inside the string */
                if (j + 4 < i && is_hex(CH(r, j + 1)) && is_hex(CH(r, j + 2)) &&
                    is_hex(CH(r, j + 3)) && is_hex(CH(r, j + 4))) {
                    c = 0;
                    for (int k = 1; k <= 4; k++) {
                        Py_UCS4 h = CH(r, j + k);
                        c = c * 16 + (is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
                    }
                    j += 4;
                }
                break;
            default: c = e; break; /* \\, \" and any other escaped character: itself */
            }
        }
        out[n++] = c;
    }
    PyObject *text = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out, n);
    PyMem_Free(out);
    return text;
}

/* A character after a backslash at r->pos, as edn.py's _CHARS and \uXXXX; NULL: FALLBACK. */
static const struct { const char *name; Py_UCS4 c; } CHAR_NAMES[] = {
    {"newline", '\n'}, {"return", '\r'}, {"space", ' '}, {"tab", '\t'},
    {"formfeed", '\f'}, {"backspace", '\b'},
};

static PyObject *character(Reader *r) {
    Py_ssize_t at = r->pos + 1;
    if (at >= r->len)
        return NULL;
    for (size_t k = 0; k < sizeof CHAR_NAMES / sizeof CHAR_NAMES[0]; k++) {
        Py_ssize_t n = (Py_ssize_t)strlen(CHAR_NAMES[k].name), i = 0;
        while (i < n && at + i < r->len && CH(r, at + i) == (Py_UCS4)CHAR_NAMES[k].name[i])
            i++;
        if (i == n) {
            r->pos = at + n;
            return PyUnicode_FromOrdinal((int)CHAR_NAMES[k].c);
        }
    }
    if (CH(r, at) == 'u' && at + 4 < r->len && is_hex(CH(r, at + 1)) && is_hex(CH(r, at + 2)) &&
        is_hex(CH(r, at + 3)) && is_hex(CH(r, at + 4))) {
        Py_UCS4 c = 0;
        for (int k = 1; k <= 4; k++) {
            Py_UCS4 h = CH(r, at + k);
            c = c * 16 + (is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        r->pos = at + 5;
        return PyUnicode_FromOrdinal((int)c);
    }
    r->pos = at + 1;
    return PyUnicode_FromOrdinal((int)CH(r, at));
}

/* -- collections ------------------------------------------------------------------------------ */

#define DISCARD 'D'
#define TAG 'T'

typedef struct {
    Py_UCS4 opener; /* '[', '(', '{', or 's' for #{ ; 0 for the top level */
    PyObject *items;
    Py_ssize_t pos;
    char *prefixes; /* pending DISCARD / TAG marks for the next value in this frame */
    Py_ssize_t nprefix, cap;
} Frame;

static int push_prefix(Frame *f, char mark) {
    if (f->nprefix == f->cap) {
        Py_ssize_t cap = f->cap ? 2 * f->cap : 8;
        char *p = PyMem_Realloc(f->prefixes, (size_t)cap);
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        f->prefixes = p;
        f->cap = cap;
    }
    f->prefixes[f->nprefix++] = mark;
    return 0;
}

/* A vector or a dict used as a map key, made hashable as edn.py's _hashable does. */
static PyObject *hashable(PyObject *key) {
    if (PyList_CheckExact(key)) {
        Py_ssize_t n = PyList_GET_SIZE(key);
        PyObject *t = PyTuple_New(n);
        if (t == NULL)
            return NULL;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *h = hashable(PyList_GET_ITEM(key, i));
            if (h == NULL) {
                Py_DECREF(t);
                return NULL;
            }
            PyTuple_SET_ITEM(t, i, h);
        }
        return t;
    }
    if (PyDict_CheckExact(key))
        return NULL; /* rare: edn.py builds its sorted pairs */
    return Py_NewRef(key);
}

/* The value of a closed collection; NULL with no error set means FALLBACK. */
static PyObject *collection(Frame *f) {
    if (f->opener == '[' || f->opener == '(')
        return Py_NewRef(f->items);
    Py_ssize_t n = PyList_GET_SIZE(f->items);
    if (f->opener == 's') {
        PyObject *sorted = PyList_GetSlice(f->items, 0, n);
        if (sorted == NULL)
            return NULL;
        if (PyList_Sort(sorted) < 0) { /* unorderable members: edn.py sorts them by repr */
            Py_DECREF(sorted);
            if (PyErr_ExceptionMatches(PyExc_TypeError))
                PyErr_Clear();
            return NULL;
        }
        return sorted;
    }
    if (n % 2)
        return NULL;
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i += 2) {
        PyObject *k = hashable(PyList_GET_ITEM(f->items, i));
        if (k == NULL || PyDict_SetItem(d, k, PyList_GET_ITEM(f->items, i + 1)) < 0) {
            Py_XDECREF(k);
            Py_DECREF(d);
            if (PyErr_Occurred() && PyErr_ExceptionMatches(PyExc_TypeError))
                PyErr_Clear(); /* an unhashable key: edn.py says so */
            return NULL;
        }
        Py_DECREF(k);
    }
    return d;
}

static Py_UCS4 closer_of(Py_UCS4 opener) {
    return opener == '[' ? ']' : opener == '(' ? ')' : '}';
}

/* -- the reader ------------------------------------------------------------------------------- */

/* All top-level forms of source as [(value, offset)], or NULL: with an error set for a Python
 * exception (out of memory), without one for FALLBACK. */
static PyObject *read_all(PyObject *source) {
    Reader r;
    r.kind = PyUnicode_KIND(source);
    r.data = PyUnicode_DATA(source);
    r.len = PyUnicode_GET_LENGTH(source);
    r.pos = 0;
    r.atoms = PyDict_New();
    PyObject *forms = PyList_New(0);
    Py_ssize_t depth = 0, cap = 16;
    Frame *stack = PyMem_Calloc((size_t)cap, sizeof(Frame));
    PyObject *result = NULL;
    Py_ssize_t form_start = -1;
    if (r.atoms == NULL || forms == NULL || stack == NULL) {
        if (stack == NULL)
            PyErr_NoMemory();
        goto done;
    }
    stack[0].items = Py_NewRef(forms);
    for (;;) {
        if (skip(&r) == FALLBACK)
            goto done;
        if (r.pos >= r.len)
            break;
        Frame *f = &stack[depth];
        Py_ssize_t token_at = r.pos;
        if (depth == 0 && form_start < 0)
            form_start = token_at;
        Py_UCS4 c = CH(&r, r.pos);
        PyObject *value = NULL;
        if (c == '[' || c == '(' || c == '{' || (c == '#' && r.pos + 1 < r.len &&
                                                  CH(&r, r.pos + 1) == '{')) {
            if (depth + 1 == cap) {
                Frame *grown = PyMem_Realloc(stack, sizeof(Frame) * (size_t)(2 * cap));
                if (grown == NULL) {
                    PyErr_NoMemory();
                    goto done;
                }
                memset(grown + cap, 0, sizeof(Frame) * (size_t)cap);
                stack = grown;
                cap *= 2;
            }
            Frame *g = &stack[++depth];
            g->opener = c == '#' ? 's' : c;
            g->items = PyList_New(0);
            g->pos = token_at;
            g->nprefix = 0;
            if (g->items == NULL)
                goto done;
            r.pos += c == '#' ? 2 : 1;
            continue;
        } else if (c == ']' || c == ')' || c == '}') {
            if (depth == 0 || closer_of(f->opener) != c || f->nprefix)
                goto done;
            value = collection(f);
            Py_CLEAR(f->items);
            depth--;
            r.pos++;
            if (value == NULL)
                goto done;
            f = &stack[depth];
        } else if (c == '"') {
            value = string(&r, source);
            if (value == NULL)
                goto done;
        } else if (c == '\\') {
            value = character(&r);
            if (value == NULL)
                goto done;
        } else if (c == '#') {
            Py_ssize_t at = r.pos + 1;
            Py_UCS4 d = at < r.len ? CH(&r, at) : 0;
            if (d == '_') {
                r.pos = at + 1;
                if (push_prefix(f, DISCARD) < 0)
                    goto done;
                continue;
            }
            if (d == '#') { /* ##Inf ##-Inf ##NaN */
                Py_ssize_t end = atom_end(&r, at + 1);
                if (end < 0)
                    goto done;
                PyObject *name = PyUnicode_Substring(source, at + 1, end);
                if (name == NULL)
                    goto done;
                double v = 0;
                int known = 1;
                if (PyUnicode_CompareWithASCIIString(name, "Inf") == 0)
                    v = Py_HUGE_VAL;
                else if (PyUnicode_CompareWithASCIIString(name, "-Inf") == 0)
                    v = -Py_HUGE_VAL;
                else if (PyUnicode_CompareWithASCIIString(name, "NaN") == 0)
                    v = Py_NAN;
                else
                    known = 0;
                Py_DECREF(name);
                /* edn.py's \#[A-Za-z-]+ must also have stopped where this atom stops */
                for (Py_ssize_t i = at + 1; known && i < end; i++) {
                    Py_UCS4 x = CH(&r, i);
                    if (!is_alpha(x) && x != '-')
                        known = 0;
                }
                if (!known)
                    goto done;
                r.pos = end;
                value = PyFloat_FromDouble(v);
                if (value == NULL)
                    goto done;
            } else if (is_alpha(d)) { /* a tag: the element stands for itself */
                Py_ssize_t end = at;
                while (end < r.len) {
                    Py_UCS4 x = CH(&r, end);
                    if (x >= 128)
                        goto done;
                    if (is_space(x) || x == '[' || x == ']' || x == '(' || x == ')' ||
                        x == '{' || x == '}' || x == '"' || x == '\\' || x == ';')
                        break;
                    end++;
                }
                r.pos = end;
                if (push_prefix(f, TAG) < 0)
                    goto done;
                continue;
            } else {
                goto done;
            }
        } else {
            Py_ssize_t end = atom_end(&r, r.pos);
            if (end < 0)
                goto done;
            value = atom_value(&r, source, r.pos, end);
            if (value == NULL)
                goto done;
            r.pos = end;
        }
        /* a complete value: the frame's pending tags leave it be, a #_ drops it */
        int dropped = 0;
        while (f->nprefix) {
            if (f->prefixes[--f->nprefix] == DISCARD) {
                dropped = 1;
                break;
            }
        }
        if (dropped) {
            Py_DECREF(value);
            if (depth == 0 && f->nprefix == 0)
                form_start = -1;
            continue;
        }
        if (depth == 0) {
            PyObject *pair = Py_BuildValue("(Nn)", value, form_start);
            if (pair == NULL || PyList_Append(forms, pair) < 0) {
                Py_XDECREF(pair);
                goto done;
            }
            Py_DECREF(pair);
            form_start = -1;
        } else {
            int failed = PyList_Append(f->items, value);
            Py_DECREF(value);
            if (failed < 0)
                goto done;
        }
    }
    if (depth == 0 && stack[0].nprefix == 0)
        result = Py_NewRef(forms);
done:
    if (stack != NULL) {
        for (Py_ssize_t i = 0; i < cap; i++) {
            if (i <= depth)
                Py_XDECREF(stack[i].items);
            PyMem_Free(stack[i].prefixes);
        }
        PyMem_Free(stack);
    }
    Py_XDECREF(forms);
    Py_XDECREF(r.atoms);
    return result;
}

static PyObject *py_read_forms(PyObject *module, PyObject *text) {
    (void)module;
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "read_forms takes a str");
        return NULL;
    }
    if (PyUnicode_READY(text) < 0)
        return NULL;
    PyObject *forms = read_all(text);
    if (forms == NULL && !PyErr_Occurred())
        Py_RETURN_NONE;
    return forms;
}

static PyMethodDef methods[] = {
    {"read_forms", py_read_forms, METH_O,
     "read_forms(text) -> [(value, offset)] for well-formed EDN, else None (edn.py decides)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_edn", NULL, -1, methods};

PyMODINIT_FUNC PyInit__edn(void) { return PyModule_Create(&module); }
