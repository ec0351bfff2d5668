/*
 * exports.c: takes the address of every function of ACL_FUNCS, so that one
 * the fake lacks fails the link (-Wl,--no-undefined); the definitions'
 * prototypes are checked against acl.h's declarations by the compiler.
 */
#include "fake.h"

#define FK_ADDR(lib, ret, name, params, args) {#name, lib, (void (*)(void))name},

const struct fk_export fk_exports[] = {ACL_FUNCS(FK_ADDR)};

const size_t fk_nexports = sizeof fk_exports / sizeof fk_exports[0];
