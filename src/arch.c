/* arch.c - architecture names (GOARCH, with uname spellings normalised) and arch sets. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "arch.h"

static const char *const names[ARCH_COUNT] = {
    [ARCH_AMD64] = "amd64", [ARCH_ARM64] = "arm64", [ARCH_S390X] = "s390x",
    [ARCH_PPC64LE] = "ppc64le", [ARCH_386] = "386", [ARCH_ARM] = "arm", [ARCH_RISCV64] = "riscv64",
};

static const struct { const char *alias; int id; } aliases[] = {
    { "x86_64", ARCH_AMD64 }, { "x86-64", ARCH_AMD64 }, { "aarch64", ARCH_ARM64 },
    { "arm64v8", ARCH_ARM64 }, { "i386", ARCH_386 }, { "i686", ARCH_386 },
    { "ppc64el", ARCH_PPC64LE }, { "armhf", ARCH_ARM }, { "armv7l", ARCH_ARM },
};

int arch_parse(const char *name)
{
    if (!name || !*name)
        return ARCH_NONE;
    for (int i = 0; i < ARCH_COUNT; i++)
        if (strcasecmp(name, names[i]) == 0)
            return i;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(name, aliases[i].alias) == 0)
            return aliases[i].id;
    return ARCH_NONE;
}

const char *arch_name(int id)
{
    return (id >= 0 && id < ARCH_COUNT) ? names[id] : "unknown";
}

bool arch_is_vm_capable(int id)
{
    return id == ARCH_AMD64 || id == ARCH_ARM64 || id == ARCH_S390X;
}

int arch_set_count(archset s)
{
    int n = 0;
    for (; s; s &= (archset)(s - 1))
        n++;
    return n;
}

int arch_set_single(archset s)
{
    if (arch_set_count(s) != 1)
        return ARCH_NONE;
    for (int i = 0; i < ARCH_COUNT; i++)
        if (arch_in(s, i))
            return i;
    return ARCH_NONE;
}

bool arch_set_parse_list(const char *list, archset *out)
{
    if (!list)
        return false;
    archset s = 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        char item[32];
        size_t n = (size_t)(end - start);
        if (n == 0)
            continue;
        if (n >= sizeof item)
            return false;
        memcpy(item, start, n);
        item[n] = '\0';
        int id = arch_parse(item);
        if (id == ARCH_NONE)
            return false;
        s |= arch_bit(id);
    }
    if (!s)
        return false;
    *out = s;
    return true;
}

char *arch_set_format(archset s, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    buf[0] = '\0';
    if (!s) {
        snprintf(buf, len, "none");
        return buf;
    }
    size_t used = 0;
    for (int i = 0; i < ARCH_COUNT; i++) {
        if (!arch_in(s, i))
            continue;
        int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
    return buf;
}
