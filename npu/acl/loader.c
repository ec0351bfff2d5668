//go:build ascend && cgo

/*
 * loader.c: CANN's functions, opened at run time. Generated from acl.h's
 * ACL_FUNCS: one function pointer per function, one trampoline of the same
 * name and prototype that calls through it, and a table bl_resolve fills
 * with dlsym. The trampolines are hidden, so they never interpose on the
 * libraries' own symbols in the process's global scope.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>

/* After the system headers, whose functions live elsewhere. */
#pragma GCC visibility push(hidden)

#include "loader.h"

#define BL_POINTER(lib, ret, name, params, args) static ret(*bl_p_##name) params;
ACL_FUNCS(BL_POINTER)
#undef BL_POINTER

#define BL_TRAMPOLINE(lib, ret, name, params, args) \
    ret name params { return bl_p_##name args; }
ACL_FUNCS(BL_TRAMPOLINE)
#undef BL_TRAMPOLINE

struct bl_sym {
    int lib;
    const char *name;
    void **slot;
};

static const struct bl_sym bl_syms[] = {
#define BL_ENTRY(lib, ret, name, params, args) {lib, #name, (void **)&bl_p_##name},
    ACL_FUNCS(BL_ENTRY)
#undef BL_ENTRY
};

/* Each library may come as several files: newer CANN splits libopapi.so
 * into libopapi_math.so and libopapi_nn.so. */
#define BL_FILES 4
static void *bl_libs[3][BL_FILES];

const char *bl_open(int lib, const char *path) {
    if (lib < 0 || lib > 2) return "no such library";
    int k = 0;
    while (k < BL_FILES && bl_libs[lib][k] != NULL) k++;
    if (k == BL_FILES) return "too many files for one library";
    void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (h == NULL) {
        const char *e = dlerror();
        return e != NULL ? e : "dlopen failed";
    }
    bl_libs[lib][k] = h;
    return NULL;
}

/* bl_optional names the functions a CANN may lack: operators the backend
 * does not call (acl.h lists them for the fake's SoC checks). */
static int bl_optional(const char *name) { return strstr(name, "ApplyAdamWV2") != NULL; }

const char *bl_resolve(int *lib) {
    for (size_t i = 0; i < sizeof bl_syms / sizeof bl_syms[0]; i++) {
        const struct bl_sym *s = &bl_syms[i];
        void *f = NULL;
        for (int k = 0; k < BL_FILES && f == NULL && bl_libs[s->lib][k] != NULL; k++)
            f = dlsym(bl_libs[s->lib][k], s->name);
        if (f == NULL && !bl_optional(s->name)) {
            *lib = s->lib;
            return s->name;
        }
        *s->slot = f;
    }
    return NULL;
}

void *bl_find(const char *name) {
    for (size_t i = 0; i < sizeof bl_syms / sizeof bl_syms[0]; i++) {
        if (strcmp(bl_syms[i].name, name) == 0) return *bl_syms[i].slot;
    }
    return NULL;
}

typedef aclnnStatus (*bl_phase2)(void *, uint64_t, aclOpExecutor *, aclrtStream);

aclnnStatus bl_launch(void *fn, void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream) {
    return ((bl_phase2)fn)(workspace, workspaceSize, executor, stream);
}

#pragma GCC visibility pop
