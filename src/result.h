/* result.h - the one result type every archgate function that can fail returns. */
#ifndef ARCHGATE_RESULT_H
#define ARCHGATE_RESULT_H

enum ag_result {
    AG_OK = 0,
    AG_EINVAL,    /* input is malformed or violates a limit the caller can report */
    AG_ENOMEM,    /* an allocation failed */
    AG_ETOOBIG,   /* input is larger than a configured limit */
    AG_EIO,       /* a file or socket operation failed */
    AG_EINTERNAL  /* an invariant broke; answered as 500, never a crash */
};

/* Short stable name of a result ("ok", "invalid", ...), for logs. */
const char *ag_result_name(enum ag_result r);

#endif
