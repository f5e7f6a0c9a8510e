/*
 * aws_env.c - S3 settings from the AWS conventions, so modelgate finds the
 * same credentials, region and endpoint the aws CLI and the SDKs find:
 *
 *   credentials  AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN),
 *                else the profile (AWS_PROFILE, AWS_DEFAULT_PROFILE, "default") in
 *                the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else
 *                ~/.aws/credentials), else that profile in the config file
 *   region       AWS_REGION, AWS_DEFAULT_REGION, else `region` of the profile in
 *                the config file (AWS_CONFIG_FILE, else ~/.aws/config)
 *   endpoint     AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL
 *
 * Only fields the caller left NULL are filled: flags and the config file win.
 * Credentials are one set: a key, its secret and its session token always
 * come from the same place, never mixed. A profile named explicitly must
 * exist; a key without its secret is an error rather than a silent switch to
 * anonymous requests.
 *
 * The files are read with bounds (size, line length, line count): they are
 * the user's own, but a wrong path can point anywhere.
 *
 * Lifetime: the strings stored into src_config are copies kept for the rest
 * of the process (a list reachable from a global, so leak checkers see them
 * as live). The function is meant to run once at start-up; each call keeps
 * a few more bytes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

#define ENV_FILE_MAX (1u << 20) /* a shared config file larger than this is not one */
#define ENV_LINE_MAX 8192u      /* session tokens run to a few KiB */

typedef struct kept {
    struct kept *next;
    char s[];
} kept;

static kept *kept_list;
static pthread_mutex_t kept_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *keep(const char *s, size_t n)
{
    kept *k = malloc(sizeof *k + n + 1);
    if (!k)
        return NULL;
    memcpy(k->s, s, n);
    k->s[n] = 0;
    pthread_mutex_lock(&kept_mu);
    k->next = kept_list;
    kept_list = k;
    pthread_mutex_unlock(&kept_mu);
    return k->s;
}

/* What one profile holds across the two files (malloc'd, or NULL). */
typedef struct profile {
    char *key, *secret, *token, *region;
    int found; /* the section exists in some file */
} profile;

static void profile_free(profile *p)
{
    free(p->key);
    free(p->secret);
    free(p->token);
    free(p->region);
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t'))
        (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r'))
        (*n)--;
}

/* Does a section header name our profile? In the config file a profile is
 * "[profile NAME]" (and "[default]" for the default one); in the credentials
 * file it is "[NAME]". */
static int section_is(const char *s, size_t n, const char *name, int config)
{
    size_t nl = strlen(name);
    if (config && n > 8 && strncmp(s, "profile", 7) == 0 && (s[7] == ' ' || s[7] == '\t')) {
        s += 8, n -= 8;
        trim(&s, &n);
        return n == nl && strncmp(s, name, n) == 0;
    }
    if (config && strcmp(name, "default") != 0)
        return 0;
    return n == nl && strncmp(s, name, n) == 0;
}

static void take(char **slot, const char *v, size_t n)
{
    if (*slot)
        return; /* the first file that states a value wins */
    *slot = strndup(v, n);
}

/* One "key = value" line of the wanted section. */
static void ini_value(profile *p, const char *line, size_t n, int config)
{
    const char *eq = memchr(line, '=', n);
    if (!eq)
        return;
    const char *k = line, *v = eq + 1;
    size_t kn = (size_t)(eq - line), vn = n - kn - 1;
    trim(&k, &kn);
    trim(&v, &vn);
    if (vn == 0)
        return;
#define KEY_IS(name) (kn == sizeof(name) - 1 && strncmp(k, name, kn) == 0)
    if (KEY_IS("aws_access_key_id"))
        take(&p->key, v, vn);
    else if (KEY_IS("aws_secret_access_key"))
        take(&p->secret, v, vn);
    else if (KEY_IS("aws_session_token"))
        take(&p->token, v, vn);
    else if (config && KEY_IS("region"))
        take(&p->region, v, vn);
#undef KEY_IS
}

/* Reads the profile's section of an INI file. Lines indented deeper than the
 * key above them continue it or nest under it (`s3 =` blocks): skipped. */
static int ini_read(const char *path, const char *name, int config, profile *p, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT || errno == ENOTDIR)
            return SRC_OK;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return SRC_EINVAL;
    }
    char *buf = malloc(ENV_FILE_MAX + 1);
    size_t len = buf ? fread(buf, 1, ENV_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (!buf)
        return SRC_ENOMEM;
    int rc = SRC_OK, in_section = 0;
    size_t key_indent = SIZE_MAX; /* indentation of the last key line; SIZE_MAX: none since the header */
    if (len > ENV_FILE_MAX) {
        snprintf(err, errlen, "%s is larger than %u bytes", path, ENV_FILE_MAX);
        rc = SRC_EINVAL;
    }
    for (size_t off = 0, lineno = 1; rc == SRC_OK && off < len; lineno++) {
        const char *line = buf + off, *nl = memchr(line, '\n', len - off);
        size_t n = nl ? (size_t)(nl - line) : len - off;
        off += n + (nl != NULL);
        if (n > ENV_LINE_MAX) {
            snprintf(err, errlen, "%s:%zu: line longer than %u bytes", path, lineno, ENV_LINE_MAX);
            rc = SRC_EINVAL;
            break;
        }
        size_t indent = 0;
        while (indent < n && (line[indent] == ' ' || line[indent] == '\t'))
            indent++;
        trim(&line, &n);
        if (n == 0 || line[0] == '#' || line[0] == ';')
            continue;
        if (line[0] == '[') {
            const char *end = memchr(line, ']', n);
            const char *s = line + 1;
            size_t sn = end ? (size_t)(end - s) : 0;
            trim(&s, &sn);
            in_section = end && section_is(s, sn, name, config);
            p->found |= in_section;
            key_indent = SIZE_MAX;
            continue;
        }
        if (key_indent != SIZE_MAX && indent > key_indent)
            continue;
        key_indent = indent;
        if (in_section)
            ini_value(p, line, n, config);
    }
    free(buf);
    return rc;
}

/* $HOME/.aws/NAME unless the variable names the file. */
static int file_path(char *out, size_t cap, const char *var, const char *name)
{
    const char *v = env(var), *home = env("HOME");
    int n = v ? snprintf(out, cap, "%s", v) : home ? snprintf(out, cap, "%s/.aws/%s", home, name) : -1;
    return n >= 0 && (size_t)n < cap;
}

static int read_profile(profile *p, const char *name, char *err, size_t errlen)
{
    char path[4096];
    int rc = SRC_OK;
    if (file_path(path, sizeof path, "AWS_SHARED_CREDENTIALS_FILE", "credentials"))
        rc = ini_read(path, name, 0, p, err, errlen);
    if (rc == SRC_OK && file_path(path, sizeof path, "AWS_CONFIG_FILE", "config"))
        rc = ini_read(path, name, 1, p, err, errlen);
    return rc;
}

/* Stores a copy of v into *slot for the process's lifetime. */
static int put(const char **slot, const char *v)
{
    if (!v)
        return SRC_OK;
    *slot = keep(v, strlen(v));
    return *slot ? SRC_OK : SRC_ENOMEM;
}

static int credentials(src_config *cfg, const profile *p, const char *pname, char *err, size_t errlen)
{
    if (cfg->s3_access_key || cfg->s3_secret_key) {
        if (cfg->s3_access_key && cfg->s3_secret_key)
            return SRC_OK;
        snprintf(err, errlen, "an S3 access key needs its secret key (and the other way round)");
        return SRC_EINVAL;
    }
    const char *key = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY"), *token = NULL;
    if (key || secret) {
        if (!key || !secret) {
            snprintf(err, errlen, "%s is set but %s is not", key ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                     key ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
            return SRC_EINVAL;
        }
        token = env("AWS_SESSION_TOKEN");
    } else if (p->key || p->secret) {
        if (!p->key || !p->secret) {
            snprintf(err, errlen, "AWS profile %s has %s but no %s", pname,
                     p->key ? "aws_access_key_id" : "aws_secret_access_key",
                     p->key ? "aws_secret_access_key" : "aws_access_key_id");
            return SRC_EINVAL;
        }
        key = p->key, secret = p->secret, token = p->token;
    } else {
        return SRC_OK; /* anonymous */
    }
    int rc = put(&cfg->s3_access_key, key);
    if (rc == SRC_OK)
        rc = put(&cfg->s3_secret_key, secret);
    if (rc == SRC_OK && !cfg->s3_session_token)
        rc = put(&cfg->s3_session_token, token);
    return rc;
}

int src_s3_config_from_env(src_config *cfg, char *err, size_t errlen)
{
    const char *named = env("AWS_PROFILE");
    if (!named)
        named = env("AWS_DEFAULT_PROFILE");
    const char *pname = named ? named : "default";
    profile p = {0};
    int rc = read_profile(&p, pname, err, errlen);
    if (rc == SRC_OK && named && !p.found) {
        snprintf(err, errlen, "AWS profile %s is not in the shared credentials or config file", pname);
        rc = SRC_EINVAL;
    }
    if (rc == SRC_OK)
        rc = credentials(cfg, &p, pname, err, errlen);
    if (rc == SRC_OK && !cfg->s3_region) {
        const char *region = env("AWS_REGION");
        rc = put(&cfg->s3_region, region ? region : env("AWS_DEFAULT_REGION") ? env("AWS_DEFAULT_REGION") : p.region);
    }
    if (rc == SRC_OK && !cfg->s3_endpoint)
        rc = put(&cfg->s3_endpoint, env("AWS_ENDPOINT_URL_S3") ? env("AWS_ENDPOINT_URL_S3") : env("AWS_ENDPOINT_URL"));
    profile_free(&p);
    if (rc == SRC_ENOMEM)
        snprintf(err, errlen, "out of memory reading the AWS settings");
    return rc;
}
