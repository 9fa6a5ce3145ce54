/* test_log.c - log lines as written to stderr: text and JSON shapes, escaping, truncation,
 * level filtering, the request line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <CUnit/CUnit.h>
#include "unit.h"
#include "testutil.h"
#include "log.h"
#include "mem.h"

static enum log_level saved_level;
static int saved_fd = -1;
static int capture_fd = -1;
static char capture_path[64];

static int setup(void)
{
    saved_level = log_min_level;
    return 0;
}

static int teardown(void)
{
    log_setup(saved_level, LOG_TEXT);
    return 0;
}

/* Send stderr to a fresh temp file. */
static void capture_start(void)
{
    fflush(stderr);
    snprintf(capture_path, sizeof capture_path, "/tmp/archgate-test-log-XXXXXX");
    capture_fd = mkstemp(capture_path);
    CU_ASSERT_FATAL(capture_fd >= 0);
    saved_fd = dup(STDERR_FILENO);
    CU_ASSERT_FATAL(saved_fd >= 0);
    CU_ASSERT_FATAL(dup2(capture_fd, STDERR_FILENO) >= 0);
}

/* Restore stderr; returns what was written (mem_free it). */
static char *capture_end(size_t *len)
{
    fflush(stderr);
    dup2(saved_fd, STDERR_FILENO);
    close(saved_fd);
    close(capture_fd);
    char *text = tu_read_file(capture_path, len);
    unlink(capture_path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    return text;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* "2026-11-29T11:07:20.123Z" */
static bool is_timestamp(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? !is_digit(s[i]) : s[i] != shape[i])
            return false;
    }
    return true;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_parse(void)
{
    enum log_level l;
    enum log_format f;
    CU_ASSERT_TRUE(log_parse_level("debug", &l) && l == LOG_DEBUG);
    CU_ASSERT_TRUE(log_parse_level("info", &l) && l == LOG_INFO);
    CU_ASSERT_TRUE(log_parse_level("warn", &l) && l == LOG_WARN);
    CU_ASSERT_TRUE(log_parse_level("error", &l) && l == LOG_ERROR);
    CU_ASSERT_FALSE(log_parse_level("INFO", &l));
    CU_ASSERT_FALSE(log_parse_level("warning", &l));
    CU_ASSERT_FALSE(log_parse_level("", &l));
    CU_ASSERT_FALSE(log_parse_level(NULL, &l));
    CU_ASSERT_TRUE(log_parse_format("text", &f) && f == LOG_TEXT);
    CU_ASSERT_TRUE(log_parse_format("json", &f) && f == LOG_JSON);
    CU_ASSERT_FALSE(log_parse_format("JSON", &f));
    CU_ASSERT_FALSE(log_parse_format("logfmt", &f));
    CU_ASSERT_FALSE(log_parse_format(NULL, &f));
}

static void test_text_line(void)
{
    log_setup(LOG_INFO, LOG_TEXT);
    capture_start();
    log_info("hello %d %s", 42, "world");
    log_error("multi\nline\tmessage");
    size_t len;
    char *out = capture_end(&len);
    CU_ASSERT_EQUAL(count_lines(out), 2);
    CU_ASSERT_TRUE(is_timestamp(out));
    CU_ASSERT_EQUAL(strncmp(out + 24, " info hello 42 world\n", 21), 0);
    char *second = strchr(out, '\n');
    CU_ASSERT_PTR_NOT_NULL_FATAL(second);
    second++;
    CU_ASSERT_TRUE(is_timestamp(second));
    CU_ASSERT_STRING_EQUAL(second + 24, " error multi line message\n");
    mem_free(out);
}

static void test_json_line(void)
{
    static const char *msgs[] = {
        "plain",
        "quote \" backslash \\ done",
        "new\nline and \x01 ctl",
        "caf\xc3\xa9 \xf0\x9f\x90\xa7",
    };
    log_setup(LOG_DEBUG, LOG_JSON);
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        capture_start();
        log_debug("%s", msgs[i]);
        size_t len;
        char *out = capture_end(&len);
        CU_ASSERT_EQUAL(count_lines(out), 1);
        CU_ASSERT_EQUAL(out[len - 1], '\n');
        cJSON *j = tu_parse(out);
        CU_ASSERT_PTR_NOT_NULL_FATAL(j);
        CU_ASSERT_TRUE(is_timestamp(cJSON_GetObjectItemCaseSensitive(j, "ts")->valuestring));
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(j, "level")->valuestring, "debug");
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(j, "msg")->valuestring, msgs[i]);
        CU_ASSERT_EQUAL(strncmp(out, "{\"ts\":\"", 7), 0);
        cJSON_Delete(j);
        mem_free(out);
    }
    log_setup(LOG_INFO, LOG_TEXT);
}

static void test_levels(void)
{
    log_setup(LOG_WARN, LOG_TEXT);
    capture_start();
    log_debug("d");
    log_info("i");
    log_write(LOG_INFO, "direct %s", "info");
    log_request("/validate", "u", "VirtualMachine", "ns", "n", "CREATE", "allowed", 200, 5);
    size_t len;
    char *out = capture_end(&len);
    CU_ASSERT_EQUAL(len, 0);
    mem_free(out);

    capture_start();
    log_warn("w");
    log_error("e");
    log_request("/validate", "u", "VirtualMachine", "ns", "n", "CREATE", "error", 500, 5);
    out = capture_end(&len);
    CU_ASSERT_EQUAL(count_lines(out), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, " warn w\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, " error e\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, " warn admission endpoint=/validate"));
    mem_free(out);

    log_setup(LOG_ERROR, LOG_JSON);
    capture_start();
    log_warn("w");
    out = capture_end(&len);
    CU_ASSERT_EQUAL(len, 0);
    mem_free(out);
    log_setup(LOG_INFO, LOG_TEXT);
}

static void test_request_line(void)
{
    log_setup(LOG_INFO, LOG_TEXT);
    capture_start();
    log_request("/validate", "96b5c0ab", "VirtualMachine", "vms", "analytics-arm", "CREATE", "denied", 200, 123);
    log_request("/mutate", "", "", "", "", "", "invalid", 400, 7);
    log_request("/mutate", "evil\nuid x=1", "VirtualMachine", NULL, "gen", "CREATE", "allowed", 200, 9);
    size_t len;
    char *out = capture_end(&len);
    CU_ASSERT_EQUAL(count_lines(out), 3);
    CU_ASSERT_TRUE(is_timestamp(out));
    CU_ASSERT_EQUAL(strncmp(out + 24, " info admission endpoint=/validate uid=96b5c0ab kind=VirtualMachine "
                                      "object=vms/analytics-arm op=CREATE verdict=denied status=200 us=123\n", 113), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, " info admission endpoint=/mutate uid=\"\" kind=\"\" object=\"\" op=\"\" "
                                       "verdict=invalid status=400 us=7\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, " uid=\"evil\\nuid x=1\" kind=VirtualMachine object=gen op=CREATE"));
    mem_free(out);

    log_setup(LOG_INFO, LOG_JSON);
    capture_start();
    log_request("/validate", "u\"1", "VirtualMachine", "vms", "vm1", "UPDATE", "skipped", 200, 42);
    out = capture_end(&len);
    CU_ASSERT_EQUAL(count_lines(out), 1);
    cJSON *j = tu_parse(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(j, "level")->valuestring, "info");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(j, "msg")->valuestring, "admission");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(j, "endpoint")->valuestring, "/validate");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(j, "uid")->valuestring, "u\"1");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(j, "kind")->valuestring, "VirtualMachine");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(j, "object")->valuestring, "vms/vm1");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(j, "op")->valuestring, "UPDATE");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(j, "verdict")->valuestring, "skipped");
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(j, "status")->valueint, 200);
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(j, "us")->valueint, 42);
    cJSON_Delete(j);
    mem_free(out);
    log_setup(LOG_INFO, LOG_TEXT);
}

static void test_truncation(void)
{
    /* worst case for escaping: every byte becomes \u00XX; lines stay single and JSON stays whole */
    char big[4000];
    memset(big, '\x01', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char name[1000];
    memset(name, '"', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    for (int fmt = 0; fmt < 2; fmt++) {
        log_setup(LOG_INFO, fmt ? LOG_JSON : LOG_TEXT);
        capture_start();
        log_info("%s", big);
        log_request(big, big, big, name, name, big, big, 200, 1);
        size_t len;
        char *out = capture_end(&len);
        CU_ASSERT_EQUAL(count_lines(out), 2);
        char *nl = strchr(out, '\n');
        CU_ASSERT_PTR_NOT_NULL_FATAL(nl);
        CU_ASSERT_TRUE((size_t)(nl - out) < 2048);
        CU_ASSERT_TRUE(strlen(nl + 1) <= 2048);
        if (fmt) {
            *nl = '\0';
            cJSON *a = tu_parse(out), *b = tu_parse(nl + 1);
            CU_ASSERT_PTR_NOT_NULL(a);
            CU_ASSERT_PTR_NOT_NULL(b);
            CU_ASSERT_TRUE(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(b, "us")));
            cJSON_Delete(a);
            cJSON_Delete(b);
        }
        mem_free(out);
    }
    log_setup(LOG_INFO, LOG_TEXT);
}

UNIT_SUITE("log", setup, teardown,
           { "parse level and format", test_parse },
           { "text lines", test_text_line },
           { "JSON lines and escaping", test_json_line },
           { "level filtering", test_levels },
           { "request line", test_request_line },
           { "long lines are cut, stay one line and valid JSON", test_truncation })
