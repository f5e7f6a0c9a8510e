/*
 * zip.c - zip archives, and the formats built on them: PyTorch checkpoints
 * (torch.save since 1.6), TorchScript archives (torch.jit.save) and NumPy's
 * npz. Spec: PKWARE APPNOTE; PyTorch's caffe2/serialize/inline_container.cc
 * (the reader torch.load uses); numpy/lib/npyio.py.
 *
 * Layout of a PyTorch checkpoint: every member lives under one root folder
 * ("archive/" or the file's stem): data.pkl (the object, a pickle whose
 * storages are persistent ids), data/0..N (raw storages, stored, never
 * compressed), version, byteorder, and for TorchScript also code/ (Python
 * source of the TorchScript program) and constants.pkl.
 *
 * Attacks: a pickle member under a name no scanner looks at; names or sizes
 * that differ between local headers and the central directory; duplicate
 * names (which one a reader takes differs); entries outside the root; flag
 * bits and bad CRCs that make Python's zipfile refuse a member PyTorch
 * reads; prepended data that shifts offsets for one reader only; zip slip
 * and link entries; decompression bombs.
 *
 * How we read it: through the central directory, like PyTorch, with every
 * disagreement reported. Every member is routed by content (a pickle is a
 * pickle whatever its name); stored tensor data is never read beyond the
 * probe, so verdict time does not depend on the size of the weights.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "../internal.h"
#include "../util/banned.h"
#include "../util/member.h"
#include "../util/zip.h"

static int zip_probe(mg_span head, mg_str name)
{
    (void)name;
    int z = mg_zip_probe(head);
    return z == 2 ? 90 : z == 1 ? 60 : 0;
}

static int ends_with(mg_str s, const char *suffix)
{
    size_t n = strlen(suffix);
    return s.len >= n && memcmp(s.p + s.len - n, suffix, n) == 0;
}

static int has_part(mg_str s, const char *part)
{
    size_t n = strlen(part);
    for (size_t i = 0; i + n <= s.len; i++)
        if (memcmp(s.p + i, part, n) == 0 && (i == 0 || s.p[i - 1] == '/'))
            return 1;
    return 0;
}

/* What kind of zip this is, from its member names (content decides how each
 * member is read; the flavour only names the file's format). */
enum flav { F_ZIP, F_PYTORCH, F_TORCHSCRIPT, F_NPZ, F_KERAS };
static const char *const flav_names[] = {"zip", "pytorch", "torchscript", "npz", "keras"};

static enum flav flavour(const mg_zip *z)
{
    int pkl = 0, code = 0, consts = 0, npy = 0, kconfig = 0, kmeta = 0;
    for (size_t i = 0; i < z->n; i++) {
        mg_str nm = z->entries[i].name;
        pkl |= ends_with(nm, "/data.pkl") || mg_str_eq(nm, "data.pkl");
        code |= has_part(nm, "code/");
        consts |= ends_with(nm, "/constants.pkl");
        npy += ends_with(nm, ".npy");
        kconfig |= mg_str_eq(nm, "config.json");
        kmeta |= mg_str_eq(nm, "metadata.json");
    }
    if (kconfig && kmeta) /* Keras v3: config.json and metadata.json at the root */
        return F_KERAS;
    if (code && consts)
        return F_TORCHSCRIPT;
    if (pkl)
        return F_PYTORCH;
    if (z->n && (size_t)npy == z->n)
        return F_NPZ;
    return F_ZIP;
}

/* Reports names that appear twice (exactly, or ignoring case as miniz's
 * lookup does): readers differ on which copy they take. */
static void check_duplicates(mg_scan *s, const mg_zip *z)
{
    mg_nameset seen;
    mg_nameset_init(&seen, &s->mem);
    for (size_t i = 0; i < z->n; i++) {
        if (mg_nameset_add(&seen, z->entries[i].name) != 1)
            continue;
        char nm[256];
        mg_member_printable(nm, sizeof nm, z->entries[i].name);
        mg_find(s, "MG-ARV-402", z->entries[i].cd_off, nm,
                "member `%s` appears twice (names compared ignoring case, as PyTorch's reader does); one "
                "reader takes the first copy, another the last, so a scanner and a loader can see different "
                "files",
                nm);
    }
    mg_nameset_free(&seen);
}

/* Local header versus central directory: PyTorch trusts the central
 * directory, streaming readers trust the local headers. */
static void check_local(mg_scan *s, const mg_zip_entry *e, const char *nm)
{
    if (e->local_bad) {
        mg_find(s, "MG-ARV-400", e->local_off, nm, "the local header or data of member `%s` lies outside the file", nm);
        return;
    }
    if (e->local_name.len != e->name.len || memcmp(e->local_name.p, e->name.p, e->name.len) != 0)
        mg_find(s, "MG-ARV-401", e->local_off, nm,
                "member `%s` has another name in its local header: readers that walk local headers see a "
                "different file",
                nm);
    if (e->local_method != e->method)
        mg_find(s, "MG-ARV-401", e->local_off, nm, "member `%s` declares different compression methods", nm);
    int descriptor = (e->local_flags & 8) && e->local_csize == 0;
    if (!descriptor && e->local_csize != 0xffffffffu &&
        (e->local_csize != e->csize || (e->local_usize != e->usize && e->local_usize != 0xffffffffu)))
        mg_find(s, "MG-ARV-401", e->local_off, nm,
                "member `%s` declares different sizes in its local header and the central directory", nm);
    if (e->flags & 0x61)
        mg_find(s, "MG-ARV-401", e->cd_off, nm,
                "member `%s` is flagged as encrypted or patched (flag bits 0x%x): Python's zipfile refuses it "
                "while PyTorch reads it",
                nm, e->flags & 0x61);
}

/* The member's bytes: a span of the file when stored, inflated into the
 * scan arena (within the inflate and ratio budgets) when deflated. */
/* Output of a deflated member: never more than its declared size. */
typedef struct member_sink {
    mg_spool *sp;
    uint64_t declared, got;
} member_sink;

static int member_write(void *ctx, const uint8_t *p, size_t n)
{
    member_sink *m = ctx;
    m->got += n;
    return m->got > m->declared || mg_spool_write(m->sp, p, n) != 0;
}

/* The member's bytes: a span of the file when stored; when deflated, a
 * spool (memory file, released after the member) within the budgets. */
static int member_data(mg_scan *s, const mg_zip_entry *e, mg_span in, const char *nm, mg_span *out, mg_spool *sp)
{
    mg_span raw = mg_span_sub(in, (size_t)e->data_off, (size_t)e->csize);
    if (e->method == 0) {
        *out = raw;
        if (e->usize != e->csize)
            mg_find(s, "MG-ARV-401", e->cd_off, nm, "stored member `%s` declares two different sizes", nm);
        return 0;
    }
    if (e->method != 8) {
        mg_find(s, "MG-ARV-400", e->cd_off, nm,
                "member `%s` uses compression method %u, which the scanner does not read: its content is "
                "unknown",
                nm, e->method);
        return -1;
    }
    uint64_t ratio_cap = (e->csize + 1) * (uint64_t)s->lim->max_ratio;
    if (e->usize > ratio_cap || e->usize > s->lim->max_inflated - s->inflated) {
        mg_find(s, "MG-ARV-404", e->cd_off, nm,
                "member `%s` would inflate %llu bytes to %llu: over the decompression limits (a bomb)", nm,
                (unsigned long long)e->csize, (unsigned long long)e->usize);
        return -1;
    }
    if (mg_spool_open(sp) != 0)
        return mg_limit(s, MG_LIM_MEMORY, e->cd_off, "no memory file for inflating a member");
    member_sink ms = {sp, e->usize, 0};
    mg_inflate_io io = {member_write, NULL, &ms};
    int rc = mg_inflate(raw, -15, &io, NULL);
    uint64_t got = ms.got;
    s->inflated += got;
    if (got > e->usize) {
        mg_find(s, "MG-ARV-404", e->cd_off, nm, "member `%s` inflates to more than its declared size", nm);
        return -1;
    }
    if (rc != MG_INFLATE_OK || got != e->usize) {
        mg_find(s, "MG-ARV-400", e->data_off, nm, "member `%s` is not valid deflate data of its declared size", nm);
        return -1;
    }
    if (mg_spool_map(sp, out) != 0)
        return mg_limit(s, MG_LIM_MEMORY, e->cd_off, "an inflated member could not be mapped");
    return 0;
}

/* The module that reads this member, or NULL. Raw tensor data can look like
 * anything for a few bytes: a member counts as a pickle only with a PROTO
 * header or a final STOP, as real pickles have. */
static const mg_module *member_module(mg_span d, mg_str name)
{
    const mg_module *m = mg_detect(d, name);
    if (m == &mg_module_pickle &&
        !(d.len >= 2 && mg_pickle_plausible(d, 0) && (d.p[0] == 0x80 || d.p[d.len - 1] == '.')))
        return NULL;
    return m;
}

enum { CRC_SMALL = 64 * 1024 };

/* TorchScript code/ members are Python source the model runs at inference. */
static void torchscript_code(mg_scan *s, mg_span d, const char *nm)
{
    /* not getattr: TorchScript itself writes getattr(self, "0") for submodules */
    static const char *const bad[] = {
        "__import__", "eval(", "exec(", "os.", "subprocess", "open(", "builtins", "torch.ops.load_library", "ctypes"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = strlen(bad[i]);
        for (size_t k = 0; k + n <= d.len; k++)
            if (memcmp(d.p + k, bad[i], n) == 0 && (k == 0 || !isalnum(d.p[k - 1]) || bad[i][0] == '_')) {
                mg_find_at(s, nm, "MG-TCHST-301", k, bad[i],
                           "TorchScript code in `%s` calls `%s`, which TorchScript programs do not need", nm, bad[i]);
                break;
            }
    }
}

static void check_root(mg_scan *s, const mg_zip *z, const mg_zip_entry *e, const char *nm)
{
    mg_str first = z->entries[0].name;
    const char *slash = memchr(first.p, '/', first.len);
    size_t root = slash ? (size_t)(slash - first.p) + 1 : 0;
    if (root && (e->name.len < root || memcmp(e->name.p, first.p, root) != 0))
        mg_find(s, "MG-PYTCH-401", e->cd_off, nm,
                "member `%s` lies outside the checkpoint's root folder `%.*s`, where PyTorch never looks", nm,
                (int)(root - 1), first.p);
}

static void read_member(mg_scan *s, const mg_zip_entry *e, mg_span d, const char *nm, enum flav fl);

static void scan_member(mg_scan *s, const mg_zip *z, const mg_zip_entry *e, mg_span in, enum flav fl)
{
    char nm[512];
    mg_member_printable(nm, sizeof nm, e->name);
    const char *why = mg_member_path_problem(e->name);
    if (why)
        mg_find(s, "MG-ARV-403", e->cd_off, nm,
                "member `%s` has %s: extracting the archive writes outside its folder (zip slip)", nm, why);
    if (mg_zip_entry_is_link(e))
        mg_find(s, "MG-ARV-403", e->cd_off, nm,
                "member `%s` is a symbolic link: extracting it lets later members write or read elsewhere", nm);
    check_local(s, e, nm);
    if (fl == F_PYTORCH || fl == F_TORCHSCRIPT)
        check_root(s, z, e, nm);
    if (e->local_bad)
        return;
    mg_span d;
    mg_spool sp = {.fd = -1};
    if (member_data(s, e, in, nm, &d, &sp) == 0)
        read_member(s, e, d, nm, fl);
    if (sp.fd >= 0)
        mg_spool_close(&sp);
}

static void read_member(mg_scan *s, const mg_zip_entry *e, mg_span d, const char *nm, enum flav fl)
{
    if (fl == F_KERAS && mg_str_eq(e->name, "config.json")) {
        const char *saved = s->loc;
        char *loc =
            s->loc[0] ? mg_arena_printf(&s->work, "%s:%s", s->loc, nm) : mg_arena_strndup(&s->work, nm, strlen(nm));
        s->loc = loc ? loc : saved;
        mg_keras_config(s, d, 0);
        s->loc = saved;
    }
    if (fl == F_TORCHSCRIPT && has_part(e->name, "code/") && ends_with(e->name, ".py"))
        torchscript_code(s, d, nm);
    const mg_module *m = member_module(d, e->name);
    /* PyTorch unpickles these by name whatever they look like */
    if (!m && (fl == F_PYTORCH || fl == F_TORCHSCRIPT) && ends_with(e->name, ".pkl"))
        m = &mg_module_pickle;
    int scan = m != NULL;
    /* CRCs cost a full read, so only members we read anyway and small ones
     * are checked: verdict time stays independent of the tensor bytes */
    if ((scan || d.len <= CRC_SMALL) && d.len <= UINT32_MAX && crc32(0, d.p, (uInt)d.len) != e->crc)
        mg_find(s, "MG-ARV-405", e->cd_off, nm,
                "member `%s` fails its CRC check: PyTorch reads it anyway, Python's zipfile refuses it", nm);
    if (m) /* detected once: the child scan does not probe again */
        mg_scan_child_as(s, m, d, nm, e->data_off);
}

/* Sparse scans: one member's local header, and of its data what read_member
 * will read: compressed data whole; of stored data the probe windows, and
 * the whole member when something reads it (a module claims it, a pickle by
 * name, a small member's CRC). The first request for a member asks for its
 * header and the head of its data together, to save a round trip. */
static int entry_ready(mg_scan *s, mg_span in, const mg_zip_entry *e)
{
    if (e->local_off >= in.len)
        return 1; /* the scan reports it */
    uint64_t left = in.len - e->local_off;
    uint64_t first = 30 + e->name.len + 256 + (e->csize < MG_PROBE_HEAD ? e->csize : MG_PROBE_HEAD);
    if (!mg_present(s, in, e->local_off, left < 30 ? left : 30))
        return mg_need(s, in, e->local_off, left < first ? left : first);
    if (e->local_bad)
        return 1;
    if (!mg_have(s, in, e->local_off, e->data_off - e->local_off))
        return 0;
    if (e->method != 0)
        return mg_have(s, in, e->data_off, e->csize);
    uint64_t head = e->csize < MG_PROBE_HEAD ? e->csize : MG_PROBE_HEAD;
    uint64_t tail = e->csize < MG_PROBE_TAIL ? e->csize : MG_PROBE_TAIL;
    int ok = mg_have(s, in, e->data_off, head);
    ok = mg_have(s, in, e->data_off + e->csize - tail, tail) && ok;
    if (!ok)
        return 0;
    mg_span d = mg_span_sub(in, (size_t)e->data_off, (size_t)e->csize);
    if (member_module(d, e->name) || e->csize <= CRC_SMALL || ends_with(e->name, ".pkl") || mg_zip_probe(d) > 0)
        return mg_have(s, in, e->data_off, e->csize);
    return 1;
}

/* Sparse scans: everything the scan will read is present (else it was
 * asked for, for every member at once). */
static int zip_ready(mg_scan *s, mg_span in)
{
    uint64_t tail = in.len < MG_PROBE_TAIL ? in.len : MG_PROBE_TAIL;
    if (!mg_have(s, in, in.len - tail, tail))
        return 0;
    mg_zip z;
    int rc = mg_zip_read(&z, in, &s->work, s->lim->max_members);
    if (rc == -2)
        return 1;
    if (z.cd_off <= in.len && z.cd_size <= in.len - z.cd_off && !mg_have(s, in, z.cd_off, z.cd_size))
        return 0;
    if (rc != 0)
        return 1; /* unreadable with its directory present: the scan reports it */
    int ok = !z.concat || mg_have(s, in, 0, z.concat);
    for (size_t i = 0; i < z.n; i++)
        ok = entry_ready(s, in, &z.entries[i]) && ok;
    return ok;
}

static int zip_scan(mg_scan *s, mg_span in, mg_str name)
{
    (void)name;
    if (s->sparse && !zip_ready(s, in))
        return 0;
    mg_zip z;
    int rc = mg_zip_read(&z, in, &s->work, s->lim->max_members);
    if (rc == -2)
        return mg_limit(s, MG_LIM_MEMBERS, z.eocd_off, "the archive has more members than the member limit");
    if (z.zip64_other) /* reported even when one of the two readings fails */
        mg_find(s, "MG-ARV-401", z.zip64_other, NULL,
                "the zip64 locator points at another end record than the one before it: PyTorch's reader and "
                "Python's zipfile read two different central directories");
    if (rc != 0) {
        mg_find(s, "MG-ARV-400", z.error_off, NULL, "unreadable zip archive: %s", z.error);
        return 0;
    }
    enum flav fl = flavour(&z);
    mg_set_format(s, flav_names[fl]);
    if (z.concat) {
        mg_find(s, "MG-ARV-401", z.cd_off, NULL,
                "%llu bytes precede the archive: Python's zipfile shifts every offset by them, PyTorch does "
                "not, so the two read different members",
                (unsigned long long)z.concat);
        /* without the PK magic at offset 0, torch.load takes its legacy path
         * and unpickles these bytes: they are content like any member */
        mg_scan_child(s, mg_span_sub(in, 0, (size_t)z.concat), "prepended-data", 0);
    }
    if (fl == F_TORCHSCRIPT)
        mg_find(s, "MG-TCHST-300", 0, NULL,
                "TorchScript archive: its code/ folder is a program that runs when the model is used");
    check_duplicates(s, &z);
    for (size_t i = 0; i < z.n && !s->timed_out; i++)
        scan_member(s, &z, &z.entries[i], in, fl);
    return 0;
}

const mg_module mg_module_zip = {"zip", zip_probe, zip_scan, 1};
