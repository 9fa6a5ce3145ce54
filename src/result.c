/* result.c - names of the result codes. */
#include "result.h"

const char *ag_result_name(enum ag_result r)
{
    switch (r) {
    case AG_OK: return "ok";
    case AG_EINVAL: return "invalid";
    case AG_ENOMEM: return "out of memory";
    case AG_ETOOBIG: return "too big";
    case AG_EIO: return "i/o error";
    case AG_EINTERNAL: return "internal error";
    }
    return "unknown";
}
