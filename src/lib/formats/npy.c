/*
 * npy.c - NumPy's .npy arrays. Spec: numpy/lib/format.py (NEP 1).
 *
 * Layout: "\x93NUMPY", major and minor version bytes, the header length
 * (u16 little-endian in 1.0, u32 in 2.0 and 3.0), an ASCII (3.0: UTF-8)
 * Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}
 * padded with spaces and a newline, then the array data. When the dtype
 * holds Python objects ('O', also inside structured dtypes), the data is a
 * pickle of the array (numpy.save uses pickle.dump).
 *
 * Attacks: an object array is a pickle behind an innocuous extension, run by
 * numpy.load(allow_pickle=True), by joblib and by every loader that enables
 * pickles; a malformed header makes naive scanners skip the file.
 *
 * How we read it: the header is checked and its descr searched for object
 * codes; the data of an object array goes through the pickle machine
 * (routed by content, so a pickle hidden in a numeric array's data is not
 * followed: numpy never unpickles it). Numeric data is never read.
 */
#include <string.h>

#include "../internal.h"
#include "../util/banned.h"

static int npy_probe(mg_span head, mg_str name)
{
    (void)name;
    return mg_span_starts(head, "\x93NUMPY", 6) ? 95 : 0;
}

/* 1 when a quoted string in the descr text is an object type code such as
 * 'O', '|O' or '<O8'. Strings elsewhere (field names) rarely look like that;
 * when one does, the data is still scanned, never allowed unread. */
static int descr_has_object(mg_span h)
{
    static const char key[] = "'descr'";
    const uint8_t *d = NULL;
    for (size_t i = 0; i + sizeof key - 1 <= h.len; i++)
        if (memcmp(h.p + i, key, sizeof key - 1) == 0) {
            d = h.p + i + sizeof key - 1;
            break;
        }
    if (!d)
        return -1;
    size_t left = h.len - (size_t)(d - h.p);
    for (size_t i = 0; i < left; i++) {
        if (d[i] != '\'' && d[i] != '"')
            continue;
        uint8_t q = d[i];
        size_t j = i + 1;
        while (j < left && d[j] != q)
            j++;
        if (j >= left)
            return -1;
        const uint8_t *s = d + i + 1;
        size_t n = j - i - 1;
        if (n && (s[0] == '<' || s[0] == '>' || s[0] == '|' || s[0] == '='))
            s++, n--;
        if (n >= 1 && s[0] == 'O') {
            size_t k = 1;
            while (k < n && s[k] >= '0' && s[k] <= '9')
                k++;
            if (k == n)
                return 1;
        }
        if (n == 12 && memcmp(s, "fortran_order", 12) == 0)
            break; /* past the descr value */
        i = j;
    }
    return 0;
}

/* The text after `'key':` in the header dict, or an empty span. */
static mg_span header_value(mg_span h, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl + 2 < h.len; i++)
        if ((h.p[i] == '\'' || h.p[i] == '"') && memcmp(h.p + i + 1, key, kl) == 0 && h.p[i + 1 + kl] == h.p[i]) {
            size_t j = i + kl + 2;
            while (j < h.len && (h.p[j] == ' ' || h.p[j] == ':'))
                j++;
            return mg_span_from(h, j);
        }
    return (mg_span){NULL, 0};
}

/* Item size of a simple descr such as '<f4' or '|b1'; 0 when not simple. */
static uint64_t simple_itemsize(mg_span v)
{
    if (v.len < 3 || (v.p[0] != '\'' && v.p[0] != '"'))
        return 0;
    size_t i = 1;
    if (strchr("<>|=", v.p[i]))
        i++;
    if (i >= v.len || !strchr("biufcSVUMm?", v.p[i]))
        return 0;
    char kind = (char)v.p[i++];
    uint64_t n = 0;
    int digits = 0;
    while (i < v.len && v.p[i] >= '0' && v.p[i] <= '9' && n < (1u << 30))
        n = n * 10 + (uint64_t)(v.p[i++] - '0'), digits++;
    if ((kind == 'M' || kind == 'm') && i < v.len && v.p[i] == '[') { /* datetime unit: '<M8[ns]' */
        const uint8_t *close = memchr(v.p + i, ']', v.len - i);
        if (!close)
            return 0;
        i = (size_t)(close - v.p) + 1;
    }
    if (i >= v.len || v.p[i] != v.p[0] || (!digits && kind != '?'))
        return 0;
    if (kind == '?')
        return 1;
    return kind == 'U' ? n * 4 : n;
}

/* numpy.load reads shape x itemsize bytes and fails when fewer follow. */
static void check_data_size(mg_scan *s, mg_span h, size_t hoff, uint64_t have)
{
    uint64_t isz = simple_itemsize(header_value(h, "descr"));
    mg_span sh = header_value(h, "shape");
    if (!isz || sh.len < 2 || sh.p[0] != '(')
        return;
    uint64_t count = 1, v = 0;
    int in_num = 0;
    for (size_t i = 1; i < sh.len && sh.p[i] != ')'; i++) {
        uint8_t c = sh.p[i];
        if (c >= '0' && c <= '9') {
            if (v > (UINT64_MAX - 9) / 10)
                return;
            v = v * 10 + (c - '0');
            in_num = 1;
        } else if (c == ',' || c == ' ') {
            if (in_num && __builtin_mul_overflow(count, v, &count))
                return;
            v = 0;
            in_num = 0;
        } else {
            return; /* not a plain tuple of integers: leave it to the loader */
        }
    }
    uint64_t need;
    if (in_num && __builtin_mul_overflow(count, v, &count))
        return;
    if (__builtin_mul_overflow(count, isz, &need) || need > have)
        mg_find(s, "MG-NPY-400", hoff, NULL,
                "the header declares %llu bytes of array data but %llu follow: numpy.load fails on this file",
                (unsigned long long)(need > have ? need : UINT64_MAX), (unsigned long long)have);
}

static int npy_scan(mg_scan *s, mg_span in, mg_str name)
{
    (void)name;
    mg_rd r = mg_rd_new(in);
    mg_rd_skip(&r, 6);
    uint8_t major = mg_rd_u8(&r);
    mg_rd_u8(&r);
    uint64_t hlen = major == 1 ? mg_rd_le(&r, 2) : mg_rd_le(&r, 4);
    if (r.bad || major < 1 || major > 3) {
        mg_find(s, "MG-NPY-400", 6, NULL, "unsupported .npy version %u or truncated preamble", major);
        return 0;
    }
    size_t hoff = r.off;
    mg_span header = mg_rd_take(&r, (size_t)(hlen > SIZE_MAX ? SIZE_MAX : hlen));
    if (r.bad) {
        mg_find(s, "MG-NPY-400", hoff, NULL, "the .npy header declares %llu bytes, more than the file holds",
                (unsigned long long)hlen);
        return 0;
    }
    if (header.len < 2 || header.p[0] != '{' || memchr(header.p, '}', header.len) == NULL) {
        mg_find(s, "MG-NPY-400", hoff, NULL, "the .npy header is not a dict literal");
        return 0;
    }
    int obj = descr_has_object(header);
    mg_span dv = header_value(header, "descr");
    /* any other single type name ('object', 'str', ...) numpy may resolve to
     * an object dtype: the data is then read as the pickle it would be */
    if (obj == 0 && dv.len && (dv.p[0] == '\'' || dv.p[0] == '"') && !simple_itemsize(dv))
        obj = 1;
    if (obj < 0) {
        mg_find(s, "MG-NPY-400", hoff, NULL, "the .npy header has no readable 'descr'");
        return 0;
    }
    mg_set_format(s, obj ? "npy-object" : "npy");
    if (!obj) {
        check_data_size(s, header, hoff, in.len - r.off);
        return 0;
    }
    mg_span data = mg_span_from(in, r.off);
    if (!mg_pickle_plausible(data, 0)) {
        mg_find(s, "MG-NPY-400", r.off, NULL,
                "an object array's data is not a pickle stream: numpy.load(allow_pickle=True) fails here");
        return 0;
    }
    mg_pickle_result res;
    mg_pickle_stream(s, in, r.off, NULL, &res);
    if (res.stopped && res.end < in.len) {
        mg_find(s, "MG-PKL-401", res.end, NULL, "%llu bytes follow the object array's pickle",
                (unsigned long long)(in.len - res.end));
        mg_pickle_scan_trailing(s, in, (size_t)res.end);
    }
    return 0;
}

const mg_module mg_module_npy = {"npy", npy_probe, npy_scan, 0};
