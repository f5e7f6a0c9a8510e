/*
 * test_s3_xml.c - the S3 ListObjectsV2 and error parsers (s3_xml.c): what a
 * page yields, and what they refuse (DOCTYPE, entities, missing fields,
 * overlong values, bad sizes, the wrong document).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/s3_xml.h"
#include "test.h"

void test_s3_list_xml(void);
void test_s3_list_xml_refusals(void);
void test_s3_error_xml(void);

typedef struct seen {
    int n;
    char keys[4][64];
    uint64_t sizes[4];
    char etags[4][64];
    int stop_at; /* return 7 at this entry (0: never) */
} seen;

static int collect(void *ctx, const char *key, uint64_t size, const char *etag)
{
    seen *s = ctx;
    if (s->n < 4) {
        snprintf(s->keys[s->n], sizeof s->keys[0], "%s", key);
        s->sizes[s->n] = size;
        snprintf(s->etags[s->n], sizeof s->etags[0], "%s", etag ? etag : "(none)");
    }
    s->n++;
    return s->stop_at && s->n == s->stop_at ? 7 : 0;
}

static int parse(const char *xml, seen *s, s3_list_page *page, char *err)
{
    memset(s, 0, sizeof *s);
    err[0] = 0;
    return s3_list_parse(xml, strlen(xml), collect, s, page, err, 256);
}

void test_s3_list_xml(void)
{
    const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                      "<Name>models</Name><Prefix>team a/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>"
                      "<IsTruncated>true</IsTruncated>"
                      "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
                      "<Contents><Key>team a/config.json</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
                      "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>612</Size>"
                      "<Owner><ID>x</ID></Owner><StorageClass>STANDARD</StorageClass></Contents>"
                      "<Contents><Key>team a/a&amp;b+c=d \xc3\xa9.bin</Key><Size>18446744073709551615</Size></Contents>"
                      "<Contents><Size>0</Size><Key>team a/sub/</Key><ETag>\"d41d8cd98f00b204e9800998ecf8427e\"</ETag>"
                      "</Contents>"
                      "</ListBucketResult>";
    seen s;
    s3_list_page page;
    char err[256];
    CHECK(parse(xml, &s, &page, err) == 0);
    CHECK(s.n == 3 && page.entries == 3);
    CHECK(page.truncated == 1);
    CHECK(strcmp(page.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=") == 0);
    CHECK(strcmp(s.keys[0], "team a/config.json") == 0 && s.sizes[0] == 612);
    CHECK(strcmp(s.etags[0], "\"9b2cf535f27731c974343645a3985328\"") == 0);
    CHECK(strcmp(s.keys[1], "team a/a&b+c=d \xc3\xa9.bin") == 0 && s.sizes[1] == UINT64_MAX);
    CHECK(strcmp(s.etags[1], "(none)") == 0);
    CHECK(strcmp(s.keys[2], "team a/sub/") == 0 && s.sizes[2] == 0); /* folder markers are the caller's call */

    /* the last page, and an empty listing */
    CHECK(parse("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>", &s, &page, err) == 0);
    CHECK(s.n == 0 && page.truncated == 0 && page.next_token[0] == 0);

    /* a callback's code stops the parse and comes back unchanged */
    memset(&s, 0, sizeof s);
    s.stop_at = 2;
    CHECK(s3_list_parse(xml, strlen(xml), collect, &s, &page, err, sizeof err) == 7);
    CHECK(s.n == 2);
}

void test_s3_list_xml_refusals(void)
{
    seen s;
    s3_list_page page;
    char err[256];
    const char *bad[] = {
        /* entity expansion: refused at the DOCTYPE, before any entity exists */
        "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]>"
        "<ListBucketResult><Contents><Key>&b;</Key><Size>1</Size></Contents></ListBucketResult>",
        "<!DOCTYPE ListBucketResult SYSTEM \"file:///etc/passwd\"><ListBucketResult/>",
        "<ListAllMyBucketsResult/>",
        "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key></Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Key>j</Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>18446744073709551616</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size> 1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k&#0;</Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>1</Size></Contents>",
        "",
        "<a><b><c><d><e><f><g><h><i><j><k><l><m><n><o><p><q></q></p></o></n></m></l></k></j></i></h></g></f></e>"
        "</d></c></b></a>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i], &s, &page, err);
        CHECK(rc == -1);
        CHECK(err[0] != 0);
        if (rc != -1)
            fprintf(stderr, "    accepted bad listing #%zu\n", i);
    }
    CHECK(parse(bad[0], &s, &page, err) == -1 && strstr(err, "DOCTYPE") != NULL);

    /* nesting deeper than the cap inside a valid root */
    char deep[512];
    size_t k = (size_t)snprintf(deep, sizeof deep, "<ListBucketResult>");
    for (int i = 0; i < 20; i++)
        k += (size_t)snprintf(deep + k, sizeof deep - k, "<x>");
    for (int i = 0; i < 20; i++)
        k += (size_t)snprintf(deep + k, sizeof deep - k, "</x>");
    snprintf(deep + k, sizeof deep - k, "</ListBucketResult>");
    CHECK(parse(deep, &s, &page, err) == -1 && strstr(err, "deep") != NULL);

    /* a key over S3_KEY_MAX is an error, never cut into another key */
    const char *head = "<ListBucketResult><Contents><Key>",
               *tail = "</Key><Size>1</Size></Contents></ListBucketResult>";
    size_t off = strlen(head), cap = off + S3_KEY_MAX + 1 + strlen(tail) + 1;
    char *big = malloc(cap);
    if (big) {
        memcpy(big, head, off);
        memset(big + off, 'k', S3_KEY_MAX + 1);
        snprintf(big + off + S3_KEY_MAX + 1, cap - off - S3_KEY_MAX - 1, "%s", tail);
        CHECK(parse(big, &s, &page, err) == -1 && s.n == 0);
        /* exactly at the cap is fine */
        snprintf(big + off + S3_KEY_MAX, cap - off - S3_KEY_MAX, "%s", tail);
        CHECK(parse(big, &s, &page, err) == 0 && s.n == 1);
        free(big);
    }
}

void test_s3_error_xml(void)
{
    char code[64], msg[64];
    const char *e = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code>"
                    "<Message>The specified bucket does not exist</Message><BucketName>nope</BucketName></Error>";
    CHECK(s3_error_parse(e, strlen(e), code, sizeof code, msg, sizeof msg) == 0);
    CHECK(strcmp(code, "NoSuchBucket") == 0 && strcmp(msg, "The specified bucket does not exist") == 0);
    /* control bytes never reach a log line; long messages are cut to the buffer */
    e = "<Error><Code>X&#9;Y&#x7f;</"
        "Code><Message>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "</Message></Error>";
    CHECK(s3_error_parse(e, strlen(e), code, sizeof code, msg, sizeof msg) == 0);
    CHECK(strcmp(code, "X?Y?") == 0 && strlen(msg) == sizeof msg - 1);
    e = "<ListBucketResult/>";
    CHECK(s3_error_parse(e, strlen(e), code, sizeof code, msg, sizeof msg) == -1);
    e = "<html>502 Bad Gateway</html>";
    CHECK(s3_error_parse(e, strlen(e), code, sizeof code, msg, sizeof msg) == -1);
}
