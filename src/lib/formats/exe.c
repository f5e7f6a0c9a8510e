/*
 * exe.c - executables shipped with a model: ELF (Linux), PE (Windows),
 * Mach-O (macOS, including fat/universal binaries), scripts with a `#!`
 * interpreter line, and Actually Portable Executables (APE), the format of
 * llamafile. Specs: the System V ABI (ELF header), Microsoft's PE/COFF
 * specification, Apple's <mach-o/loader.h> and <mach-o/fat.h>, execve(2) for
 * `#!`, and cosmopolitan's ape/ape.S for the APE header.
 *
 * Layout (what we read): ELF: "\x7fELF", class (32/64), data (endianness),
 * version 1, then e_type and e_machine. PE: "MZ", e_lfanew (u32 at 0x3c)
 * pointing at "PE\0\0", the COFF header (machine, characteristics) and the
 * optional header's magic. Mach-O: a 32- or 64-bit magic in either byte
 * order, then cputype and filetype; fat binaries: 0xCAFEBABE (or the 64-bit
 * 0xCAFEBABF), a big-endian count and that many fat_arch records. APE: a
 * file starting "MZqFpD='" (or "jartsr='"): an MZ header that a Unix shell
 * also runs as a script, then ELF/Mach-O/PE loaders; llamafile appends the
 * GGUF weights in a zip.
 *
 * Attacks: a model folder is a download that users and tools treat as data;
 * a binary or script in it runs with the user's rights as soon as something
 * (a README's instructions, a "convert.sh", a loader plugin, a Docker build)
 * executes it. A model weights file that is itself an executable (llamafile)
 * runs native code by design.
 *
 * How we read it: only the headers, through offsets checked against the
 * file's length; nothing is executed or loaded. Every executable is one
 * finding (MG-EXE-300) naming its kind. Java class files share 0xCAFEBABE
 * with fat Mach-O binaries; they are told apart as file(1) does: a fat count
 * is small (Java puts its version, 45 or more, there), and the first record
 * must name a known CPU. A `#!` script for Python is also read as Python
 * source (formats/text.c), so calls to os.system and the like are reported.
 */
#include <stdio.h>
#include <string.h>

#include "../internal.h"
#include "../util/banned.h"
#include "../util/member.h"

enum kind { K_NONE, K_ELF, K_PE, K_DOS, K_MACHO, K_FAT, K_SCRIPT, K_APE };

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int is_macho_magic(uint32_t m)
{
    return m == 0xfeedface || m == 0xfeedfacf || m == 0xcefaedfe || m == 0xcffaedfe;
}

/* An APE header: "MZ", up to 8 letters or digits, then "='" (the shell
 * assignment that makes the MZ header a script line). */
static int ape_header(mg_span d)
{
    if (mg_span_starts(d, "jartsr='", 8)) /* APE without the Windows header */
        return 1;
    if (!mg_span_starts(d, "MZ", 2))
        return 0;
    for (size_t i = 2; i < d.len && i < 12; i++) {
        uint8_t c = d.p[i];
        if (c == '=')
            return i + 1 < d.len && d.p[i + 1] == '\'';
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return 0;
}

static const char *cpu_name(uint32_t cpu)
{
    switch (cpu) {
    case 7:
        return "x86";
    case 0x01000007:
        return "x86-64";
    case 12:
        return "ARM";
    case 0x0100000c:
        return "ARM64";
    case 0x0200000c:
        return "ARM64_32";
    case 18:
        return "PowerPC";
    case 0x01000012:
        return "PowerPC64";
    default:
        return NULL;
    }
}

/* Fat (universal) Mach-O, not a Java class: a small count, records inside
 * the file, and a known CPU in the first record. Reads at most `d.len`. */
static int fat_macho(mg_span d)
{
    if (d.len < 8 || (be32(d.p) != 0xcafebabe && be32(d.p) != 0xcafebabf))
        return 0;
    uint32_t n = be32(d.p + 4);
    size_t rec = be32(d.p) == 0xcafebabf ? 32 : 20;
    if (n == 0 || n > 30) /* Java class files put their version (45+) here */
        return 0;
    if (d.len < 8 + rec) /* the first record must be readable */
        return 0;
    return cpu_name(be32(d.p + 8)) != NULL;
}

/* A DOS "MZ" header whose fields are sane (text that starts with "MZ" is
 * not): bytes on the last page < 512, at least one page, a header of at
 * least two paragraphs. */
static int dos_header(mg_span d)
{
    if (d.len < 64 || !mg_span_starts(d, "MZ", 2))
        return 0;
    uint64_t last = mg_le(d.p + 2, 2), pages = mg_le(d.p + 4, 2), hdr = mg_le(d.p + 8, 2);
    return last < 512 && pages >= 1 && hdr >= 2;
}

/* PE: e_lfanew inside the window, "PE\0\0" there. */
static int pe_header(mg_span d, size_t *pe_off)
{
    if (d.len < 64 || !mg_span_starts(d, "MZ", 2))
        return 0;
    uint64_t lfanew = mg_le(d.p + 0x3c, 4);
    if (lfanew < 64 || lfanew > d.len - 4) /* the PE signature must lie in the bytes we may read */
        return 0;
    if (memcmp(d.p + lfanew, "PE\0\0", 4) != 0)
        return 0;
    *pe_off = (size_t)lfanew;
    return 1;
}

static int elf_header(mg_span d)
{
    /* "\177ELF": an octal escape, since "\x7fELF" would read \x7fE as one hex escape */
    return d.len >= 7 && memcmp(d.p, "\177ELF", 4) == 0 && (d.p[4] == 1 || d.p[4] == 2) &&
           (d.p[5] == 1 || d.p[5] == 2) && d.p[6] == 1;
}

/* "#!" then an interpreter path on a printable line: random bytes that start
 * with "#!" are one file in 65536, and no script starts "#!\x07\x93". */
static int shebang_line(mg_span d)
{
    size_t i = 2;
    while (i < d.len && d.p[i] == ' ')
        i++;
    if (i >= d.len || d.p[i] != '/')
        return 0;
    for (; i < d.len && i < 512 && d.p[i] != '\n'; i++)
        if (d.p[i] < 0x20 && d.p[i] != '\t' && d.p[i] != '\r')
            return 0;
    return 1;
}

static enum kind classify(mg_span d)
{
    size_t pe;
    if (ape_header(d))
        return K_APE;
    if (elf_header(d))
        return K_ELF;
    if (d.len >= 4 && is_macho_magic(be32(d.p)))
        return K_MACHO;
    if (fat_macho(d))
        return K_FAT;
    if (pe_header(d, &pe))
        return K_PE;
    if (dos_header(d))
        return K_DOS;
    if (mg_span_starts(d, "#!", 2) && shebang_line(d))
        return K_SCRIPT;
    return K_NONE;
}

static int exe_probe(mg_span data, mg_str name)
{
    (void)name;
    mg_span head = {data.p, data.len < 4096 ? data.len : 4096};
    switch (classify(head)) {
    case K_APE:
        return 95;
    case K_ELF:
    case K_MACHO:
    case K_PE:
        return 90;
    case K_FAT:
        return 80;
    case K_SCRIPT:
        return 90; /* above text and JSON: a script is an executable */
    case K_DOS:
        return 40;
    default:
        return 0;
    }
}

static void report(mg_scan *s, const char *format, const char *kind, const char *detail)
{
    mg_set_format(s, format);
    mg_find(s, "MG-EXE-300", 0, kind,
            "%s%s: native code or a script that runs with the user's rights when anything executes it; model "
            "folders are data and should not carry programs",
            kind, detail);
}

static const char *elf_machine(uint64_t m)
{
    switch (m) {
    case 3:
        return "x86";
    case 62:
        return "x86-64";
    case 40:
        return "ARM";
    case 183:
        return "AArch64";
    case 243:
        return "RISC-V";
    case 21:
        return "PowerPC64";
    case 22:
        return "s390";
    default:
        return "another machine";
    }
}

static void scan_elf(mg_scan *s, mg_span in)
{
    mg_rd r = mg_rd_new(in);
    mg_rd_skip(&r, 5);
    int big = mg_rd_u8(&r) == 2;
    mg_rd_skip(&r, 10); /* version, OS ABI, padding: e_type follows at 16 */
    uint64_t type = mg_rd_le(&r, 2), machine = mg_rd_le(&r, 2);
    if (big) {
        type = (type >> 8 | type << 8) & 0xffff;
        machine = (machine >> 8 | machine << 8) & 0xffff;
    }
    const char *t = type == 2 ? "executable" : type == 3 ? "shared object or PIE" : type == 1 ? "object" : "file";
    char detail[96];
    if (r.bad)
        snprintf(detail, sizeof detail, " (header truncated at %zu bytes)", in.len);
    else
        snprintf(detail, sizeof detail, " (%s, %s)", t, elf_machine(machine));
    report(s, "elf", "ELF binary", detail);
}

static void scan_pe(mg_scan *s, mg_span in)
{
    size_t pe = 0;
    char detail[96] = "";
    if (pe_header(in, &pe)) {
        mg_rd r = mg_rd_new(mg_span_from(in, pe + 4));
        uint64_t machine = mg_rd_le(&r, 2);
        mg_rd_skip(&r, 16);
        uint64_t ch = mg_rd_le(&r, 2), magic = mg_rd_le(&r, 2);
        const char *arch = machine == 0x8664   ? "x86-64"
                           : machine == 0x14c  ? "x86"
                           : machine == 0xaa64 ? "ARM64"
                                               : "other";
        if (!r.bad)
            snprintf(detail, sizeof detail, " (%s%s, %s)", magic == 0x20b ? "PE32+" : "PE32",
                     (ch & 0x2000) ? " DLL" : "", arch);
    }
    report(s, "pe", "Windows PE executable", detail);
}

static void scan_macho(mg_scan *s, mg_span in, int fat)
{
    char detail[96] = "";
    if (fat) {
        uint32_t n = be32(in.p + 4);
        snprintf(detail, sizeof detail, " (universal, %u architecture%s, first %s)", n, n == 1 ? "" : "s",
                 cpu_name(be32(in.p + 8)));
        report(s, "macho", "Mach-O binary", detail);
        return;
    }
    uint32_t m = be32(in.p);
    int swap = m == 0xcefaedfe || m == 0xcffaedfe; /* little-endian file */
    if (in.len >= 16) {
        uint32_t cpu = swap ? (uint32_t)mg_le(in.p + 4, 4) : be32(in.p + 4);
        uint32_t ft = swap ? (uint32_t)mg_le(in.p + 12, 4) : be32(in.p + 12);
        const char *t = ft == 2 ? "executable" : ft == 6 ? "dynamic library" : ft == 8 ? "bundle" : "file";
        const char *c = cpu_name(cpu);
        snprintf(detail, sizeof detail, " (%s, %s)", t, c ? c : "other CPU");
    }
    report(s, "macho", "Mach-O binary", detail);
}

/* The interpreter of a `#!` line: the program, or what `env` runs. */
static mg_str interpreter(mg_span in, size_t *line_end)
{
    size_t e = 2;
    while (e < in.len && e < 512 && in.p[e] != '\n')
        e++;
    *line_end = e;
    size_t i = 2;
    mg_str word = {NULL, 0};
    for (int w = 0; w < 4; w++) {
        while (i < e && (in.p[i] == ' ' || in.p[i] == '\t'))
            i++;
        size_t st = i;
        while (i < e && in.p[i] != ' ' && in.p[i] != '\t' && in.p[i] != '\r')
            i++;
        if (i == st)
            break;
        word = (mg_str){(const char *)in.p + st, i - st};
        const char *slash = memrchr(word.p, '/', word.len);
        mg_str base = slash ? (mg_str){slash + 1, word.len - (size_t)(slash + 1 - word.p)} : word;
        if (w == 0 && mg_str_eq(base, "env"))
            continue; /* `#!/usr/bin/env [-S] python3` */
        if (w > 0 && base.len && base.p[0] == '-')
            continue;
        return base;
    }
    return word;
}

static void scan_script(mg_scan *s, mg_span in, mg_str name)
{
    size_t end;
    mg_str interp = interpreter(in, &end);
    char ip[80];
    mg_member_printable(ip, sizeof ip, interp);
    char detail[120];
    snprintf(detail, sizeof detail, " for `%s`", ip[0] ? ip : "?");
    report(s, "script", "script", detail);
    if (interp.len >= 6 && memcmp(interp.p, "python", 6) == 0) {
        const char *saved = s->module;
        s->module = mg_module_text.name;
        mg_module_text.scan(s, in, name);
        s->module = saved;
        mg_set_format(s, "script");
    }
}

static void scan_ape(mg_scan *s, mg_span in)
{
    /* llamafile stores its weights as a .gguf member of the zip at the end:
     * the member name sits in the central directory, in the last bytes */
    size_t tail = in.len < 65536 ? in.len : 65536;
    int gguf = memmem(in.p + in.len - tail, tail, ".gguf", 5) != NULL;
    report(s, "llamafile", "Actually Portable Executable",
           gguf ? " (a llamafile: native code for Linux, macOS and Windows with GGUF weights attached)"
                : " (native code for Linux, macOS and Windows in one file, the format of llamafile)");
}

static int exe_scan(mg_scan *s, mg_span in, mg_str name)
{
    switch (classify(in)) {
    case K_APE:
        scan_ape(s, in);
        break;
    case K_ELF:
        scan_elf(s, in);
        break;
    case K_MACHO:
        scan_macho(s, in, 0);
        break;
    case K_FAT:
        scan_macho(s, in, 1);
        break;
    case K_PE:
        scan_pe(s, in);
        break;
    case K_DOS:
        report(s, "pe", "DOS executable", " (MZ header without a PE header)");
        break;
    case K_SCRIPT:
        scan_script(s, in, name);
        break;
    default:
        break;
    }
    return 0;
}

const mg_module mg_module_exe = {"exe", exe_probe, exe_scan, 0};
