// The policy file for the policies page: reading the effective set the service prints
// (mg_policy_to_yaml: global_threshold, then each policy id with state, severity, scope and its list
// parameter as a flow list, each id preceded by a "# Name" comment), writing the form back as a
// complete policy file while remembering which form field each line came from (so a server error
// "line N: ..." lands next to that field), and comparing two versions line by line and field by field.

export const SEVERITIES = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
export const STATES = ['BLOCKING', 'ALLOWING', 'DISABLED'];
export const SCOPES = ['all', 'huggingface'];
export const PARAMS = ['approved_licenses', 'approved_formats', 'denied_orgs', 'denied_models'];
const ID_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;

// Items written without quotes when they are this plain, JSON-quoted (valid YAML) otherwise.
const PLAIN_RE = /^[A-Za-z0-9][A-Za-z0-9 ._()/+-]*$/;

// parse(text) -> {threshold, policies: [{id, name, state, severity, scope, params: {key: [items]}}]}
// Throws Error('line N: ...') on anything outside that layout.
export function parse(text) {
  const out = {threshold: null, policies: []};
  let cur = null, comment = null, inPolicies = false;
  const lines = String(text).split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/\s+$/, '');
    const fail = (why) => { throw new Error('line ' + (i + 1) + ': ' + why); };
    let m;
    if (!line.trim()) return;
    if ((m = /^\s*#\s?(.*)$/.exec(line))) { comment = m[1]; return; }
    if ((m = /^global_threshold:\s*(\S+)$/.exec(line))) { out.threshold = m[1].toUpperCase(); return; }
    if (/^policies:$/.test(line)) { inPolicies = true; return; }
    if (inPolicies && (m = /^ {2}([a-z0-9-]+):$/.exec(line))) {
      if (!ID_RE.test(m[1])) fail('bad policy id');
      cur = {id: m[1], name: comment || m[1], state: null, severity: null, scope: null, params: {}};
      out.policies.push(cur);
      comment = null;
      return;
    }
    if (cur && (m = /^ {4}(state|severity|scope):\s*(\S+)$/.exec(line))) {
      cur[m[1]] = m[1] === 'scope' ? m[2] : m[2].toUpperCase();
      return;
    }
    if (cur && (m = /^ {4}([a-z_]+):\s*\[(.*)\]$/.exec(line)) && PARAMS.includes(m[1])) {
      cur.params[m[1]] = flowItems(m[2], fail);
      return;
    }
    fail('unexpected text');
  });
  if (!out.threshold || !out.policies.length) throw new Error('not a complete policy set');
  return out;
}

function flowItems(s, fail) {
  const items = [];
  let rest = s.trim();
  while (rest) {
    let m;
    if ((m = /^("(?:[^"\\]|\\.)*")\s*(,|$)/.exec(rest))) {
      try { items.push(JSON.parse(m[1])); } catch { fail('bad quoted item'); }
    } else if ((m = /^([^,"'[\]{}]+?)\s*(,|$)/.exec(rest))) {
      items.push(m[1].trim());
    } else {
      fail('bad list item');
    }
    rest = rest.slice(m[0].length).trim();
  }
  return items;
}

function item(s) {
  return PLAIN_RE.test(s) && !/\s$/.test(s) ? s : JSON.stringify(s);
}

// build(set) -> {text, fields}: fields[i] names the form field of line i+1 ('threshold',
// 'state:<id>', 'severity:<id>', 'scope:<id>', 'param:<key>'), null for comments.
export function build(set) {
  const lines = [];
  const fields = [];
  const add = (text, field) => { lines.push(text); fields.push(field); };
  add('# modelgate policy file (docs/policies.md), saved from the dashboard', null);
  add('global_threshold: ' + set.threshold, 'threshold');
  add('policies:', 'threshold');
  for (const p of set.policies) {
    add('  # ' + p.name.replace(/[\r\n]/g, ' '), null);
    add('  ' + p.id + ':', 'state:' + p.id);
    add('    state: ' + p.state, 'state:' + p.id);
    add('    severity: ' + p.severity, 'severity:' + p.id);
    add('    scope: ' + p.scope, 'scope:' + p.id);
    for (const key of PARAMS) {
      if (p.params[key]) add('    ' + key + ': [' + p.params[key].map(item).join(', ') + ']', 'param:' + key);
    }
  }
  return {text: lines.join('\n') + '\n', fields};
}

// Line diff by longest common subsequence: [{op: ' ' | '-' | '+', text}].
export function lineDiff(a, b) {
  const x = String(a).replace(/\n$/, '').split('\n');
  const y = String(b).replace(/\n$/, '').split('\n');
  let pre = 0;
  while (pre < x.length && pre < y.length && x[pre] === y[pre]) pre++;
  let suf = 0;
  while (suf < x.length - pre && suf < y.length - pre && x[x.length - 1 - suf] === y[y.length - 1 - suf]) suf++;
  const xs = x.slice(pre, x.length - suf), ys = y.slice(pre, y.length - suf);
  const mid = [];
  if (xs.length * ys.length > 4000000) { // too big to compare: all out, all in
    xs.forEach((t) => mid.push({op: '-', text: t}));
    ys.forEach((t) => mid.push({op: '+', text: t}));
  } else {
    const n = xs.length, m = ys.length, w = m + 1;
    const L = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        L[i * w + j] = xs[i] === ys[j] ? L[(i + 1) * w + j + 1] + 1 : Math.max(L[(i + 1) * w + j], L[i * w + j + 1]);
      }
    }
    let i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && xs[i] === ys[j]) { mid.push({op: ' ', text: xs[i]}); i++; j++; }
      else if (i < n && (j === m || L[(i + 1) * w + j] >= L[i * w + j + 1])) { mid.push({op: '-', text: xs[i]}); i++; }
      else { mid.push({op: '+', text: ys[j]}); j++; }
    }
  }
  return [...x.slice(0, pre).map((t) => ({op: ' ', text: t})), ...mid,
    ...x.slice(x.length - suf).map((t) => ({op: ' ', text: t}))];
}

// Keeps changed lines and `context` lines around them; a null entry marks skipped lines.
export function hunks(diff, context = 2) {
  const keep = diff.map(() => false);
  diff.forEach((d, i) => {
    if (d.op === ' ') return;
    for (let k = Math.max(0, i - context); k <= Math.min(diff.length - 1, i + context); k++) keep[k] = true;
  });
  const out = [];
  let skipped = false;
  diff.forEach((d, i) => {
    if (keep[i]) { out.push(d); skipped = false; } else if (!skipped) { out.push(null); skipped = true; }
  });
  return out;
}

// Field by field: ["global_threshold: MEDIUM → HIGH", "License Is Valid For Use: approved_licenses + gpl-3.0"].
export function fieldDiff(before, after) {
  const out = [];
  if (before.threshold !== after.threshold) out.push('global_threshold: ' + before.threshold + ' → ' + after.threshold);
  const old = new Map(before.policies.map((p) => [p.id, p]));
  for (const p of after.policies) {
    const q = old.get(p.id);
    if (!q) { out.push(p.name + ': new policy'); continue; }
    for (const k of ['state', 'severity', 'scope']) {
      if (q[k] !== p[k]) out.push(p.name + ': ' + k + ' ' + q[k] + ' → ' + p[k]);
    }
    for (const key of PARAMS) {
      const a = q.params[key] || [], b = p.params[key] || [];
      const added = b.filter((s) => !a.includes(s)), removed = a.filter((s) => !b.includes(s));
      if (added.length) out.push(p.name + ': ' + key + ' added ' + added.join(', '));
      if (removed.length) out.push(p.name + ': ' + key + ' removed ' + removed.join(', '));
    }
  }
  return out;
}

// Checks one parameter textarea: returns {items, error}. One entry per line, blanks ignored.
const ITEM_RULES = {
  approved_licenses: [/^[A-Za-z0-9][A-Za-z0-9.+-]*$/, 'a license id (letters, digits, . + -), e.g. apache-2.0'],
  approved_formats: [/^[A-Za-z0-9][A-Za-z0-9 ._()/+-]*$/, 'a format name as reports show it, e.g. safetensors'],
  denied_orgs: [/^[A-Za-z0-9_][A-Za-z0-9._-]*$/, 'an organization (letters, digits, . _ -), e.g. evil-org'],
  denied_models: [/^([A-Za-z0-9_][A-Za-z0-9._-]*\/)?[A-Za-z0-9_][A-Za-z0-9._-]*$/, 'namespace/name, e.g. evil-org/model'],
};

export function checkParam(key, text) {
  const [re, what] = ITEM_RULES[key];
  const items = [];
  const seen = new Map();
  const lines = String(text).split('\n');
  if (lines.length > 2000) return {items, error: 'At most 2000 lines.'};
  for (let i = 0; i < lines.length; i++) {
    const s = lines[i].trim();
    if (!s) continue;
    if (s.length > 200) return {items, error: 'Line ' + (i + 1) + ' is longer than 200 characters.'};
    if (!re.test(s)) return {items, error: 'Line ' + (i + 1) + ' is not ' + what + '.'};
    const low = s.toLowerCase();
    if (seen.has(low)) return {items, error: 'Line ' + (i + 1) + ' repeats line ' + seen.get(low) + ' (case does not matter).'};
    seen.set(low, i + 1);
    items.push(s);
  }
  return {items, error: null};
}
