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
#define P_KNOWN_OPS   "Model Uses Only Known Framework Operators"
#define P_REMOTE      "Model Does Not Require Remote Code"

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
    /* safetensors */
    {"MG-SFT-400", MG_SEV_HIGH, "Malformed safetensors header", P_WELL_FORMED},
    {"MG-SFT-401", MG_SEV_HIGH, "safetensors header names a tensor twice (readers disagree)", P_WELL_FORMED},
    {"MG-SFT-402", MG_SEV_HIGH, "safetensors tensors overlap, leave gaps or run past the data", P_WELL_FORMED},
    {"MG-SFT-403", MG_SEV_HIGH, "Sharded checkpoint index points outside the model folder", P_WELL_FORMED},
    /* GGUF and chat templates */
    {"MG-GGUF-101", MG_SEV_CRITICAL, "GGUF chat template reaches Python internals (template injection)", P_LOAD_EXEC},
    {"MG-GGUF-102", MG_SEV_HIGH, "GGUF chat template does not parse or uses unusual constructs", P_LOAD_SUSP},
    {"MG-GGUF-400", MG_SEV_HIGH, "Malformed GGUF file", P_WELL_FORMED},
    /* ONNX */
    {"MG-ONNX-300", MG_SEV_HIGH, "ONNX operator from a custom domain (native code)", P_RUNTIME},
    {"MG-ONNX-302", MG_SEV_MEDIUM, "ONNX operator unknown to the standard operator set", P_KNOWN_OPS},
    {"MG-ONNX-400", MG_SEV_HIGH, "Malformed ONNX model", P_WELL_FORMED},
    {"MG-ONNX-401", MG_SEV_HIGH, "ONNX external data points outside the model folder", P_WELL_FORMED},
    /* TensorFlow and TFLite */
    {"MG-TF-300", MG_SEV_HIGH, "TensorFlow graph reads or writes files", P_RUNTIME},
    {"MG-TF-301", MG_SEV_CRITICAL, "TensorFlow graph calls Python or loads a native library", P_RUNTIME},
    {"MG-TF-302", MG_SEV_MEDIUM, "TensorFlow operator unknown to TensorFlow's public op set", P_KNOWN_OPS},
    {"MG-TF-400", MG_SEV_HIGH, "Malformed TensorFlow model", P_WELL_FORMED},
    {"MG-TFLITE-300", MG_SEV_HIGH, "TFLite custom operator (native code)", P_RUNTIME},
    {"MG-TFLITE-400", MG_SEV_HIGH, "Malformed TFLite model", P_WELL_FORMED},
    /* Keras */
    {"MG-KERAS-100", MG_SEV_CRITICAL, "Keras config names a callable outside Keras or an unsafe Keras function",
     P_LOAD_EXEC},
    {"MG-KERAS-102", MG_SEV_HIGH, "Keras layer reads a file or URL named by the config", P_LOAD_SUSP},
    {"MG-KERAS-300", MG_SEV_HIGH, "Keras Lambda layer (Python code run at inference)", P_RUNTIME},
    {"MG-KERAS-302", MG_SEV_MEDIUM, "Keras layer class unknown to Keras", P_KNOWN_OPS},
    {"MG-KERAS-400", MG_SEV_HIGH, "Malformed Keras model", P_WELL_FORMED},
    /* NeMo / Hydra */
    {"MG-NEMO-100", MG_SEV_CRITICAL, "Hydra _target_ instantiates a callable outside the allowlist", P_LOAD_EXEC},
    {"MG-NEMO-400", MG_SEV_HIGH, "Malformed NeMo archive or config", P_WELL_FORMED},
    /* Hugging Face repositories */
    {"MG-HF-100", MG_SEV_HIGH, "Model requires custom code (auto_map, custom pipelines)", P_REMOTE},
    {"MG-HF-101", MG_SEV_CRITICAL, "Model pulls code from another repository", P_REMOTE},
    {"MG-HF-102", MG_SEV_HIGH, "Python file shipped with the model calls process, network or eval", P_REMOTE},
    {"MG-HF-103", MG_SEV_CRITICAL, "Tokenizer chat template reaches Python internals (template injection)",
     P_LOAD_EXEC},
    {"MG-HF-400", MG_SEV_HIGH, "Malformed model configuration", P_WELL_FORMED},
    /* executables */
    {"MG-EXE-300", MG_SEV_HIGH, "Executable file shipped with the model", P_RUNTIME},
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
