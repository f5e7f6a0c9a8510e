#!/usr/bin/python3
"""policy_test.py BINARY - policies and the report contract, end to end
through the real binary: the three scenarios of the product's origin story,
every policy violated and not violated, thresholds, ALLOWING vs BLOCKING vs
DISABLED, invalid policy files, the baseline, identity, and every report
validated against docs/report.schema.json and SARIF against the schema subset.
Prints ok/FAIL per check and a closing "N passed, N failed" line.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import jsonschema

BIN = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REPORT_SCHEMA = json.load(open(os.path.join(ROOT, "docs", "report.schema.json")))
SARIF_SCHEMA = json.load(open(os.path.join(ROOT, "tests", "e2e", "sarif-2.1.0-subset.schema.json")))
PAYLOAD_CMD = b"echo modelgate-test"
# hand-assembled bytes (never produced by pickling a live object, never loaded)
PAYLOAD = (b"\x80\x02cposix\nsystem\nq\x00X" + struct.pack("<I", len(PAYLOAD_CMD)) + PAYLOAD_CMD + b"\x85R.")

passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok", name)
    else:
        failed += 1
        print("FAIL", name, detail)


def scan(*args, fmt="json"):
    p = subprocess.run([BIN, "scan", "--format", fmt, *args], capture_output=True, timeout=120)
    rep = None
    if fmt in ("json", "sarif") and p.stdout:
        try:
            rep = json.loads(p.stdout)
        except ValueError:
            rep = None
    return p.returncode, rep, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def valid_report(name, rep):
    try:
        jsonschema.validate(rep, REPORT_SCHEMA)
        check(name + ": report matches docs/report.schema.json", True)
    except jsonschema.ValidationError as e:
        check(name + ": report matches docs/report.schema.json", False, e.message)


def violation(rep, policy):
    for v in rep.get("policy_violations") or []:
        if v["policy_name"] == policy:
            return v
    return None


def warning(rep, policy):
    for v in rep.get("warnings") or []:
        if v["policy_name"] == policy:
            return v
    return None


def safetensors(path):
    """A tiny valid safetensors file, written per the format's spec."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                         "__metadata__": {"format": "pt"}}).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + b"\x00" * 16)


def model_folder(base, name, license_id="mit"):
    d = os.path.join(base, "acme", name)
    os.makedirs(d)
    safetensors(os.path.join(d, "model.safetensors"))
    with open(os.path.join(d, "README.md"), "w") as f:
        f.write("---\nlicense: %s\nlibrary_name: transformers\n---\n# %s\n\nA small test model.\n" % (license_id, name))
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write('{"model_type": "llama", "hidden_size": 8}\n')
    return d


def policy_file(base, text, name="policy.yaml"):
    p = os.path.join(base, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def origin_story(tmp):
    model = model_folder(tmp, "tiny-llama")
    # (1) a clean safetensors model with an MIT license passes the default policy
    rc, rep, _, err = scan(model)
    check("(1) clean MIT model is ALLOWED with the default policy", rc == 0 and rep and rep["eval_outcome"] == "ALLOWED",
          err + json.dumps(rep and rep["policy_violations"]))
    check("(1) license found in the model card", rep and rep["license"] == "mit", rep and rep["license"])
    check("(1) policy_violations is null", rep and rep["policy_violations"] is None)
    valid_report("(1)", rep)
    # (2) blocked when only apache-2.0 is approved
    pol = policy_file(tmp, "policies:\n  license-valid:\n    approved_licenses: [apache-2.0]\n")
    rc, rep, _, err = scan("--policy", pol, model)
    v = rep and violation(rep, "License Is Valid For Use")
    check("(2) MIT model BLOCKED when only apache-2.0 is approved", rc == 1 and v is not None, err)
    check("(2) violation is MEDIUM at threshold MEDIUM",
          v and v["severity"] == "MEDIUM" and rep["global_threshold_snapshot"] == "MEDIUM")
    check("(2) compliance issue names the license", v and any("`mit`" in s for s in v["compliance_issues"]),
          v and v["compliance_issues"])
    valid_report("(2)", rep)
    # (3) extra_data.pkl carrying posix.system
    with open(os.path.join(model, "extra_data.pkl"), "wb") as f:
        f.write(PAYLOAD)
    rc, rep, _, err = scan(model)
    v = rep and violation(rep, "Detected No Arbitrary Code Execution At Model Load Time")
    check("(3) tampered model BLOCKED by load-time code execution", rc == 1 and v is not None, err)
    check("(3) the violation is CRITICAL", v and v["severity"] == "CRITICAL")
    check("(3) issues_by_file names extra_data.pkl with MG-PKL-100",
          v and {"file": "extra_data.pkl", "threat": "MG-PKL-100"} in v["issues_by_file"], v and v["issues_by_file"])
    check("(3) compliance sentence as in report.md",
          v and "The model will execute remote code since it contains operator `system` from module `posix`."
          in v["compliance_issues"], v and v["compliance_issues"])
    valid_report("(3)", rep)
    os.remove(os.path.join(model, "extra_data.pkl"))
    rc, rep, _, _ = scan(model)
    check("(3) ALLOWED again after removing the file", rc == 0 and rep["eval_outcome"] == "ALLOWED")
    return model


def thresholds_and_states(tmp, model):
    with open(os.path.join(model, "extra.pkl"), "wb") as f:
        f.write(b"\x80\x02cmylib.helpers\ndo_thing\nq\x00)R.")  # outside the allowlist: HIGH
    rc, rep, _, _ = scan(model)
    check("unknown import violates suspicious-code policy (HIGH)",
          rc == 1 and violation(rep, "Detected No Suspicious Code At Model Load Time"))
    pol = policy_file(tmp, "global_threshold: CRITICAL\n")
    rc, rep, _, _ = scan("--policy", pol, model)
    check("threshold CRITICAL turns a HIGH violation into a warning",
          rc == 0 and rep["eval_outcome"] == "ALLOWED" and warning(rep, "Detected No Suspicious Code At Model Load Time")
          and rep["global_threshold_snapshot"] == "CRITICAL")
    pol = policy_file(tmp, "policies:\n  load-time-suspicious-code:\n    state: ALLOWING\n")
    rc, rep, _, _ = scan("--policy", pol, model)
    check("ALLOWING policy reports a warning and never blocks",
          rc == 0 and warning(rep, "Detected No Suspicious Code At Model Load Time") is not None)
    pol = policy_file(tmp, "policies:\n  load-time-suspicious-code:\n    state: DISABLED\n")
    rc, rep, _, _ = scan("--policy", pol, model)
    check("DISABLED policy is not evaluated",
          rc == 0 and not warning(rep, "Detected No Suspicious Code At Model Load Time"))
    check("DISABLED policy is not counted", rep["enabled_policy_count_snapshot"] == 12,
          rep["enabled_policy_count_snapshot"])
    pol = policy_file(tmp, "policies:\n  load-time-suspicious-code:\n    severity: LOW\n")
    rc, rep, _, _ = scan("--policy", pol, model)
    check("policy severity below the threshold only warns",
          rc == 0 and warning(rep, "Detected No Suspicious Code At Model Load Time")["severity"] == "LOW")
    os.remove(os.path.join(model, "extra.pkl"))


def fact_policies(tmp, model):
    rc, rep, _, _ = scan(model)
    w = warning(rep, "Model Is Stored In Approved File Format")
    check("approved formats: a clean safetensors model has no format warning", w is None, w)
    with open(os.path.join(model, "weights.pkl"), "wb") as f:
        f.write(b"\x80\x02}q\x00.")
    rc, rep, _, _ = scan(model)
    w = warning(rep, "Model Is Stored In Approved File Format")
    check("approved formats: a pickle is reported (ALLOWING by default)",
          rc == 0 and w and {"file": "weights.pkl", "threat": None} in w["issues_by_file"], w)
    pol = policy_file(tmp, "policies:\n  approved-format:\n    state: BLOCKING\n")
    rc, rep, _, _ = scan("--policy", pol, model)
    check("approved formats: BLOCKING blocks the pickle", rc == 1 and violation(rep, "Model Is Stored In Approved File Format"))
    os.remove(os.path.join(model, "weights.pkl"))
    nolic = os.path.join(tmp, "acme", "nolicense")
    os.makedirs(nolic)
    safetensors(os.path.join(nolic, "model.safetensors"))
    rc, rep, _, _ = scan(nolic)
    check("license exists: a local model without a license passes (scope huggingface)",
          rc == 0 and rep["license"] is None)
    pol = policy_file(tmp, "policies:\n  license-exists:\n    scope: all\n")
    rc, rep, _, _ = scan("--policy", pol, nolic)
    check("license exists: scope all blocks a model without a license", rc == 1 and violation(rep, "License Exists"))
    rc, rep, _, _ = scan("--license", "Apache-2.0", nolic)
    check("--license supplies the license (normalised)", rc == 0 and rep["license"] == "apache-2.0", rep["license"])
    pol = policy_file(tmp, "policies:\n  license-valid:\n    approved_licenses: [mit]\n")
    rc, rep, _, _ = scan("--policy", pol, "--license", "apache-2.0", nolic)
    check("--license is judged against approved_licenses", rc == 1 and violation(rep, "License Is Valid For Use"))
    pol = policy_file(tmp, "policies:\n  org-not-blocked:\n    denied_orgs: [evilcorp, acme]\n")
    rc, rep, _, _ = scan("--policy", pol, model)
    v = violation(rep, "Organization Is Not Blocked")
    check("denied org blocks (CRITICAL)", rc == 1 and v and v["severity"] == "CRITICAL")
    pol = policy_file(tmp, "policies:\n  org-not-blocked:\n    denied_orgs: [evilcorp]\n")
    rc, rep, _, _ = scan("--policy", pol, model)
    check("other orgs are not blocked", rc == 0)
    pol = policy_file(tmp, "policies:\n  model-not-blocked:\n    denied_models: [acme/tiny-llama]\n")
    rc, rep, _, _ = scan("--policy", pol, model)
    check("denied model blocks", rc == 1 and violation(rep, "Model Is Not Blocked"))
    pol = policy_file(tmp, "policies:\n  model-not-blocked:\n    denied_models: [acme/other]\n")
    rc, rep, _, _ = scan("--policy", pol, model)
    check("other models are not blocked", rc == 0)


def baseline(tmp, model):
    base = os.path.join(tmp, "baseline.json")
    rc = subprocess.run([BIN, "scan", "--format", "json", "--output", base, model]).returncode
    check("baseline report written", rc == 0)
    rc, rep, _, _ = scan("--baseline", base, model)
    check("unchanged model passes against its baseline", rc == 0 and not violation(rep, "Model Is Unchanged Since Approval"))
    with open(os.path.join(model, "config.json"), "a") as f:
        f.write(" ")
    rc, rep, _, _ = scan("--baseline", base, model)
    v = violation(rep, "Model Is Unchanged Since Approval")
    check("a file changed since approval blocks", rc == 1 and v and {"file": "config.json", "threat": None}
          in v["issues_by_file"], v)
    blocked = os.path.join(tmp, "blocked.json")
    with open(blocked, "w") as f:
        json.dump({"eval_outcome": "BLOCKED", "files": []}, f)
    rc, _, _, err = scan("--baseline", blocked, model)
    check("a baseline that was not ALLOWED is refused", rc == 2 and "ALLOWED" in err, err)


def threat_policies(tmp):
    """Each threat-judged policy is violated by its threats and can be relaxed on its own."""
    c = os.path.join(ROOT, "tests", "corpus")
    cases = [
        ("runtime-code-execution", "Detected No Arbitrary Code Execution At Model Runtime",
         os.path.join(c, "containers", "malicious", "torchscript_linear.pt"), "HIGH"),
        ("known-operators", "Model Uses Only Known Framework Operators",
         os.path.join(c, "onnx", "malicious", "onnx_unknown_std_op.onnx"), "MEDIUM"),
        ("well-formed", "Model Files Are Well-Formed",
         os.path.join(c, "pickle", "malformed", "stack_underflow_reduce.pkl"), "HIGH"),
        ("no-remote-code", "Model Does Not Require Remote Code",
         os.path.join(c, "hfrepo", "malicious", "custom-code-repo"), "HIGH"),
    ]
    for pid, name, path, sev in cases:
        rc, rep, _, err = scan(path)
        v = rep and violation(rep, name)
        check("%s: violated by its threats (%s)" % (pid, os.path.basename(path)),
              rc == 1 and v is not None and v["severity"] == sev, err or (rep and rep["policy_violations"]))
        check("%s: issues_by_file carries threat ids" % pid,
              v and all(i["threat"] and i["threat"].startswith("MG-") for i in v["issues_by_file"]))
        others = [x["policy_name"] for x in (rep["policy_violations"] or []) if x["policy_name"] != name]
        pol = policy_file(tmp, "policies:\n" + "".join(
            "  %s:\n    state: ALLOWING\n" % i for i in [pid] + [policy_id(o) for o in others]))
        rc, rep, _, _ = scan("--policy", pol, path)
        check("%s: ALLOWING turns it into a warning" % pid, rc == 0 and warning(rep, name) is not None,
              rep and rep["policy_violations"])
    rc, rep, _, _ = scan(os.path.join(c, "safetensors", "benign"))
    check("threat policies are not violated by a clean folder", rc == 0 and rep["policy_violations"] is None)


def policy_id(name):
    out = subprocess.run([BIN, "policy", "show"], capture_output=True, text=True).stdout.splitlines()
    for i, line in enumerate(out):
        if line.strip() == "# " + name:
            return out[i + 1].strip().rstrip(":")
    return name


def tricky_items_round_trip(tmp):
    """List items that a flow list cannot hold plainly (a comma, a bracket, a
    quote) come back from `policy show` as the same items: same digest."""
    text = ('global_threshold: MEDIUM\npolicies:\n  org-not-blocked:\n'
            '    denied_orgs: ["a, b", "x]", plain, "q\\"z"]\n')
    p = policy_file(tmp, text, "tricky.yaml")
    chk1 = subprocess.run([BIN, "policy", "check", p], capture_output=True, text=True)
    shown = subprocess.run([BIN, "policy", "show", "--policy", p], capture_output=True, text=True)
    if shown.returncode != 0:
        shown = subprocess.run([BIN, "policy", "show", p], capture_output=True, text=True)
    p2 = policy_file(tmp, shown.stdout, "tricky-shown.yaml")
    chk2 = subprocess.run([BIN, "policy", "check", p2], capture_output=True, text=True)
    d1 = chk1.stdout.split("digest ")[-1].strip(" )\n")
    d2 = chk2.stdout.split("digest ")[-1].strip(" )\n")
    check("list items with commas, brackets and quotes survive policy show", chk1.returncode == 0 and
          chk2.returncode == 0 and d1 == d2 and d1.startswith("sha256:"), (chk1.stdout, chk2.stdout, chk2.stderr))
    check("such items are written quoted", '"a, b"' in shown.stdout and '"x]"' in shown.stdout, shown.stdout)


def policy_files(tmp):
    tricky_items_round_trip(tmp)
    show = subprocess.run([BIN, "policy", "show"], capture_output=True, text=True)
    check("policy show prints the defaults", show.returncode == 0 and "license-valid:" in show.stdout)
    p = policy_file(tmp, show.stdout, "shown.yaml")
    chk = subprocess.run([BIN, "policy", "check", p], capture_output=True, text=True)
    check("policy show output is a valid policy file", chk.returncode == 0, chk.stderr)
    rc, rep, _, _ = scan(os.path.join(ROOT, "examples", "clean-model"))
    check("the shown defaults have the digest scans report", rep["policy_digest"] in chk.stdout,
          (rep["policy_digest"], chk.stdout))
    edited = show.stdout.replace("approved_licenses: [", "approved_licenses: [llama3, ")
    p2 = policy_file(tmp, edited, "edited.yaml")
    rc, rep2, _, _ = scan("--policy", p2, os.path.join(ROOT, "examples", "clean-model"))
    check("an edited policy changes the digest", rep2["policy_digest"] != rep["policy_digest"])
    bad = {
        "unknown key": ("global_threshold: MEDIUM\npolicies:\n  license-valid:\n    approved: [mit]\n", "line 4"),
        "bad severity": ("global_threshold: SEVERE\n", "line 1"),
        "unknown policy": ("policies:\n  no-such-policy:\n    state: BLOCKING\n", "line 2"),
        "bad state": ("policies:\n  well-formed:\n    state: MAYBE\n", "line 3"),
        "bad list": ("policies:\n  license-valid:\n    approved_licenses: mit\n", "line 3"),
        "broken YAML": ("policies:\n  - [\n", "line"),
        "empty file": ("", "empty"),
    }
    for name, (text, where) in bad.items():
        p = policy_file(tmp, text, "bad.yaml")
        chk = subprocess.run([BIN, "policy", "check", p], capture_output=True, text=True)
        check("invalid policy (%s) is refused naming the problem" % name,
              chk.returncode == 2 and where in chk.stderr, chk.stderr)
        rc, _, out, err = scan("--policy", p, os.path.join(ROOT, "examples", "clean-model"))
        check("scan with an invalid policy (%s) is an error, not a fallback" % name, rc == 2 and out == "", err)


def formats(tmp):
    tampered = os.path.join(ROOT, "examples", "tampered-model")
    rc, rep, out, _ = scan(tampered, fmt="text")
    lines = out.splitlines()
    check("text: outcome first", lines and lines[0].startswith("BLOCKED"), lines[:1])
    check("text: violations grouped by policy",
          any(l.startswith("VIOLATION CRITICAL: Detected No Arbitrary Code Execution At Model Load Time") for l in lines))
    check("text: no colour when not a terminal", "\033[" not in out)
    rc, _, out, _ = scan("--quiet", tampered, fmt="text")
    check("text: --quiet prints the outcome only", len(out.splitlines()) == 1 and out.startswith("BLOCKED"))
    rc, sarif, _, _ = scan(tampered, fmt="sarif")
    try:
        jsonschema.validate(sarif, SARIF_SCHEMA)
        check("sarif: valid against the SARIF 2.1.0 schema subset", True)
    except jsonschema.ValidationError as e:
        check("sarif: valid against the SARIF 2.1.0 schema subset", False, e.message)
    rules = [r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]]
    check("sarif: one rule per threat id", len(rules) == len(set(rules)) and "MG-PKL-100" in rules)
    check("sarif: results carry the blocking policy",
          "Detected No Arbitrary Code Execution At Model Load Time" in sarif["runs"][0]["properties"]["policy_violations"])
    rc, a, _, _ = scan(tampered)
    rc, b, _, _ = scan(tampered)
    check("identity: model_uuid and model_version_uuid are stable",
          a["model_uuid"] == b["model_uuid"] and a["model_version_uuid"] == b["model_version_uuid"]
          and a["uuid"] != b["uuid"])
    check("identity: namespace and model_name from the folder",
          a["namespace"] == "examples" and a["model_name"] == "tampered-model")
    rc, c, _, _ = scan(os.path.join(ROOT, "examples", "clean-model"))
    check("identity: another model has another uuid", c["model_uuid"] != a["model_uuid"])
    valid_report("tampered example", a)


def main():
    tmp = tempfile.mkdtemp(prefix="mg-policy-")
    try:
        model = origin_story(tmp)
        thresholds_and_states(tmp, model)
        fact_policies(tmp, model)
        baseline(tmp, model)
        threat_policies(tmp)
        policy_files(tmp)
        formats(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
