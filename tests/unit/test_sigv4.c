/*
 * test_sigv4.c - the S3 request signer against AWS's published SigV4
 * examples (sig-v4-header-based-auth: "GET Object" and "GET Bucket (List
 * Objects)", examplebucket, 20130524T000000Z), the AWS-style encoding of
 * paths and of continuation tokens (which carry + / =), refusal of header
 * injection; and the AWS environment/profile reader (aws_env.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sources/sigv4.h"
#include "sources/source.h"
#include "test.h"

void test_sigv4_get_object(void);
void test_sigv4_list_objects(void);
void test_sigv4_encoding(void);
void test_sigv4_refusals(void);
void test_aws_env(void);

static const sigv4_creds aws_example = {
    .access_key = "AKIAIOSFODNN7EXAMPLE",
    .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    .region = "us-east-1",
    .service = "s3",
};

void test_sigv4_get_object(void)
{
    sigv4_input in = {.method = "GET",
                      .host = "examplebucket.s3.amazonaws.com",
                      .path = "/test.txt",
                      .range = "bytes=0-9",
                      .amz_date = "20130524T000000Z"};
    sigv4_output out;
    CHECK(sigv4_sign(&out, &in, &aws_example) == 0);
    CHECK(out.canonical_request &&
          strcmp(out.canonical_request, "GET\n/test.txt\n\n"
                                        "host:examplebucket.s3.amazonaws.com\n"
                                        "range:bytes=0-9\n"
                                        "x-amz-content-sha256:" SIGV4_EMPTY_SHA256 "\n"
                                        "x-amz-date:20130524T000000Z\n\n"
                                        "host;range;x-amz-content-sha256;x-amz-date\n" SIGV4_EMPTY_SHA256) == 0);
    CHECK(out.string_to_sign &&
          strcmp(out.string_to_sign, "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                                     "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972") == 0);
    CHECK(out.authorization &&
          strcmp(out.authorization,
                 "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                 "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                 "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41") == 0);
    CHECK(out.query && out.query[0] == 0);
    sigv4_output_free(&out);
}

void test_sigv4_list_objects(void)
{
    /* given out of order: the canonical query sorts them */
    sigv4_param q[] = {{"prefix", "J"}, {"max-keys", "2"}};
    sigv4_input in = {.method = "GET",
                      .host = "examplebucket.s3.amazonaws.com",
                      .path = "/",
                      .query = q,
                      .nquery = 2,
                      .amz_date = "20130524T000000Z"};
    sigv4_output out;
    CHECK(sigv4_sign(&out, &in, &aws_example) == 0);
    CHECK(out.query && strcmp(out.query, "max-keys=2&prefix=J") == 0);
    CHECK(out.canonical_request &&
          strcmp(out.canonical_request, "GET\n/\nmax-keys=2&prefix=J\n"
                                        "host:examplebucket.s3.amazonaws.com\n"
                                        "x-amz-content-sha256:" SIGV4_EMPTY_SHA256 "\n"
                                        "x-amz-date:20130524T000000Z\n\n"
                                        "host;x-amz-content-sha256;x-amz-date\n" SIGV4_EMPTY_SHA256) == 0);
    CHECK(out.string_to_sign &&
          strstr(out.string_to_sign, "\ndf57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7") != NULL);
    CHECK(out.authorization &&
          strcmp(out.authorization,
                 "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                 "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
                 "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") == 0);
    sigv4_output_free(&out);
}

void test_sigv4_encoding(void)
{
    char *e = sigv4_encode("a b+c=d/e~f_g.h-i", 17, 0);
    CHECK(e && strcmp(e, "a%20b%2Bc%3Dd%2Fe~f_g.h-i") == 0);
    free(e);
    e = sigv4_encode("/team a/\xc3\xa9t\xc3\xa9+1/x=y", 19, 1);
    CHECK(e && strcmp(e, "/team%20a/%C3%A9t%C3%A9%2B1/x%3Dy") == 0);
    free(e);

    /* a continuation token (base64: + / =) and a prefix with a space, unsorted */
    sigv4_param q[] = {{"prefix", "team a/bert/"},
                       {"max-keys", "1000"},
                       {"list-type", "2"},
                       {"continuation-token", "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="}};
    sigv4_input in = {.method = "GET",
                      .host = "127.0.0.1:4569",
                      .path = "/models",
                      .query = q,
                      .nquery = 4,
                      .amz_date = "20240102T030405Z"};
    sigv4_output out;
    CHECK(sigv4_sign(&out, &in, &aws_example) == 0);
    CHECK(out.query && strcmp(out.query, "continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2Fwm36Hy4vbOwM%3D"
                                         "&list-type=2&max-keys=1000&prefix=team%20a%2Fbert%2F") == 0);
    CHECK(out.canonical_request && strncmp(out.canonical_request, "GET\n/models\ncontinuation-token=", 31) == 0);
    CHECK(out.authorization && strstr(out.authorization, "/20240102/us-east-1/s3/aws4_request,") != NULL);
    sigv4_output_free(&out);

    /* a session token is signed, after x-amz-date */
    sigv4_creds c = aws_example;
    c.session_token = "FQoGZXIvYXdzEXAMPLE+/=";
    in.query = NULL;
    in.nquery = 0;
    CHECK(sigv4_sign(&out, &in, &c) == 0);
    CHECK(out.signed_headers &&
          strcmp(out.signed_headers, "host;x-amz-content-sha256;x-amz-date;x-amz-security-token") == 0);
    CHECK(out.canonical_request && strstr(out.canonical_request, "\nx-amz-security-token:FQoGZXIvYXdzEXAMPLE+/=\n"));
    sigv4_output_free(&out);

    char d[17];
    sigv4_date(d, 1369353600); /* 2013-05-24T00:00:00Z */
    CHECK(strcmp(d, "20130524T000000Z") == 0);
}

void test_sigv4_refusals(void)
{
    sigv4_input in = {.method = "GET", .host = "h", .path = "/k", .amz_date = "20130524T000000Z"};
    sigv4_output out;
    sigv4_creds c = aws_example;
    c.session_token = "tok\r\nX-Injected: 1"; /* header injection through the environment */
    CHECK(sigv4_sign(&out, &in, &c) == -1);
    CHECK(out.authorization == NULL);
    c = aws_example;
    c.region = "us-east-1/evil";
    CHECK(sigv4_sign(&out, &in, &c) == -1);
    in.amz_date = "2013-05-24";
    CHECK(sigv4_sign(&out, &in, &aws_example) == -1);
    in.amz_date = "20130524T000000Z";
    in.path = "k"; /* not absolute */
    CHECK(sigv4_sign(&out, &in, &aws_example) == -1);
    in.path = "/k";
    sigv4_param many[17];
    for (size_t i = 0; i < 17; i++)
        many[i] = (sigv4_param){"k", "v"};
    in.query = many;
    in.nquery = 17;
    CHECK(sigv4_sign(&out, &in, &aws_example) == -1);
    in.nquery = 16;
    CHECK(sigv4_sign(&out, &in, &aws_example) == 0);
    sigv4_output_free(&out);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void clear_aws_env(void)
{
    const char *vars[] = {"AWS_ACCESS_KEY_ID",   "AWS_SECRET_ACCESS_KEY",       "AWS_SESSION_TOKEN", "AWS_REGION",
                          "AWS_DEFAULT_REGION",  "AWS_ENDPOINT_URL_S3",         "AWS_ENDPOINT_URL",  "AWS_PROFILE",
                          "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

void test_aws_env(void)
{
    char dir[] = "/tmp/mg-awsenv-XXXXXX", creds[64], conf[64], err[256];
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    snprintf(creds, sizeof creds, "%s/credentials", dir);
    snprintf(conf, sizeof conf, "%s/config", dir);
    write_file(creds, "# comment\n[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key=SDEFAULT\n\n"
                      "[ci]\n  aws_access_key_id =  AKCI  \n; other comment\naws_secret_access_key = S/CI+x=\n"
                      "aws_session_token = TOKCI\n[half]\naws_access_key_id = AKHALF\n");
    write_file(conf,
               "[default]\nregion = eu-west-1\n[profile ci]\nregion=ap-south-1\ns3 =\n  addressing_style = path\n");
    char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    clear_aws_env();
    setenv("HOME", "/nonexistent-mg-home", 1);

    /* nothing anywhere: anonymous, defaults left to the caller */
    src_config cfg = {0};
    CHECK(src_s3_config_from_env(&cfg, err, sizeof err) == 0);
    CHECK(!cfg.s3_access_key && !cfg.s3_secret_key && !cfg.s3_region && !cfg.s3_endpoint);

    /* the environment */
    setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SENV", 1);
    setenv("AWS_SESSION_TOKEN", "TOKENV", 1);
    setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
    setenv("AWS_ENDPOINT_URL", "http://generic:1", 1);
    setenv("AWS_ENDPOINT_URL_S3", "http://s3only:2", 1);
    memset(&cfg, 0, sizeof cfg);
    CHECK(src_s3_config_from_env(&cfg, err, sizeof err) == 0);
    CHECK(cfg.s3_access_key && strcmp(cfg.s3_access_key, "AKENV") == 0);
    CHECK(cfg.s3_secret_key && strcmp(cfg.s3_secret_key, "SENV") == 0);
    CHECK(cfg.s3_session_token && strcmp(cfg.s3_session_token, "TOKENV") == 0);
    CHECK(cfg.s3_region && strcmp(cfg.s3_region, "us-west-2") == 0);
    CHECK(cfg.s3_endpoint && strcmp(cfg.s3_endpoint, "http://s3only:2") == 0);
    setenv("AWS_REGION", "eu-central-1", 1); /* AWS_REGION wins over AWS_DEFAULT_REGION */
    unsetenv("AWS_ENDPOINT_URL_S3");
    memset(&cfg, 0, sizeof cfg);
    CHECK(src_s3_config_from_env(&cfg, err, sizeof err) == 0);
    CHECK(cfg.s3_region && strcmp(cfg.s3_region, "eu-central-1") == 0);
    CHECK(cfg.s3_endpoint && strcmp(cfg.s3_endpoint, "http://generic:1") == 0);

    /* what the caller set wins, field by field; credentials stay one set */
    src_config set = {.s3_access_key = "AKFLAG", .s3_secret_key = "SFLAG", .s3_region = "sa-east-1"};
    CHECK(src_s3_config_from_env(&set, err, sizeof err) == 0);
    CHECK(strcmp(set.s3_access_key, "AKFLAG") == 0 && strcmp(set.s3_secret_key, "SFLAG") == 0);
    CHECK(set.s3_session_token == NULL); /* not mixed into the caller's keys */
    CHECK(strcmp(set.s3_region, "sa-east-1") == 0);
    CHECK(set.s3_endpoint && strcmp(set.s3_endpoint, "http://generic:1") == 0);

    /* a key without its secret is an error, not a silent anonymous request */
    unsetenv("AWS_SECRET_ACCESS_KEY");
    memset(&cfg, 0, sizeof cfg);
    err[0] = 0;
    CHECK(src_s3_config_from_env(&cfg, err, sizeof err) == SRC_EINVAL);
    CHECK(strstr(err, "AWS_SECRET_ACCESS_KEY") != NULL);

    /* profiles from the shared files */
    clear_aws_env();
    setenv("AWS_SHARED_CREDENTIALS_FILE", creds, 1);
    setenv("AWS_CONFIG_FILE", conf, 1);
    memset(&cfg, 0, sizeof cfg);
    CHECK(src_s3_config_from_env(&cfg, err, sizeof err) == 0);
    CHECK(cfg.s3_access_key && strcmp(cfg.s3_access_key, "AKDEFAULT") == 0);
    CHECK(cfg.s3_secret_key && strcmp(cfg.s3_secret_key, "SDEFAULT") == 0);
    CHECK(cfg.s3_session_token == NULL);
    CHECK(cfg.s3_region && strcmp(cfg.s3_region, "eu-west-1") == 0);
    setenv("AWS_PROFILE", "ci", 1);
    memset(&cfg, 0, sizeof cfg);
    CHECK(src_s3_config_from_env(&cfg, err, sizeof err) == 0);
    CHECK(cfg.s3_access_key && strcmp(cfg.s3_access_key, "AKCI") == 0);
    CHECK(cfg.s3_secret_key && strcmp(cfg.s3_secret_key, "S/CI+x=") == 0);
    CHECK(cfg.s3_session_token && strcmp(cfg.s3_session_token, "TOKCI") == 0);
    CHECK(cfg.s3_region && strcmp(cfg.s3_region, "ap-south-1") == 0);
    setenv("AWS_PROFILE", "half", 1);
    memset(&cfg, 0, sizeof cfg);
    CHECK(src_s3_config_from_env(&cfg, err, sizeof err) == SRC_EINVAL);
    setenv("AWS_PROFILE", "missing", 1); /* named explicitly: must exist */
    memset(&cfg, 0, sizeof cfg);
    err[0] = 0;
    CHECK(src_s3_config_from_env(&cfg, err, sizeof err) == SRC_EINVAL);
    CHECK(strstr(err, "missing") != NULL);

    /* an overlong line is refused, not truncated into a different value */
    char *big = malloc(20000);
    if (big) {
        memcpy(big, "[default]\naws_access_key_id = ", 30);
        memset(big + 30, 'A', 19000);
        memcpy(big + 19030, "\naws_secret_access_key = s\n", 28);
        write_file(creds, big);
        free(big);
    }
    unsetenv("AWS_PROFILE");
    memset(&cfg, 0, sizeof cfg);
    CHECK(src_s3_config_from_env(&cfg, err, sizeof err) == SRC_EINVAL);

    clear_aws_env();
    if (saved_home)
        setenv("HOME", saved_home, 1);
    free(saved_home);
    unlink(creds);
    unlink(conf);
    rmdir(dir);
}
