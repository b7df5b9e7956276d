/* Growable int32/int32/int8 edge arrays shared by the elle checker's C kernels (_append.c,
 * _graph.c): add_edge appends one edge, edges_bytes hands them to Python as three bytes objects
 * (src, dst, kind), which DependencyGraph's arrays take with frombytes. */
#ifndef ELLE_EDGES_H
#define ELLE_EDGES_H

#include <Python.h>
#include <stdint.h>

#include "../_prefetch.h"

typedef struct {
    int32_t *src, *dst;
    int8_t *kind;
    Py_ssize_t n, cap;
} Edges;

/* Loops over hundreds of thousands of lists (a history's reads, its transactions' micro-ops)
 * wait on memory more than they compute: each list's header and its items are cold. So the
 * loop at i asks for the header of the list AHEAD places on, and for the items of the one
 * AHEAD / 2 on, whose header has arrived by then. */
#define AHEAD 16

static inline void prefetch_lists(PyObject *const *lists, Py_ssize_t i, Py_ssize_t n) {
    if (i + AHEAD < n) prefetch(lists[i + AHEAD]);
    if (i + AHEAD / 2 < n && PyList_Check(lists[i + AHEAD / 2]))
        prefetch(((PyListObject *)lists[i + AHEAD / 2])->ob_item);
}

/* prefetch_lists for transactions' micro-ops (lists of [f, key, value] lists): the micro-op
 * lists of the transaction 4 on, their items 2 on, and the lists read 1 on. */
static inline void prefetch_mops(PyObject *const *txns, Py_ssize_t i, Py_ssize_t n) {
    prefetch_lists(txns, i, n);
    for (int ahead = 4; ahead >= 1; ahead /= 2) {
        if (i + ahead >= n || !PyList_Check(txns[i + ahead])) continue;
        PyObject *const *mops = ((PyListObject *)txns[i + ahead])->ob_item;
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(txns[i + ahead]); j++) {
            if (ahead == 4) {
                prefetch(mops[j]);
            } else if (PyList_Check(mops[j]) && PyList_GET_SIZE(mops[j]) == 3) {
                PyObject *const *mop = ((PyListObject *)mops[j])->ob_item;
                if (ahead == 2) prefetch(mop);
                else prefetch(mop[2]);
            }
        }
    }
}

static int add_edge(Edges *e, Py_ssize_t a, Py_ssize_t b, int kind) {
    if (e->n == e->cap) {
        Py_ssize_t cap = e->cap ? e->cap * 2 : 1024;
        int32_t *s = PyMem_Realloc(e->src, cap * sizeof(int32_t));
        if (s) e->src = s;
        int32_t *d = PyMem_Realloc(e->dst, cap * sizeof(int32_t));
        if (d) e->dst = d;
        int8_t *k = PyMem_Realloc(e->kind, cap * sizeof(int8_t));
        if (k) e->kind = k;
        if (!s || !d || !k) {
            PyErr_NoMemory();
            return -1;
        }
        e->cap = cap;
    }
    e->src[e->n] = (int32_t)a;
    e->dst[e->n] = (int32_t)b;
    e->kind[e->n] = (int8_t)kind;
    e->n++;
    return 0;
}

static PyObject *edges_bytes(const Edges *e) {
    return Py_BuildValue("(y#y#y#)", e->n ? (const char *)e->src : "",
                         e->n * (Py_ssize_t)sizeof(int32_t), e->n ? (const char *)e->dst : "",
                         e->n * (Py_ssize_t)sizeof(int32_t), e->n ? (const char *)e->kind : "",
                         e->n);
}

static void edges_free(Edges *e) {
    PyMem_Free(e->src);
    PyMem_Free(e->dst);
    PyMem_Free(e->kind);
}

#endif
