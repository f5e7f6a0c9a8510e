/*
 * source.h - remote model sources: S3 buckets (s3.c, SigV4 over libcurl) and
 * Hugging Face-compatible hubs (hub.c). A source lists the files of one model
 * and reads byte ranges of them; stage.c turns that into a local folder of
 * sparse files holding exactly the bytes the engine needs for a verdict.
 *
 * This lives in the command, not in libmodelgate: the library never touches
 * the network. Nothing here reads the environment either; src_config is
 * filled by the caller (flags, config file, MODELGATE_* and AWS_* variables).
 *
 * SSRF: a source only ever talks to the endpoints in its src_config. A
 * model URI names a bucket/prefix or a repo, never a host of its own.
 */
#ifndef MG_SOURCE_H
#define MG_SOURCE_H

#include <stddef.h>
#include <stdint.h>

enum {
    SRC_OK = 0,
    SRC_ENOMEM = -1,
    SRC_EINVAL = -2,    /* not a URI this source understands, or malformed */
    SRC_ENOTFOUND = -3, /* no such bucket/prefix/repo/revision/file */
    SRC_EDENIED = -4,   /* upstream refused our credentials (401/403) */
    SRC_EUPSTREAM = -5, /* unreachable, timed out, 5xx, or an answer we cannot parse */
    SRC_ELIMIT = -6,    /* more files or bytes than the source limits allow */
};

typedef struct src_config {
    /* Hugging Face-compatible hub: every hf:// and https://huggingface.co URI goes here. */
    const char *hub_endpoint; /* default "https://huggingface.co" */
    const char *hub_token;    /* optional bearer token */
    /* S3: from AWS conventions, resolved by the caller. */
    const char *s3_endpoint; /* NULL: https://s3.<region>.amazonaws.com (virtual-host style) */
    const char *s3_region;   /* default "us-east-1" */
    const char *s3_access_key, *s3_secret_key, *s3_session_token; /* NULL: anonymous */
    long timeout_s;                                               /* per request; default 30 */
    uint32_t max_files;                                           /* files per model; default 100000 */
    /* Staging (stage.c), 0 for the defaults: files up to `stage_whole` bytes
     * are fetched whole in the first round (256 KiB), larger ones their first
     * `stage_head` (64 KiB) and last `stage_tail` bytes (128 KiB). */
    uint64_t stage_whole, stage_head, stage_tail;
    /* S3 listing, 0 for the defaults: keys per ListObjectsV2 page (1000, the
     * most S3 gives) and pages per model (1000). */
    uint32_t s3_page_keys, max_pages;
} src_config;

/* One file of a remote model. */
typedef struct src_object {
    char *path; /* relative to the model root, '/'-separated, never ".." or absolute */
    uint64_t size;
    char *etag;   /* as the upstream gives it (S3 ETag, hub blob/LFS oid), or NULL */
    char *sha256; /* lowercase hex when upstream states it (hub LFS oid), else NULL */
} src_object;

typedef struct src_remote src_remote;

/* 1 when `uri` names a remote model (s3://, hf://, http(s)://): one of these
 * sources decides about it; file:// and paths are local. */
int src_is_remote(const char *uri);

/* Opens the model a URI names (s3://bucket/prefix/, hf://ns/name[@rev],
 * hf://datasets/ns/name, hf://spaces/ns/name, hf://name,
 * https://huggingface.co/[datasets/|spaces/]ns/name[/tree/rev]) and lists
 * its files.
 * SRC_EINVAL for any other URI. On failure `err` says why in one sentence. */
int src_open(src_remote **out, const src_config *cfg, const char *uri, char *err, size_t errlen);
void src_close(src_remote *r);

/* Identity for the report: namespace ("bucket" or hub namespace; "" for a
 * legacy one-segment hub model such as gpt2), name (last prefix segment or
 * repo name), revision (hub: the resolved 40-hex commit; S3: NULL, the engine
 * then uses a content digest), and the hub repository type ("model",
 * "dataset" or "space"; NULL for S3). Borrowed from r. */
const char *src_namespace(const src_remote *r);
const char *src_name(const src_remote *r);
const char *src_revision(const src_remote *r);
const char *src_repo_type(const src_remote *r);

size_t src_count(const src_remote *r);
const src_object *src_object_at(const src_remote *r, size_t i);

/* Reads [off, off+len) of file i with one ranged request and writes it at
 * the same offset of fd (pwrite). Short or oversize answers are errors. */
int src_read(src_remote *r, size_t i, uint64_t off, uint64_t len, int fd, char *err, size_t errlen);

/* Fills the S3 fields of cfg that are still NULL from the AWS conventions
 * (aws_env.c: AWS_* variables, ~/.aws/credentials and ~/.aws/config). The
 * strings it stores are kept for the rest of the process. SRC_EINVAL with
 * `err` set on a half-given key pair, a missing named profile or an
 * unreadable file. */
int src_s3_config_from_env(src_config *cfg, char *err, size_t errlen);

#endif
