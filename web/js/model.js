// #/models/<uuid>: one model (GET /api/v1/models/{uuid}) and every version with its verdict history:
// the scans of the model (GET /api/v1/scans?model=) read one by one for their version and
// violations, then, per version and in time order, each scan whose outcome differs from the scan
// before it, with why: the violated policies, unreadable files, or a changed policy set or rules.

import {api} from './api.js';
import {h, replace, heading, loading, link, scanLink, outcomeBadge, fmtTime, facts, code, table, modelName,
  UUID_RE} from './dom.js';

const MAX_SCANS = 100; // reports read per model page; the rest is summarized
const PARALLEL = 6;

export async function render(ctx) {
  const uuid = ctx.segments[1];
  if (!UUID_RE.test(uuid)) {
    replace(ctx.main, heading('Model not found'), h('p', null, 'That is not a model id.'));
    return;
  }
  replace(ctx.main, ...loading('Model'));
  const [m, list] = await Promise.all([
    api('GET', '/api/v1/models/' + encodeURIComponent(uuid), {signal: ctx.signal}),
    api('GET', '/api/v1/scans', {query: {model: uuid, limit: MAX_SCANS}, signal: ctx.signal}),
  ]);
  const scans = (list.scans || []).filter((s) => s.eval_outcome !== 'PENDING');
  const reports = await readReports(scans, ctx.signal);
  const byVersion = new Map();
  for (const r of reports) {
    const k = r.model_version_uuid || '';
    if (!byVersion.has(k)) byVersion.set(k, []);
    byVersion.get(k).push(r);
  }
  const versions = Array.isArray(m.versions) ? m.versions : [];
  replace(ctx.main, heading(modelName(m)),
    facts([
      ['Source', code(m.model_uri)],
      ['First scanned', fmtTime(m.created_at)],
      ['Last scanned', fmtTime(m.updated_at)],
      ['Scans', link(['scans'], {model: uuid}, null, 'All scans of this model')],
      ['Model id', code(m.uuid)],
    ]),
    list.next_cursor ? h('p', {class: 'notice'},
      'The history below is built from the newest ' + MAX_SCANS + ' scans; older ones are in the scans list.') : null,
    h('h2', null, 'Versions (' + versions.length + ')'),
    versions.length ? versions.map((v) => versionBlock(v, byVersion.get(v.model_version_uuid) || []))
      : h('p', {class: 'empty'}, 'No versions.'));
}

// GET every report, a few at a time; a report that cannot be read is left out of the history.
async function readReports(scans, signal) {
  const out = new Array(scans.length);
  let next = 0;
  async function worker() {
    while (next < scans.length) {
      const i = next++;
      if (!UUID_RE.test(scans[i].uuid || '')) continue;
      try {
        out[i] = await api('GET', '/api/v1/scans/' + encodeURIComponent(scans[i].uuid), {signal});
      } catch (e) {
        if (e.name === 'AbortError' || e.status === 401) throw e;
      }
    }
  }
  await Promise.all(Array.from({length: PARALLEL}, worker));
  return out.filter(Boolean);
}

function versionBlock(v, reports) {
  const latest = v.latest_scan || {};
  // oldest first, to compare each scan with the one before it
  const chrono = reports.slice().sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)));
  const changes = [];
  let prev = null;
  for (const r of chrono) {
    if (!prev || prev.eval_outcome !== r.eval_outcome) changes.push({r, prev});
    prev = r;
  }
  changes.reverse(); // newest first on screen
  return h('article', {class: 'version'},
    h('h3', null, 'Version ', code(v.revision ? String(v.revision) : String(v.model_version_uuid || '?'))),
    h('p', {class: 'meta'}, 'Now ', outcomeBadge(latest.eval_outcome), ' since ', fmtTime(latest.created_at), ' (scan ',
      scanLink(latest.uuid), '). ', reports.length + ' scan(s) read, ' + Math.max(changes.length - 1, 0) +
      ' verdict change(s).'),
    table({
      caption: 'Verdict history of this version, newest first',
      columns: ['When', 'Verdict', 'Why', 'Scan'],
      empty: 'No scans of this version were read.',
      rows: changes.map(({r, prev: p}) => ({
        cells: [
          fmtTime(r.created_at),
          h('span', null, p ? [outcomeBadge(p.eval_outcome), ' → '] : 'first: ', outcomeBadge(r.eval_outcome)),
          why(r, p),
          scanLink(r.uuid),
        ],
      })),
    }));
}

function why(r, prev) {
  const items = [];
  const v = Array.isArray(r.policy_violations) ? r.policy_violations : [];
  if (r.eval_outcome === 'BLOCKED') for (const x of v) items.push('Violates ' + String(x.policy_name || x.policy_id));
  if (r.eval_outcome === 'ERROR') {
    const bad = (Array.isArray(r.files) ? r.files : []).filter((f) => f.status === 'ERROR');
    for (const f of bad.slice(0, 5)) items.push('Could not read ' + String(f.path) + (f.error ? ': ' + String(f.error) : ''));
    if (bad.length > 5) items.push('…and ' + (bad.length - 5) + ' more unreadable files');
  }
  if (r.eval_outcome === 'ALLOWED') items.push('No blocking violation');
  if (prev && prev.policy_digest !== r.policy_digest) items.push('Policy set changed (' + short(prev.policy_digest) +
    ' → ' + short(r.policy_digest) + ')');
  if (prev && prev.rules_version !== r.rules_version) items.push('Rules changed (' + String(prev.rules_version) + ' → ' +
    String(r.rules_version) + ')');
  if (prev && prev.eval_outcome === 'BLOCKED' && r.eval_outcome !== 'BLOCKED') {
    const before = (prev.policy_violations || []).map((x) => String(x.policy_name || x.policy_id));
    if (before.length) items.push('No longer violates ' + before.join(', '));
  }
  return items.length ? h('ul', {class: 'plain'}, items.map((t) => h('li', null, t))) : '—';
}

function short(digest) {
  return typeof digest === 'string' ? digest.replace(/^sha256:/, '').slice(0, 12) : '?';
}
