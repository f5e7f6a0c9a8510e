// #/policies: the policy set in force, edited in place by admins (threshold; each policy's state,
// severity, scope; the approved licenses and formats, denied orgs and models, one per line).
// Saving validates every field, builds the whole policy file, PUTs it (a new version), then shows
// what changed and the version history (GET /api/v1/policies/versions). Other roles see the set in
// force read-only: the service refuses their PUT anyway.

import {api, isAdmin, getSession, ApiError} from './api.js';
import {h, replace, heading, loading, fmtTime, facts, code, showError, clearError, announce} from './dom.js';
import {parse, build, lineDiff, hunks, fieldDiff, checkParam, SEVERITIES, STATES, SCOPES, PARAMS} from './policy_yaml.js';

const PARAM_LABELS = {
  approved_licenses: 'Approved licenses',
  approved_formats: 'Approved formats',
  denied_orgs: 'Denied organizations',
  denied_models: 'Denied models (namespace/name)',
};

export async function render(ctx) {
  replace(ctx.main, ...loading('Policies'));
  if (!isAdmin()) return readOnly(ctx);
  const [current, versions] = await Promise.all([
    api('GET', '/api/v1/policies', {signal: ctx.signal}),
    loadVersions(ctx.signal, null),
  ]);
  const page = {ctx, current, set: null, history: versions, diffSlot: h('div'), historySlot: h('section',
    {'aria-labelledby': 'history-h'}), formSlot: h('div'), infoSlot: h('div')};
  try {
    page.set = parse(current.yaml);
  } catch (e) {
    replace(ctx.main, heading('Policies'), h('p', {class: 'notice'},
      'The policy set in force could not be read into the form (' + e.message + '):'), h('pre', {class: 'yaml'}, current.yaml));
    return;
  }
  replace(ctx.main, heading('Policies'), page.infoSlot, page.diffSlot, page.formSlot, page.historySlot);
  drawInfo(page);
  drawForm(page);
  drawHistory(page);
}

async function readOnly(ctx) {
  const role = getSession()?.role || 'unknown';
  const cur = await api('GET', '/api/v1/policies', {signal: ctx.signal});
  replace(ctx.main, heading('Policies'),
    h('p', {class: 'notice', role: 'note'}, 'Changing policies is for admins only. You are signed in as ' + role +
      '; this is the policy set in force, read-only.'),
    facts([['Version', String(cur.version)], ['Digest', code(cur.digest)], ['Since', fmtTime(cur.created_at)]]),
    h('pre', {class: 'yaml', tabindex: '0', 'aria-label': 'Policy file in force'}, String(cur.yaml || '')));
}

async function loadVersions(signal, cursor) {
  try {
    const data = await api('GET', '/api/v1/policies/versions', {query: {limit: 20, cursor}, signal});
    return {versions: Array.isArray(data.versions) ? data.versions : [], next: data.next_cursor || null, error: null};
  } catch (e) {
    if (e.name === 'AbortError' || e.status === 401) throw e;
    return {versions: [], next: null, error: e.message};
  }
}

function drawInfo(page) {
  const c = page.current;
  replace(page.infoSlot, facts([
    ['Version in force', String(c.version) + (c.version === 0 ? ' (built-in defaults)' : '')],
    ['Digest', code(c.digest)],
    ['Since', c.created_at ? fmtTime(c.created_at) : 'start'],
  ]));
}

// ---- the form ----

function select(id, testid, options, value, labelText) {
  const sel = h('select', {id, name: id, 'data-testid': testid},
    options.map((o) => h('option', {value: o, selected: o === value}, o)));
  if (!options.includes(value)) sel.appendChild(h('option', {value: String(value), selected: true}, String(value) + ' (unknown)'));
  return h('div', {class: 'field'}, h('label', {for: id}, labelText), sel);
}

function drawForm(page) {
  const s = page.set;
  const threshold = select('policy-threshold', 'policy-threshold', SEVERITIES, s.threshold, 'Global threshold');
  const rows = s.policies.map((p) => h('fieldset', {class: 'policy', 'data-testid': 'policy-row-' + p.id},
    h('legend', null, p.name),
    h('p', {class: 'sub policy-id'}, 'id ', code(p.id)),
    h('div', {class: 'policy-fields'},
      select('state-' + p.id, 'policy-state-' + p.id, STATES, p.state, 'State'),
      select('severity-' + p.id, 'policy-severity-' + p.id, SEVERITIES, p.severity, 'Severity'),
      select('scope-' + p.id, 'policy-scope-' + p.id, SCOPES, p.scope, 'Scope')),
    PARAMS.filter((k) => p.params[k]).map((k) => h('div', {class: 'field'},
      h('label', {for: 'param-' + k}, PARAM_LABELS[k]),
      h('p', {class: 'hint', id: 'hint-' + k}, 'One per line.'),
      h('textarea', {id: 'param-' + k, name: k, rows: String(Math.min(Math.max(p.params[k].length + 1, 3), 14)),
        spellcheck: 'false', 'aria-describedby': 'hint-' + k, 'data-testid': 'param-' + k}, p.params[k].join('\n'))))));
  const save = h('button', {type: 'submit', class: 'primary', 'data-testid': 'policy-save'}, 'Save as a new version');
  const status = h('p', {class: 'sub', role: 'status'});
  const form = h('form', {class: 'policies', novalidate: true, 'aria-labelledby': 'form-h'},
    h('h2', {id: 'form-h'}, 'Policy set'),
    h('p', {class: 'sub'}, 'A violation blocks when its policy is BLOCKING and its severity is at or above the global ' +
      'threshold (LOW < MEDIUM < HIGH < CRITICAL). ALLOWING policies only warn; DISABLED ones are not evaluated.'),
    threshold, h('div', {class: 'policy-list'}, rows), h('div', {class: 'actions'}, save, status));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submit(page, form, save, status);
  });
  replace(page.formSlot, form);
}

// The form's fields by key ('threshold', 'state:<id>', 'param:<key>', ...).
function fieldOf(form, key) {
  const [kind, id] = key.split(':');
  if (kind === 'threshold') return form.querySelector('#policy-threshold');
  if (kind === 'param') return form.querySelector('#param-' + id);
  return form.querySelector('#' + kind + '-' + id);
}

function setFieldError(el, msg) {
  const errId = 'err-' + el.id;
  let err = document.getElementById(errId);
  if (!msg) {
    if (err) err.remove();
    el.removeAttribute('aria-invalid');
    el.setAttribute('aria-describedby', (el.getAttribute('aria-describedby') || '').split(' ')
      .filter((x) => x && x !== errId).join(' '));
    if (!el.getAttribute('aria-describedby')) el.removeAttribute('aria-describedby');
    return;
  }
  if (!err) {
    err = h('p', {class: 'field-error', id: errId, 'data-testid': 'field-error'});
    el.after(err);
  }
  err.textContent = msg;
  el.setAttribute('aria-invalid', 'true');
  const ids = (el.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
  if (!ids.includes(errId)) el.setAttribute('aria-describedby', [...ids, errId].join(' '));
}

// Reads the form into a policy set; every problem goes next to its field.
function readForm(page, form) {
  const set = {threshold: form.querySelector('#policy-threshold').value, policies: []};
  const errors = [];
  const check = (el, ok, msg) => {
    setFieldError(el, ok ? null : msg);
    if (!ok) errors.push(el);
  };
  check(fieldOf(form, 'threshold'), SEVERITIES.includes(set.threshold), 'Choose LOW, MEDIUM, HIGH or CRITICAL.');
  for (const p of page.set.policies) {
    const q = {id: p.id, name: p.name, params: {}};
    for (const [k, allowed, msg] of [['state', STATES, 'Choose BLOCKING, ALLOWING or DISABLED.'],
      ['severity', SEVERITIES, 'Choose LOW, MEDIUM, HIGH or CRITICAL.'], ['scope', SCOPES, 'Choose all or huggingface.']]) {
      const el = fieldOf(form, k + ':' + p.id);
      q[k] = el.value;
      check(el, allowed.includes(el.value), msg);
    }
    for (const key of PARAMS.filter((x) => p.params[x])) {
      const el = fieldOf(form, 'param:' + key);
      const {items, error} = checkParam(key, el.value);
      q.params[key] = items;
      check(el, !error, error);
    }
    set.policies.push(q);
  }
  return {set, errors};
}

async function submit(page, form, save, status) {
  clearError();
  status.textContent = '';
  const {set, errors} = readForm(page, form);
  if (errors.length) {
    status.textContent = 'Not saved: ' + errors.length + ' field(s) need attention.';
    errors[0].focus();
    return;
  }
  const {text, fields} = build(set);
  if (text === build(page.set).text) {
    status.textContent = 'Nothing changed; nothing saved.';
    return;
  }
  save.disabled = true;
  save.setAttribute('aria-busy', 'true');
  try {
    const ans = await api('PUT', '/api/v1/policies', {text, contentType: 'application/yaml', signal: page.ctx.signal});
    const before = page.current;
    page.current = ans;
    page.set = parse(ans.yaml);
    drawInfo(page);
    drawForm(page);
    drawDiff(page, before, ans, 'Saved: version ' + before.version + ' → ' + ans.version);
    announce('Saved as version ' + ans.version);
    page.history = await loadVersions(page.ctx.signal, null);
    drawHistory(page);
    page.diffSlot.querySelector('h2')?.focus();
  } catch (e) {
    if (e.name === 'AbortError') return;
    save.disabled = false;
    save.removeAttribute('aria-busy');
    if (!placeServerError(form, e, fields)) showError(e);
    status.textContent = 'Not saved.';
  }
}

// "invalid policy: [file:]line N: message" -> the field that line came from, else false.
function placeServerError(form, e, fields) {
  if (!(e instanceof ApiError) || e.status !== 400 || !e.body || typeof e.body.error !== 'string') return false;
  const m = /line (\d+): (.*)$/.exec(e.body.error);
  if (!m) return false;
  const key = fields[Number(m[1]) - 1];
  const el = key ? fieldOf(form, key) : null;
  if (!el) return false;
  setFieldError(el, 'The service refused this: ' + m[2]);
  el.focus();
  return true;
}

// ---- what changed, and the history ----

function drawDiff(page, before, after, title) {
  let fieldsList = null;
  try {
    const changes = fieldDiff(parse(before.yaml), parse(after.yaml));
    fieldsList = changes.length ? h('ul', {class: 'changes'}, changes.map((c) => h('li', null, c)))
      : h('p', null, 'No setting changed.');
  } catch {
    fieldsList = null; // a stored text in another layout: the line diff alone says it
  }
  const lines = hunks(lineDiff(before.yaml, after.yaml));
  replace(page.diffSlot, h('section', {class: 'diff', 'data-testid': 'policy-diff', 'aria-labelledby': 'diff-h'},
    h('h2', {id: 'diff-h', tabindex: '-1'}, title),
    fieldsList,
    h('details', {open: true}, h('summary', null, 'Policy file, line by line'),
      h('pre', {class: 'yaml', tabindex: '0', 'aria-label': 'Line diff; - removed, + added'}, lines.map((d) =>
        d ? h('span', {class: d.op === '+' ? 'add' : d.op === '-' ? 'del' : 'ctx'}, d.op + ' ' + d.text + '\n')
          : h('span', {class: 'skip'}, '…\n'))))));
}

function drawHistory(page) {
  const hist = page.history;
  const vs = hist.versions;
  const items = vs.map((v, i) => {
    const older = vs[i + 1];
    let cmp = null;
    if (older && typeof v.yaml === 'string' && typeof older.yaml === 'string') {
      cmp = h('button', {type: 'button', class: 'link-button'}, 'Show changes');
      cmp.addEventListener('click', () => {
        drawDiff(page, older, v, 'Version ' + older.version + ' → ' + v.version);
        page.diffSlot.querySelector('h2')?.focus();
      });
    }
    return h('li', null, 'Version ', h('strong', null, String(v.version)), ' · by ',
      v.author ? code(v.author) : h('span', {class: 'sub'}, 'unknown'), ' · ', fmtTime(v.created_at),
      cmp ? [' · ', cmp] : null);
  });
  const more = hist.next ? h('button', {type: 'button'}, 'Older versions') : null;
  more?.addEventListener('click', async () => {
    more.disabled = true;
    try {
      const next = await loadVersions(page.ctx.signal, hist.next);
      page.history = {versions: [...vs, ...next.versions], next: next.next, error: next.error};
      drawHistory(page);
    } catch (e) {
      if (e.name !== 'AbortError') showError(e);
      more.disabled = false;
    }
  });
  replace(page.historySlot, h('h2', {id: 'history-h'}, 'History'),
    hist.error ? h('p', {class: 'notice'}, 'The history could not be loaded: ' + hist.error) : null,
    items.length ? h('ol', {class: 'history', 'data-testid': 'policy-history', 'aria-label': 'Stored versions, newest first'},
      items) : h('p', {class: 'empty', 'data-testid': 'policy-history'},
      'No stored versions yet: the built-in defaults (version 0) are in force.'),
    more);
}
