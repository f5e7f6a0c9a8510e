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
    if (obj < 0) {
        mg_find(s, "MG-NPY-400", hoff, NULL, "the .npy header has no readable 'descr'");
        return 0;
    }
    mg_set_format(s, obj ? "npy-object" : "npy");
    if (!obj)
        return 0;
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

const mg_module mg_module_npy = {"npy", npy_probe, npy_scan};
