/* Growable int32/int32/int8 edge arrays shared by the elle checker's C kernels (_append.c,
 * _graph.c): add_edge appends one edge, edges_bytes hands them to Python as three bytes objects
 * (src, dst, kind), which DependencyGraph's arrays take with frombytes. */
#ifndef ELLE_EDGES_H
#define ELLE_EDGES_H

#include <Python.h>
#include <stdint.h>

typedef struct {
    int32_t *src, *dst;
    int8_t *kind;
    Py_ssize_t n, cap;
} Edges;

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
