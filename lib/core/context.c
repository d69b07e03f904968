/* SPDX-License-Identifier: MIT */
/*
 * context.c — task-local variables, asyncio's contextvars as tasks see them:
 * each task has its own values, and a task created from another task starts
 * with a copy of its creator's (asyncio copies the current context at
 * create_task), so a later set in either is not seen by the other.
 *
 * Owns: each task's value array (cr__task.ctx), allocated on first set or
 * inherit, freed with the task. Values are borrowed pointers: coring never
 * frees them.
 *
 * Loop thread only.
 */
#include "core/internal.h"
#include <stdlib.h>
#include <string.h>

struct cr__ctx {
    size_t n, cap;
    struct cr__ctx_ent {
        const cr_context_var *var;
        void *value;
    } e[];
};

static struct cr__ctx_ent *find(struct cr__ctx *c, const cr_context_var *v)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (c->e[i].var == v)
            return &c->e[i];
    return NULL;
}

void *cr_context_var_get(const cr_context_var *v)
{
    if (!v)
        return NULL;
    cr__task *t = cr__current();
    struct cr__ctx_ent *e = t ? find(t->ctx, v) : NULL;
    return e ? e->value : v->default_value;
}

int cr_context_var_set(const cr_context_var *v, void *value, void **old)
{
    if (old)
        *old = NULL;
    if (!v)
        return -EINVAL;
    cr__task *t = cr__current();
    if (!t)
        return -EPERM;
    struct cr__ctx_ent *e = find(t->ctx, v);
    if (!e) {
        struct cr__ctx *c = t->ctx;
        if (!c || c->n == c->cap) {
            size_t cap = c ? c->cap * 2 : 4;
            struct cr__ctx *nc = realloc(c, sizeof *nc + cap * sizeof nc->e[0]);
            if (!nc)
                return -ENOMEM;
            if (!c)
                nc->n = 0;
            nc->cap = cap;
            t->ctx = c = nc;
        }
        e = &c->e[c->n++];
        *e = (struct cr__ctx_ent){v, v->default_value};
    }
    if (old)
        *old = e->value;
    e->value = value;
    return 0;
}

int cr__ctx_inherit(cr__task *child)
{
    cr__task *parent = cr__current();
    struct cr__ctx *c = parent ? parent->ctx : NULL;
    if (!c || !c->n)
        return 0;
    size_t sz = sizeof *c + c->n * sizeof c->e[0];
    struct cr__ctx *copy = malloc(sz);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, c, sz);
    copy->cap = c->n;
    child->ctx = copy;
    return 0;
}
