/*
 * ops.c: every operator against a straightforward reference, on small odd
 * shapes with strided views and broadcasting.
 */
#include "t.h"

const t_case t_op_cases[] = {
    {NULL, NULL},
};
