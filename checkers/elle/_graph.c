/* The elle checker's graph kernels in C: strongly connected components, and the session and
 * real-time order edges.
 *
 * components(nodes, src, dst) -> list of lists: every strongly connected component of more than
 * one node. src and dst are int32 buffers (array('i')) of equal length: edge i goes from src[i]
 * to dst[i]; nodes are 0..nodes-1. The algorithm is Tarjan's, without recursion, over a
 * compressed adjacency built here: the same as checkers/elle/graph.py's tarjan(), which is the
 * pure-Python fallback, and which tests hold to the same answers (and both to networkx's).
 * Memory: about 40 bytes per node and 8 per edge, freed before returning.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_edges.h"

typedef int32_t i32;

static PyObject *scc_error(const char *message) {
    PyErr_SetString(PyExc_ValueError, message);
    return NULL;
}

static PyObject *components(PyObject *self, PyObject *args) {
    Py_ssize_t nodes;
    Py_buffer src_buf, dst_buf;
    if (!PyArg_ParseTuple(args, "ny*y*", &nodes, &src_buf, &dst_buf)) return NULL;
    PyObject *result = NULL;
    i32 *start = NULL, *fill = NULL, *targets = NULL, *index = NULL, *low = NULL;
    i32 *stack = NULL, *calls = NULL, *cursor = NULL;
    char *on_stack = NULL;
    if (src_buf.itemsize != 4 || dst_buf.itemsize != 4 || src_buf.len != dst_buf.len) {
        scc_error("src and dst must be int32 buffers of equal length");
        goto done;
    }
    if (nodes < 0 || nodes >= INT32_MAX) {
        scc_error("node count out of range");
        goto done;
    }
    Py_ssize_t m = src_buf.len / 4;
    const i32 *src = (const i32 *)src_buf.buf;
    const i32 *dst = (const i32 *)dst_buf.buf;
    size_t n = (size_t)nodes;
    start = calloc(n + 1, sizeof(i32));
    fill = malloc((n + 1) * sizeof(i32));
    targets = malloc((size_t)(m > 0 ? m : 1) * sizeof(i32));
    index = malloc((n > 0 ? n : 1) * sizeof(i32));
    low = malloc((n > 0 ? n : 1) * sizeof(i32));
    stack = malloc((n > 0 ? n : 1) * sizeof(i32));
    calls = malloc((n > 0 ? n : 1) * sizeof(i32));
    cursor = malloc((n > 0 ? n : 1) * sizeof(i32));
    on_stack = calloc(n > 0 ? n : 1, 1);
    if (!start || !fill || !targets || !index || !low || !stack || !calls || !cursor ||
        !on_stack) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < m; i++) {
        i32 a = src[i], b = dst[i];
        if (a < 0 || (size_t)a >= n || b < 0 || (size_t)b >= n) {
            scc_error("edge end out of range");
            goto done;
        }
        start[a + 1]++;
    }
    for (size_t v = 0; v < n; v++) start[v + 1] += start[v];
    memcpy(fill, start, (n + 1) * sizeof(i32));
    for (Py_ssize_t i = 0; i < m; i++) targets[fill[src[i]]++] = dst[i];
    for (size_t v = 0; v < n; v++) index[v] = -1;

    result = PyList_New(0);
    if (!result) goto done;
    i32 counter = 0, sp = 0;
    for (size_t root = 0; root < n; root++) {
        if (index[root] != -1 || start[root] == start[root + 1]) continue;
        i32 depth = 0;
        calls[depth] = (i32)root;
        cursor[depth] = start[root];
        depth++;
        index[root] = low[root] = counter++;
        stack[sp++] = (i32)root;
        on_stack[root] = 1;
        while (depth > 0) {
            i32 v = calls[depth - 1];
            i32 pos = cursor[depth - 1];
            if (pos < start[v + 1]) {
                cursor[depth - 1] = pos + 1;
                i32 w = targets[pos];
                if (index[w] == -1) {
                    index[w] = low[w] = counter++;
                    stack[sp++] = w;
                    on_stack[w] = 1;
                    calls[depth] = w;
                    cursor[depth] = start[w];
                    depth++;
                } else if (on_stack[w] && index[w] < low[v]) {
                    low[v] = index[w];
                }
                continue;
            }
            depth--;
            if (depth > 0) {
                i32 u = calls[depth - 1];
                if (low[v] < low[u]) low[u] = low[v];
            }
            if (low[v] == index[v]) {
                i32 w = stack[--sp];
                on_stack[w] = 0;
                if (w == v) continue;
                PyObject *component = PyList_New(0);
                if (!component) goto fail;
                for (;;) {
                    PyObject *number = PyLong_FromLong(w);
                    if (!number || PyList_Append(component, number) < 0) {
                        Py_XDECREF(number);
                        Py_DECREF(component);
                        goto fail;
                    }
                    Py_DECREF(number);
                    if (w == v) break;
                    w = stack[--sp];
                    on_stack[w] = 0;
                }
                if (PyList_Append(result, component) < 0) {
                    Py_DECREF(component);
                    goto fail;
                }
                Py_DECREF(component);
            }
        }
    }
    goto done;
fail:
    Py_CLEAR(result);
done:
    free(start);
    free(fill);
    free(targets);
    free(index);
    free(low);
    free(stack);
    free(calls);
    free(cursor);
    free(on_stack);
    PyBuffer_Release(&src_buf);
    PyBuffer_Release(&dst_buf);
    return result;
}

/* order_edges(starts, ends, processes, outcomes, process, realtime, first_time_node)
 *     -> (src, dst, kind) bytes, or None when a time is not a 64-bit integer
 *
 * checkers/elle/orders.py's add_process_edges (when `process`) and add_realtime_chain (when
 * `realtime`, time nodes numbered from first_time_node), in that order, over each
 * transaction's invocation and completion time (lists of ints; give 0 as the completion time
 * of a transaction that is not ok: it is not read), process (a list) and outcome (bytes: 0 ok,
 * 1 info, 2 failed). */

typedef struct {
    int64_t end;
    Py_ssize_t id;
} Done;

static int by_end(const void *a, const void *b) {
    const Done *x = a, *y = b;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

enum { PROCESS_KIND = 8, REALTIME_KIND = 16 };

/* int64 copies of a list of ints; NULL without an exception when one is not an int that
 * fits (the caller then leaves the work to Python) */
static int64_t *int64s(PyObject *list, int *unfit) {
    Py_ssize_t n = PyList_GET_SIZE(list);
    int64_t *out = PyMem_Malloc((n > 0 ? n : 1) * sizeof(int64_t));
    if (!out) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + AHEAD < n) prefetch(PyList_GET_ITEM(list, i + AHEAD)); /* each int is cold */
        PyObject *x = PyList_GET_ITEM(list, i);
        int overflow = 0;
        out[i] = PyLong_Check(x) ? PyLong_AsLongLongAndOverflow(x, &overflow) : 0;
        if (!PyLong_Check(x) || overflow) {
            PyMem_Free(out);
            *unfit = 1;
            return NULL;
        }
    }
    return out;
}

static PyObject *order_edges(PyObject *self, PyObject *args) {
    PyObject *starts_list, *ends_list, *processes;
    Py_buffer outcomes;
    int want_process, want_realtime;
    Py_ssize_t first;
    if (!PyArg_ParseTuple(args, "O!O!O!y*ppn", &PyList_Type, &starts_list, &PyList_Type,
                          &ends_list, &PyList_Type, &processes, &outcomes, &want_process,
                          &want_realtime, &first))
        return NULL;
    const unsigned char *outcome = outcomes.buf;
    Py_ssize_t n = outcomes.len;
    Edges e = {NULL, NULL, NULL, 0, 0};
    Done *done = NULL;
    int64_t *starts = NULL, *ends = NULL;
    PyObject *last = NULL, *result = NULL;
    int unfit = 0;
    if (PyList_GET_SIZE(starts_list) != n || PyList_GET_SIZE(ends_list) != n ||
        PyList_GET_SIZE(processes) != n) {
        PyErr_SetString(PyExc_ValueError, "one start, end, process and outcome per transaction");
        goto done;
    }
    starts = int64s(starts_list, &unfit);
    if (starts) ends = int64s(ends_list, &unfit);
    if (!starts || !ends) {
        if (unfit) {
            Py_INCREF(Py_None);
            result = Py_None;
        }
        goto done;
    }
    if (want_process) {
        /* process -> id of its latest transaction that may have happened */
        last = PyDict_New();
        if (!last) goto done;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (outcome[i] == 2) continue;
            PyObject *process = PyList_GET_ITEM(processes, i);
            PyObject *prev = PyDict_GetItemWithError(last, process);
            if (!prev && PyErr_Occurred()) goto done;
            if (prev) {
                Py_ssize_t p = PyLong_AsSsize_t(prev);
                if (outcome[p] == 0 && add_edge(&e, p, i, PROCESS_KIND) < 0) goto done;
            }
            PyObject *id = PyLong_FromSsize_t(i);
            int rc = id ? PyDict_SetItem(last, process, id) : -1;
            Py_XDECREF(id);
            if (rc < 0) goto done;
        }
    }
    if (want_realtime) {
        Py_ssize_t count = 0;
        done = PyMem_Malloc((n > 0 ? n : 1) * sizeof(Done));
        if (!done) { PyErr_NoMemory(); goto done; }
        for (Py_ssize_t i = 0; i < n; i++) {
            if (outcome[i] != 0) continue;
            done[count].end = ends[i];
            done[count++].id = i;
        }
        qsort(done, count, sizeof(Done), by_end);
        for (Py_ssize_t i = 0; i < count; i++) {
            if (add_edge(&e, done[i].id, first + i, REALTIME_KIND) < 0) goto done;
            if (i && add_edge(&e, first + i - 1, first + i, REALTIME_KIND) < 0) goto done;
        }
        Py_ssize_t passed = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (outcome[i] == 2) continue;
            while (passed < count && done[passed].end < starts[i]) passed++;
            if (passed && add_edge(&e, first + passed - 1, i, REALTIME_KIND) < 0) goto done;
        }
    }
    result = edges_bytes(&e);
done:
    Py_XDECREF(last);
    PyMem_Free(done);
    PyMem_Free(starts);
    PyMem_Free(ends);
    edges_free(&e);
    PyBuffer_Release(&outcomes);
    return result;
}

static PyMethodDef methods[] = {
    {"components", components, METH_VARARGS,
     "components(nodes, src, dst) -> the strongly connected components of more than one node"},
    {"order_edges", order_edges, METH_VARARGS,
     "order_edges(starts, ends, processes, outcomes, process, realtime, first_time_node)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_graph",
                                    "The elle checker's graph kernels (checkers/elle/graph.py, "
                                    "orders.py).",
                                    -1, methods};

PyMODINIT_FUNC PyInit__graph(void) { return PyModule_Create(&module); }
