// #/scans?outcome=&model=&since=&cursor=: the scans list (GET /api/v1/scans) with its filters and
// keyset pages. The filters live in the hash, so a filtered page can be bookmarked and the browser's
// back button walks back through pages.

import {api} from './api.js';
import {h, replace, heading, loading, link, scanLink, modelLink, outcomeBadge, fmtTime, code, table,
  UUID_RE, routeHref} from './dom.js';

const PAGE = 50;
const MODEL_RE = /^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+$/;

// model uuid -> "ns/name", cached for a minute: list rows carry only the model's uuid.
let names = null;
let namesAt = 0;

async function modelNames(signal) {
  if (names && Date.now() - namesAt < 60000) return names;
  const m = new Map();
  const data = await api('GET', '/api/v1/models', {query: {limit: 1000}, signal});
  for (const x of data.models || []) m.set(x.uuid, x.namespace ? x.namespace + '/' + x.model_name : x.model_name);
  names = m;
  namesAt = Date.now();
  return m;
}

export async function render(ctx) {
  const f = {
    outcome: ctx.query.get('outcome') || '',
    model: ctx.query.get('model') || '',
    since: ctx.query.get('since') || '',
    cursor: ctx.query.get('cursor') || '',
  };
  replace(ctx.main, ...loading('Scans'));
  const [data, known] = await Promise.all([
    api('GET', '/api/v1/scans', {query: {...f, limit: PAGE}, signal: ctx.signal}),
    modelNames(ctx.signal).catch(() => new Map()),
  ]);
  const rows = (data.scans || []).map((s) => ({
    testid: 'scan-row',
    cells: [
      scanLink(s.uuid),
      s.model_uuid ? modelLink(s.model_uuid, s.namespace ? s.namespace + '/' + s.model_name
        : known.get(s.model_uuid) || 'model ' + String(s.model_uuid).slice(0, 8)) : h('span', {class: 'sub'}, 'not yet known'),
      outcomeBadge(s.eval_outcome),
      code(s.model_uri),
      fmtTime(s.created_at),
    ],
  }));
  replace(ctx.main, heading('Scans'), filterForm(f),
    table({caption: 'Scans, newest first', columns: ['Scan', 'Model', 'Outcome', 'Source', 'Time'], rows,
      empty: 'No scans match.'}),
    pager(f, data.next_cursor));
}

function filterForm(f) {
  const outcome = h('select', {id: 'f-outcome', name: 'outcome'},
    ['', 'ALLOWED', 'BLOCKED', 'ERROR', 'PENDING'].map((o) =>
      h('option', {value: o, selected: o === f.outcome}, o || 'Any')));
  const model = h('input', {id: 'f-model', name: 'model', type: 'text', value: f.model, spellcheck: 'false',
    placeholder: 'namespace/name or uuid', 'aria-describedby': 'f-model-err'});
  const since = h('input', {id: 'f-since', name: 'since', type: 'text', value: f.since, spellcheck: 'false',
    placeholder: '2025-03-01 or 2025-03-01T00:00:00Z', 'aria-describedby': 'f-since-err'});
  const modelErr = h('p', {class: 'field-error', id: 'f-model-err', hidden: true, 'data-testid': 'field-error'});
  const sinceErr = h('p', {class: 'field-error', id: 'f-since-err', hidden: true, 'data-testid': 'field-error'});
  const form = h('form', {class: 'filters', novalidate: true, 'aria-label': 'Filter scans'},
    h('div', {class: 'field'}, h('label', {for: 'f-outcome'}, 'Outcome'), outcome),
    h('div', {class: 'field'}, h('label', {for: 'f-model'}, 'Model'), model, modelErr),
    h('div', {class: 'field'}, h('label', {for: 'f-since'}, 'Since'), since, sinceErr),
    h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary'}, 'Apply'),
      link(['scans'], null, {class: 'button'}, 'Clear')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const m = model.value.trim();
    const s = normalizeSince(since.value.trim());
    const okModel = !m || UUID_RE.test(m) || MODEL_RE.test(m);
    setErr(model, modelErr, okModel ? '' : 'Enter a model uuid or namespace/name.');
    setErr(since, sinceErr, s !== null ? '' : 'Enter a date (2025-03-01) or an RFC 3339 time (2025-03-01T00:00:00Z).');
    if (!okModel) return model.focus();
    if (s === null) return since.focus();
    location.hash = routeHref(['scans'], {outcome: outcome.value, model: m, since: s});
  });
  return form;
}

function setErr(input, el, msg) {
  el.textContent = msg;
  el.hidden = !msg;
  if (msg) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

// '' stays '', a date becomes its UTC midnight, an RFC 3339 time passes as written; else null.
function normalizeSince(s) {
  if (!s) return '';
  if (/^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(s + 'T00:00:00Z'))) return s + 'T00:00:00Z';
  if (/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/.test(s) &&
      !Number.isNaN(Date.parse(s.replace(' ', 'T')))) return s.replace(' ', 'T');
  return null;
}

function pager(f, next) {
  const {cursor, ...filters} = f;
  return h('nav', {class: 'pager', 'aria-label': 'Pages'},
    cursor ? link(['scans'], filters, {class: 'button'}, 'Newest') : null,
    next ? link(['scans'], {...filters, cursor: next}, {class: 'button'}, 'Next page') : null,
    !cursor && !next ? null : h('span', {class: 'sub'}, cursor ? 'Use Back for the previous page.' : ''));
}
