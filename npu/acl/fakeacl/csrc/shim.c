/*
 * shim.c: libnnopbase.so and libopapi.so. They define nothing: each depends
 * on libascendcl.so, which holds every function, so dlsym on a handle of
 * either finds its symbols through that dependency.
 */
typedef int fk_shim_empty;
