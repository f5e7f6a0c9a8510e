/*
 * threats.c - the threat catalog: every id the engine can emit, its severity,
 * title and the default policy it violates. Ids follow report.md
 * (MG-<FORMAT>-<NNN>: 1xx load time, 2xx backdoor, 3xx runtime, 4xx integrity;
 * x00 capability present, x01 known malicious, x02 suspicious) and are never
 * reused or renumbered. Each id has a page in docs/threats/; a test checks
 * that the catalog and the pages agree.
 */
#include <string.h>
#include <strings.h>

#include "internal.h"

#define P_LOAD_EXEC   "Detected No Arbitrary Code Execution At Model Load Time"
#define P_LOAD_SUSP   "Detected No Suspicious Code At Model Load Time"
#define P_WELL_FORMED "Model Files Are Well-Formed"
#define P_RUNTIME     "Detected No Arbitrary Code Execution At Model Runtime"

static const mg_threat catalog[] = {
    {"MG-PKL-100", MG_SEV_CRITICAL, "Pickle imports a known-dangerous callable", P_LOAD_EXEC},
    {"MG-PKL-101", MG_SEV_CRITICAL, "Pickle walks object internals or imports a name built at load time", P_LOAD_EXEC},
    {"MG-PKL-102", MG_SEV_HIGH, "Pickle imports a callable outside the allowlist", P_LOAD_SUSP},
    {"MG-PKL-400", MG_SEV_HIGH, "Malformed pickle stream", P_WELL_FORMED},
    {"MG-PKL-401", MG_SEV_MEDIUM, "Unexplained bytes after the last pickle stream", P_WELL_FORMED},
    {"MG-PYTCH-400", MG_SEV_HIGH, "Malformed PyTorch checkpoint", P_WELL_FORMED},
    {"MG-PYTCH-401", MG_SEV_HIGH, "PyTorch checkpoint member outside the archive root", P_WELL_FORMED},
    {"MG-TCHST-300", MG_SEV_HIGH, "TorchScript archive carries code that runs at inference", P_RUNTIME},
    {"MG-TCHST-301", MG_SEV_CRITICAL, "TorchScript code calls system or introspection functions", P_RUNTIME},
    {"MG-ARV-400", MG_SEV_HIGH, "Malformed or unreadable archive", P_WELL_FORMED},
    {"MG-ARV-401", MG_SEV_HIGH, "Archive readers disagree on its content (parser differential)", P_WELL_FORMED},
    {"MG-ARV-402", MG_SEV_HIGH, "Archive member name appears twice", P_WELL_FORMED},
    {"MG-ARV-403", MG_SEV_HIGH, "Archive member escapes its folder (path traversal or link)", P_WELL_FORMED},
    {"MG-ARV-404", MG_SEV_HIGH, "Decompression bomb", P_WELL_FORMED},
    {"MG-ARV-405", MG_SEV_MEDIUM, "Archive member fails its CRC check", P_WELL_FORMED},
    {"MG-NPY-400", MG_SEV_HIGH, "Malformed NumPy array file", P_WELL_FORMED},
    {"MG-JOBLIB-400", MG_SEV_HIGH, "Malformed joblib file", P_WELL_FORMED},
    {"MG-HF-401", MG_SEV_HIGH, "Symbolic link points outside the model folder", P_WELL_FORMED},
    {"MG-FMT-401", MG_SEV_HIGH, "A scan limit was reached before the file was fully read", P_WELL_FORMED},
};

size_t mg_threat_count(void)
{
    return sizeof catalog / sizeof catalog[0];
}

const mg_threat *mg_threat_at(size_t i)
{
    return i < mg_threat_count() ? &catalog[i] : NULL;
}

const mg_threat *mg_threat_find(const char *id)
{
    for (size_t i = 0; i < mg_threat_count(); i++)
        if (strcmp(catalog[i].id, id) == 0)
            return &catalog[i];
    return NULL;
}

static const char *const sev_names[] = {"NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL"};

const char *mg_severity_name(mg_severity sev)
{
    return (unsigned)sev < 5 ? sev_names[sev] : "NONE";
}

int mg_severity_parse(const char *name)
{
    for (int i = 1; i < 5; i++)
        if (strcasecmp(name, sev_names[i]) == 0)
            return i;
    return -1;
}
