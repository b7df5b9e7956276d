/* The list-append checker's hot loops in C: checkers/elle/list_append.py's ListAppendIndex._scan,
 * ._place_reads and add_dependencies, over the same Python objects, giving the same results.
 *
 * scan(mops_per_txn, outcomes) -> (writer, intermediate, appended_after, failed_keys, longest,
 *     longest_reader, read_txn, read_key, read_value, internal, future_reads,
 *     appends_after_read), or None when a transaction is anything but well formed (an unknown f,
 *     a duplicated append, a read that is not a list, an unhashable key): the Python code then
 *     runs and says what is wrong.
 *     outcomes: bytes, one per transaction: 0 ok, 1 info, 2 failed.
 * plain_mops(values) -> bytes, one per value: 1 when it is a list of micro-ops that
 *     checkers/elle/transactions.py's _plain_mops takes as they are ([r, key, anything],
 *     [append or w, key, value] with key and value ints or strings), else 0 (transactions()
 *     then looks closer). Both workloads use it.
 * place_reads(longest, repeated, intermediate, read_txn, read_key, read_value)
 *     -> (read_end, incompatible, intermediate_reads)
 * dependencies(order, writer, outcomes, unread, repeated, read_txn, read_key, read_value,
 *     read_end, kinds) -> (src, dst, kind) as int32/int32/int8 bytes; kinds = (WW, WR, RW).
 *
 * The Python functions are the specification; tests run both on generated histories and
 * compare every structure and edge.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_edges.h"

enum { OK = 0, INFO = 1, FAILED = 2 };

/* f as 'r' (read), 'a' (append) or 0 (anything else) */
static int mop_f(PyObject *f) {
    if (!PyUnicode_Check(f) || PyUnicode_READY(f) < 0) return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(f);
    if (n == 1 && PyUnicode_READ_CHAR(f, 0) == 'r') return 'r';
    if (n == 6 && PyUnicode_KIND(f) == PyUnicode_1BYTE_KIND &&
        memcmp(PyUnicode_DATA(f), "append", 6) == 0)
        return 'a';
    return 0;
}

/* dict.setdefault(key, factory()) with a new reference to the value */
static PyObject *setdefault_new(PyObject *dict, PyObject *key, PyObject *(*factory)(void)) {
    PyObject *value = PyDict_GetItemWithError(dict, key);
    if (value) {
        Py_INCREF(value);
        return value;
    }
    if (PyErr_Occurred()) return NULL;
    value = factory();
    if (!value) return NULL;
    if (PyDict_SetItem(dict, key, value) < 0) {
        Py_DECREF(value);
        return NULL;
    }
    return value;
}

static PyObject *new_dict(void) { return PyDict_New(); }
static PyObject *new_set(void) { return PySet_New(NULL); }

static int append_long(PyObject *list, long value) {
    PyObject *number = PyLong_FromLong(value);
    if (!number) return -1;
    int rc = PyList_Append(list, number);
    Py_DECREF(number);
    return rc;
}

#define MALFORMED 1  /* scan: leave it to Python */

/* 1 when a[from_a:from_a+n] equals b[from_b:from_b+n] element by element, 0 if not, -1 */
static int same_run(PyObject **a, PyObject **b, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        if (a[i] == b[i]) continue;
        int same = PyObject_RichCompareBool(a[i], b[i], Py_EQ);
        if (same <= 0) return same;
    }
    return 1;
}

static PyObject *EMPTY_READ; /* a read of null: the empty list */

static PyObject *read_list(PyObject *v) { return v == Py_None ? EMPTY_READ : v; }

/* list_append.py's _internal_mop: 1 when some read of a key is not what the transaction's own
 * earlier micro-ops on that key say (its last read of it, then its appends since; or, with no
 * read before, those appends at the end), 0 if not, -1 on an error. */
static int is_internal(PyObject **mops, Py_ssize_t n) {
    for (Py_ssize_t i = 1; i < n; i++) {
        PyObject **mi = ((PyListObject *)mops[i])->ob_item;
        if (mop_f(mi[0]) != 'r') continue;
        Py_ssize_t base = -1, appends = 0;
        for (Py_ssize_t j = i - 1; j >= 0; j--) {
            PyObject **mj = ((PyListObject *)mops[j])->ob_item;
            int same = mj[1] == mi[1] ? 1 : PyObject_RichCompareBool(mj[1], mi[1], Py_EQ);
            if (same < 0) return -1;
            if (!same) continue;
            if (mop_f(mj[0]) == 'r') { base = j; break; }
            appends++;
        }
        if (base < 0 && !appends) continue;
        PyObject *read = read_list(mi[2]);
        Py_ssize_t len = PyList_GET_SIZE(read), before = 0;
        PyObject **items = ((PyListObject *)read)->ob_item;
        if (base >= 0) {
            PyObject *earlier = read_list(((PyListObject *)mops[base])->ob_item[2]);
            before = PyList_GET_SIZE(earlier);
            if (len != before + appends) return 1;
            int same = same_run(items, ((PyListObject *)earlier)->ob_item, before);
            if (same <= 0) return same < 0 ? -1 : 1;
        } else {
            if (len < appends) return 1;
            before = len - appends;
        }
        /* then the appends, in order */
        Py_ssize_t at = before;
        for (Py_ssize_t j = base + 1; j < i; j++) {
            PyObject **mj = ((PyListObject *)mops[j])->ob_item;
            int same = mj[1] == mi[1] ? 1 : PyObject_RichCompareBool(mj[1], mi[1], Py_EQ);
            if (same < 0) return -1;
            if (!same) continue;
            same = same_run(&items[at++], &mj[2], 1);
            if (same <= 0) return same < 0 ? -1 : 1;
        }
    }
    return 0;
}

/* list_append.py's _note_candidates for one committed transaction of several micro-ops: its id
 * into `internal` (see is_internal) and `future` (it appends an element an earlier read of its
 * own already showed), and (key, version, id) into `lost` for each key it read before its first
 * append to it, the version being (last element of that first read,) or () for the empty
 * list. */
static int note_candidates(PyObject *mops, PyObject *tid, PyObject *internal, PyObject *future,
                           PyObject *lost) {
    Py_ssize_t n = PyList_GET_SIZE(mops);
    PyObject **m = ((PyListObject *)mops)->ob_item;
    int bad = is_internal(m, n);
    if (bad < 0 || (bad && PyList_Append(internal, tid) < 0)) return -1;
    int seen_future = 0;
    for (Py_ssize_t i = 1; i < n; i++) {
        PyObject **mi = ((PyListObject *)m[i])->ob_item;
        if (mop_f(mi[0]) != 'a') continue;
        int first_append = 1;
        PyObject *first_read = NULL;
        for (Py_ssize_t j = 0; j < i; j++) {
            PyObject **mj = ((PyListObject *)m[j])->ob_item;
            int same = mj[1] == mi[1] ? 1 : PyObject_RichCompareBool(mj[1], mi[1], Py_EQ);
            if (same < 0) return -1;
            if (!same) continue;
            if (mop_f(mj[0]) != 'r') { first_append = 0; continue; }
            if (!first_read) first_read = read_list(mj[2]);
            if (!seen_future && mj[2] != Py_None) {
                int shows = PySequence_Contains(mj[2], mi[2]);
                if (shows < 0) return -1;
                if (shows) {
                    seen_future = 1;
                    if (PyList_Append(future, tid) < 0) return -1;
                }
            }
        }
        if (first_append && first_read) {
            Py_ssize_t len = PyList_GET_SIZE(first_read);
            PyObject *version = len ? PyTuple_Pack(1, PyList_GET_ITEM(first_read, len - 1))
                                    : PyTuple_New(0);
            PyObject *entry = version ? PyTuple_Pack(3, mi[1], version, tid) : NULL;
            Py_XDECREF(version);
            if (!entry || PyList_Append(lost, entry) < 0) {
                Py_XDECREF(entry);
                return -1;
            }
            Py_DECREF(entry);
        }
    }
    return 0;
}

static PyObject *scan(PyObject *self, PyObject *args) {
    PyObject *all_mops;
    Py_buffer outcomes;
    if (!PyArg_ParseTuple(args, "O!y*", &PyList_Type, &all_mops, &outcomes)) return NULL;
    PyObject *writer = PyDict_New(), *intermediate = PyDict_New(), *after = PyDict_New();
    PyObject *failed_keys = PySet_New(NULL), *longest = PyDict_New(), *reader = PyDict_New();
    PyObject *read_txn = PyList_New(0), *read_key = PyList_New(0), *read_value = PyList_New(0);
    PyObject *internal = PyList_New(0), *future = PyList_New(0), *lost = PyList_New(0);
    PyObject *empty = PyList_New(0);
    PyObject *result = NULL;
    int malformed = 0;
    /* this transaction's appends so far: parallel arrays of key and latest element */
    Py_ssize_t own_cap = 16, own_n = 0;
    PyObject **own_key = PyMem_Malloc(own_cap * sizeof(PyObject *));
    PyObject **own_value = PyMem_Malloc(own_cap * sizeof(PyObject *));
    if (!writer || !intermediate || !after || !failed_keys || !longest || !reader || !read_txn ||
        !read_key || !read_value || !internal || !future || !lost || !empty || !own_key ||
        !own_value)
        goto done;
    Py_ssize_t count = PyList_GET_SIZE(all_mops);
    if (outcomes.len != count) {
        PyErr_SetString(PyExc_ValueError, "one outcome per transaction");
        goto done;
    }
    const unsigned char *outcome = outcomes.buf;
    PyObject *const *txn_mops = ((PyListObject *)all_mops)->ob_item;
    for (Py_ssize_t tid = 0; tid < count && !malformed; tid++) {
        prefetch_mops(txn_mops, tid, count);
        PyObject *mops = txn_mops[tid];
        if (!PyList_Check(mops)) { malformed = 1; break; }
        int ok = outcome[tid] == OK, failed = outcome[tid] == FAILED;
        Py_ssize_t n = PyList_GET_SIZE(mops);
        own_n = 0;
        PyObject *tid_obj = PyLong_FromSsize_t(tid);
        if (!tid_obj) goto done;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *mop = PyList_GET_ITEM(mops, i);
            if (!PyList_Check(mop) || PyList_GET_SIZE(mop) != 3) { malformed = 1; break; }
            PyObject *k = PyList_GET_ITEM(mop, 1), *v = PyList_GET_ITEM(mop, 2);
            int f = mop_f(PyList_GET_ITEM(mop, 0));
            if (f == 'a') {
                PyObject *appended = setdefault_new(writer, k, new_dict);
                if (!appended) { Py_DECREF(tid_obj); goto error_or_malformed; }
                int present = PyDict_Contains(appended, v);
                if (present != 0 || PyDict_SetItem(appended, v, tid_obj) < 0) {
                    Py_DECREF(appended);
                    Py_DECREF(tid_obj);
                    if (present > 0) { malformed = 1; break; }
                    goto error_or_malformed;
                }
                Py_DECREF(appended);
                if (failed && PySet_Add(failed_keys, k) < 0) { Py_DECREF(tid_obj); goto done; }
                Py_ssize_t j = 0;
                for (; j < own_n; j++) {
                    int same = PyObject_RichCompareBool(own_key[j], k, Py_EQ);
                    if (same < 0) { Py_DECREF(tid_obj); goto error_or_malformed; }
                    if (same) break;
                }
                if (j < own_n) {
                    PyObject *prev = own_value[j];
                    PyObject *middle = setdefault_new(intermediate, k, new_set);
                    if (!middle || PySet_Add(middle, prev) < 0) {
                        Py_XDECREF(middle);
                        Py_DECREF(tid_obj);
                        goto done;
                    }
                    Py_DECREF(middle);
                    PyObject *follows = setdefault_new(after, k, new_dict);
                    if (!follows || PyDict_SetItem(follows, v, prev) < 0) {
                        Py_XDECREF(follows);
                        Py_DECREF(tid_obj);
                        goto done;
                    }
                    Py_DECREF(follows);
                    own_value[j] = v;
                } else {
                    if (own_n == own_cap) {
                        own_cap *= 2;
                        PyObject **nk = PyMem_Realloc(own_key, own_cap * sizeof(PyObject *));
                        if (nk) own_key = nk;
                        PyObject **nv = PyMem_Realloc(own_value, own_cap * sizeof(PyObject *));
                        if (nv) own_value = nv;
                        if (!nk || !nv) { Py_DECREF(tid_obj); PyErr_NoMemory(); goto done; }
                    }
                    own_key[own_n] = k;
                    own_value[own_n] = v;
                    own_n++;
                }
            } else if (f != 'r') {
                malformed = 1;
                break;
            } else if (ok) {
                if (v == Py_None) v = empty;
                else if (!PyList_Check(v)) { malformed = 1; break; }
                if (PyList_Append(read_txn, tid_obj) < 0 || PyList_Append(read_key, k) < 0 ||
                    PyList_Append(read_value, v) < 0) { Py_DECREF(tid_obj); goto done; }
                PyObject *current = PyDict_GetItemWithError(longest, k);
                if (!current && PyErr_Occurred()) { Py_DECREF(tid_obj); goto error_or_malformed; }
                if (!current || PyList_GET_SIZE(v) > PyList_GET_SIZE(current)) {
                    if (PyDict_SetItem(longest, k, v) < 0 ||
                        PyDict_SetItem(reader, k, tid_obj) < 0) {
                        Py_DECREF(tid_obj);
                        goto error_or_malformed;
                    }
                }
            }
        }
        if (!malformed && ok && n > 1 &&
            note_candidates(mops, tid_obj, internal, future, lost) < 0) {
            Py_DECREF(tid_obj);
            goto error_or_malformed;
        }
        Py_DECREF(tid_obj);
    }
    if (malformed) goto leave_to_python;
    result = Py_BuildValue("(OOOOOOOOOOOO)", writer, intermediate, after, failed_keys, longest,
                           reader, read_txn, read_key, read_value, internal, future, lost);
    goto done;
error_or_malformed:
    /* unhashable keys and the like: Python reports them better */
    if (!PyErr_ExceptionMatches(PyExc_TypeError)) goto done;
    PyErr_Clear();
leave_to_python:
    Py_INCREF(Py_None);
    result = Py_None;
done:
    PyMem_Free(own_key);
    PyMem_Free(own_value);
    Py_XDECREF(writer);
    Py_XDECREF(intermediate);
    Py_XDECREF(after);
    Py_XDECREF(failed_keys);
    Py_XDECREF(longest);
    Py_XDECREF(reader);
    Py_XDECREF(read_txn);
    Py_XDECREF(read_key);
    Py_XDECREF(read_value);
    Py_XDECREF(internal);
    Py_XDECREF(future);
    Py_XDECREF(lost);
    Py_XDECREF(empty);
    PyBuffer_Release(&outcomes);
    return result;
}

static int is_scalar(PyObject *x) { return PyLong_CheckExact(x) || PyUnicode_CheckExact(x); }

/* "r", "append" and "w" as _plain_mops compares them (a str subclass is left to Python) */
static int plain_f(PyObject *f) {
    if (!PyUnicode_CheckExact(f)) return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(f);
    if (PyUnicode_KIND(f) != PyUnicode_1BYTE_KIND) return 0;
    const char *s = (const char *)PyUnicode_1BYTE_DATA(f);
    if (n == 1) return s[0] == 'r' ? 'r' : s[0] == 'w' ? 'w' : 0;
    return n == 6 && memcmp(s, "append", 6) == 0 ? 'a' : 0;
}

static PyObject *plain_mops(PyObject *self, PyObject *values) {
    if (!PyList_Check(values)) {
        PyErr_SetString(PyExc_TypeError, "plain_mops takes a list");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(values);
    PyObject *result = PyBytes_FromStringAndSize(NULL, count);
    if (!result) return NULL;
    char *plain = PyBytes_AS_STRING(result);
    PyObject *const *txns = ((PyListObject *)values)->ob_item;
    for (Py_ssize_t t = 0; t < count; t++) {
        prefetch_mops(txns, t, count);
        PyObject *mops = txns[t];
        int ok = PyList_CheckExact(mops);
        for (Py_ssize_t i = 0; ok && i < PyList_GET_SIZE(mops); i++) {
            PyObject *mop = PyList_GET_ITEM(mops, i);
            if (!PyList_CheckExact(mop) || PyList_GET_SIZE(mop) != 3) { ok = 0; break; }
            PyObject **m = ((PyListObject *)mop)->ob_item;
            int f = plain_f(m[0]);
            ok = f && is_scalar(m[1]) && (f == 'r' || is_scalar(m[2]));
        }
        plain[t] = (char)ok;
    }
    return result;
}

/* 1 when `v` is `full` or equals its first len(v) elements, 0 when not, -1 on error */
static int is_prefix(PyObject *v, PyObject *full) {
    if (v == full) return 1;
    Py_ssize_t n = PyList_GET_SIZE(v);
    if (n > PyList_GET_SIZE(full)) return 0;
    PyObject **a = ((PyListObject *)v)->ob_item, **b = ((PyListObject *)full)->ob_item;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (a[i] == b[i]) continue; /* the common case: the same (small int) object */
        int same = PyObject_RichCompareBool(a[i], b[i], Py_EQ);
        if (same <= 0) return same;
    }
    return 1;
}

static PyObject *place_reads(PyObject *self, PyObject *args) {
    PyObject *longest, *repeated, *intermediate, *read_txn, *read_key, *read_value;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!", &PyDict_Type, &longest, &PySet_Type, &repeated,
                          &PyDict_Type, &intermediate, &PyList_Type, &read_txn, &PyList_Type,
                          &read_key, &PyList_Type, &read_value))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(read_value);
    PyObject *ends = PyList_New(n), *incompatible = PyDict_New(), *suspects = PyList_New(0);
    if (!ends || !incompatible || !suspects) goto fail;
    int any_intermediate = PyDict_GET_SIZE(intermediate) > 0;
    int any_repeated = PySet_GET_SIZE(repeated) > 0;
    PyObject *const *values = ((PyListObject *)read_value)->ob_item;
    for (Py_ssize_t i = 0; i < n; i++) {
        prefetch_lists(values, i, n);
        PyObject *v = values[i];
        Py_ssize_t len = PyList_GET_SIZE(v), end = len;
        if (len) {
            PyObject *k = PyList_GET_ITEM(read_key, i);
            if (any_intermediate) {
                PyObject *middle = PyDict_GetItemWithError(intermediate, k);
                if (!middle && PyErr_Occurred()) goto fail;
                if (middle) {
                    int in = PySet_Contains(middle, PyList_GET_ITEM(v, len - 1));
                    if (in < 0) goto fail;
                    if (in) {
                        PyObject *at = PyLong_FromSsize_t(i);
                        if (!at || PyList_Append(suspects, at) < 0) {
                            Py_XDECREF(at);
                            goto fail;
                        }
                        Py_DECREF(at);
                    }
                }
            }
            PyObject *full = PyDict_GetItemWithError(longest, k);
            if (!full) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_KeyError, "read of an unknown key");
                goto fail;
            }
            int prefix = is_prefix(v, full);
            if (prefix < 0) goto fail;
            if (!prefix) {
                end = -1;
                PyObject *bad = PyDict_GetItemWithError(incompatible, k);
                if (!bad) {
                    if (PyErr_Occurred()) goto fail;
                    bad = PyList_New(0);
                    if (!bad || PyDict_SetItem(incompatible, k, bad) < 0) {
                        Py_XDECREF(bad);
                        goto fail;
                    }
                    Py_DECREF(bad);
                }
                PyObject *pair = PyTuple_Pack(2, PyList_GET_ITEM(read_txn, i), v);
                if (!pair || PyList_Append(bad, pair) < 0) {
                    Py_XDECREF(pair);
                    goto fail;
                }
                Py_DECREF(pair);
            } else if (any_repeated) {
                int rep = PySet_Contains(repeated, k);
                if (rep < 0) goto fail;
                if (rep) end = -1;
            }
        }
        PyObject *number = PyLong_FromSsize_t(end);
        if (!number) goto fail;
        PyList_SET_ITEM(ends, i, number);
    }
    PyObject *result = PyTuple_Pack(3, ends, incompatible, suspects);
    Py_DECREF(ends);
    Py_DECREF(incompatible);
    Py_DECREF(suspects);
    return result;
fail:
    Py_XDECREF(ends);
    Py_XDECREF(incompatible);
    Py_XDECREF(suspects);
    return NULL;
}

/* writer of element e of key k (a dict e -> tid), or -1; -2 on error */
static long writer_of(PyObject *appended, PyObject *e) {
    if (!appended) return -1;
    PyObject *tid = PyDict_GetItemWithError(appended, e);
    if (!tid) return PyErr_Occurred() ? -2 : -1;
    return PyLong_AsLong(tid);
}

static PyObject *dependencies(PyObject *self, PyObject *args) {
    PyObject *order, *writer, *unread, *repeated, *read_txn, *read_key, *read_value, *read_end;
    Py_buffer outcomes;
    int WW, WR, RW;
    if (!PyArg_ParseTuple(args, "O!O!y*O!O!O!O!O!O!(iii)", &PyDict_Type, &order, &PyDict_Type,
                          &writer, &outcomes, &PyDict_Type, &unread, &PySet_Type, &repeated,
                          &PyList_Type, &read_txn, &PyList_Type, &read_key, &PyList_Type,
                          &read_value, &PyList_Type, &read_end, &WW, &WR, &RW))
        return NULL;
    const unsigned char *outcome = outcomes.buf;
    Py_ssize_t count = outcomes.len;
    Edges e = {NULL, NULL, NULL, 0, 0};
    PyObject *result = NULL;
#define NODE(w) ((w) >= 0 && (w) < count && outcome[(w)] != FAILED)
    /* ww: consecutive elements of each version order, then the last one -> unread appends */
    Py_ssize_t pos = 0;
    PyObject *k, *elements;
    while (PyDict_Next(order, &pos, &k, &elements)) {
        int rep = PySet_Contains(repeated, k);
        if (rep < 0) goto done;
        if (rep) continue;
        PyObject *appended = PyDict_GetItemWithError(writer, k);
        if (!appended && PyErr_Occurred()) goto done;
        long prev = -1;
        Py_ssize_t n = PyList_GET_SIZE(elements);
        for (Py_ssize_t i = 0; i < n; i++) {
            long w = writer_of(appended, PyList_GET_ITEM(elements, i));
            if (w == -2) goto done;
            if (!NODE(w)) continue;
            if (prev >= 0 && w != prev && add_edge(&e, prev, w, WW) < 0) goto done;
            prev = w;
        }
        if (prev >= 0) {
            PyObject *late = PyDict_GetItemWithError(unread, k);
            if (!late && PyErr_Occurred()) goto done;
            if (late) {
                for (Py_ssize_t i = 0; i < PyList_GET_SIZE(late); i++) {
                    long u = PyLong_AsLong(PyList_GET_ITEM(late, i));
                    if (u != prev && add_edge(&e, prev, u, WW) < 0) goto done;
                }
            }
        }
    }
    /* wr and rw, read by read */
    Py_ssize_t reads = PyList_GET_SIZE(read_txn);
    PyObject *const *values = ((PyListObject *)read_value)->ob_item;
    for (Py_ssize_t i = 0; i < reads; i++) {
        prefetch_lists(values, i, reads);
        long tid = PyLong_AsLong(PyList_GET_ITEM(read_txn, i));
        PyObject *key = PyList_GET_ITEM(read_key, i);
        PyObject *v = PyList_GET_ITEM(read_value, i);
        PyObject *appended = PyDict_GetItemWithError(writer, key);
        if (!appended && PyErr_Occurred()) goto done;
        long seen = -1;
        Py_ssize_t len = PyList_GET_SIZE(v);
        if (len) {
            seen = writer_of(appended, PyList_GET_ITEM(v, len - 1));
            if (seen == -2) goto done;
            if (!NODE(seen)) seen = -1;
            if (seen >= 0 && seen != tid && add_edge(&e, seen, tid, WR) < 0) goto done;
        }
        long end = PyLong_AsLong(PyList_GET_ITEM(read_end, i));
        if (end < 0) continue;
        PyObject *elements = PyDict_GetItemWithError(order, key);
        if (!elements && PyErr_Occurred()) goto done;
        int found = 0;
        if (elements && end < PyList_GET_SIZE(elements)) {
            for (Py_ssize_t q = end; q < PyList_GET_SIZE(elements); q++) {
                long w = writer_of(appended, PyList_GET_ITEM(elements, q));
                if (w == -2) goto done;
                if (NODE(w) && w != seen) {
                    if (w != tid && add_edge(&e, tid, w, RW) < 0) goto done;
                    found = 1;
                    break;
                }
            }
        }
        if (found) continue;
        PyObject *late = PyDict_GetItemWithError(unread, key);
        if (!late && PyErr_Occurred()) goto done;
        if (late) {
            for (Py_ssize_t j = 0; j < PyList_GET_SIZE(late); j++) {
                long u = PyLong_AsLong(PyList_GET_ITEM(late, j));
                if (u != tid && u != seen && add_edge(&e, tid, u, RW) < 0) goto done;
            }
        }
    }
#undef NODE
    if (PyErr_Occurred()) goto done;
    result = edges_bytes(&e);
done:
    edges_free(&e);
    PyBuffer_Release(&outcomes);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "ListAppendIndex._scan's results, or None to leave it to Python"},
    {"plain_mops", plain_mops, METH_O, "which values transactions() takes as they are"},
    {"place_reads", place_reads, METH_VARARGS, "ListAppendIndex._place_reads: (ends, incompatible)"},
    {"dependencies", dependencies, METH_VARARGS, "add_dependencies' edges as (src, dst, kind) bytes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_append",
                                    "The list-append checker's hot loops (list_append.py).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__append(void) {
    if (!EMPTY_READ && !(EMPTY_READ = PyList_New(0))) return NULL;
    return PyModule_Create(&module);
}
