/* version.h - the archgate version string. */
#ifndef ARCHGATE_VERSION_H
#define ARCHGATE_VERSION_H
#define ARCHGATE_VERSION "0.1.0"
#endif
