/*
 * loader.h: the loader's entry points (loader.c). The ACL functions
 * themselves are declared by acl.h and defined by loader.c as trampolines
 * through a table that bl_open and bl_resolve fill.
 */
#ifndef BLOOM_ACL_LOADER_H
#define BLOOM_ACL_LOADER_H

#include "acl.h"

/* bl_open dlopens path as library lib (0 libascendcl, 1 libnnopbase,
 * 2 libopapi); on failure it returns dlerror's text (static storage). */
const char *bl_open(int lib, const char *path);

/* bl_resolve looks up every function of ACL_FUNCS in its library; it returns
 * NULL, or the name of the first function missing and sets *lib to its
 * library. */
const char *bl_resolve(int *lib);

/* bl_find returns the resolved address of the function called name, or NULL. */
void *bl_find(const char *name);

/* bl_launch calls fn, the second phase of an aclnn operator. */
aclnnStatus bl_launch(void *fn, void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream);

#endif
