// #/scans/<uuid>: one scan's report (GET /api/v1/scans/{uuid}, report.md): the outcome first, then each
// violation with its severity, compliance issues, files, threats and remediation, the warnings, and
// every file with its findings. "Re-run" POSTs a new scan of the same model_uri; an unfinished scan
// is polled until its outcome is known. The raw report downloads from .../report.json.

import {api, canScan, ApiError} from './api.js';
import {h, replace, heading, loading, apiLink, modelLink, threatLink, outcomeBadge, severityBadge,
  fmtTime, fmtBytes, facts, code, table, modelName, showError, announce, sleep, shortId, UUID_RE} from './dom.js';

export async function render(ctx) {
  const uuid = ctx.segments[1];
  if (!UUID_RE.test(uuid)) {
    replace(ctx.main, heading('Scan not found'), h('p', null, 'That is not a scan id.'));
    return;
  }
  replace(ctx.main, ...loading('Scan'));
  const report = await api('GET', '/api/v1/scans/' + encodeURIComponent(uuid), {signal: ctx.signal});
  draw(ctx, uuid, report);
  if (report.eval_outcome === 'PENDING') poll(ctx, uuid);
}

// Polls an unfinished scan: every second at first, then less often, for at most half an hour.
async function poll(ctx, uuid) {
  const started = Date.now();
  let state = null;
  try {
    for (let i = 0; Date.now() - started < 1800000; i++) {
      await sleep(i < 10 ? 1000 : i < 40 ? 2000 : 5000, ctx.signal);
      const report = await api('GET', '/api/v1/scans/' + encodeURIComponent(uuid), {signal: ctx.signal});
      if (report.eval_outcome !== 'PENDING' || report.state !== state) {
        state = report.state;
        const hadFocus = ctx.main.contains(document.activeElement);
        draw(ctx, uuid, report);
        if (hadFocus) ctx.main.querySelector('h1')?.focus();
        if (report.eval_outcome !== 'PENDING') {
          announce('Scan finished: ' + report.eval_outcome);
          return;
        }
      }
    }
    showError('The scan is still pending after 30 minutes; reload the page to look again.');
  } catch (e) {
    if (e.name !== 'AbortError' && !ctx.signal.aborted) showError(e);
  }
}

function draw(ctx, uuid, r) {
  const pending = r.eval_outcome === 'PENDING';
  const violations = Array.isArray(r.policy_violations) ? r.policy_violations : [];
  const warnings = Array.isArray(r.warnings) ? r.warnings : [];
  const files = Array.isArray(r.files) ? r.files : [];
  replace(ctx.main,
    heading(r.model_name ? modelName(r) : 'Scan ' + shortId(uuid)),
    h('div', {class: 'verdict'},
      outcomeBadge(r.eval_outcome, {'data-testid': 'scan-outcome', class: 'big'}),
      h('p', null, verdictText(r, violations, warnings))),
    actions(ctx, uuid, r),
    facts([
      ['Source', code(r.model_uri)],
      r.model_uuid ? ['Model', modelLink(r.model_uuid, modelName(r))] : null,
      r.revision ? ['Revision', code(r.revision)] : null,
      ['License', r.license ? code(r.license) : 'none found'],
      ['Scanned', fmtTime(r.created_at)],
      pending ? ['State', r.state || 'QUEUED'] : ['Finished', fmtTime(r.updated_at)],
      r.global_threshold_snapshot ? ['Threshold', severityBadge(r.global_threshold_snapshot)] : null,
      r.enabled_policy_count_snapshot !== undefined ? ['Enabled policies', String(r.enabled_policy_count_snapshot)] : null,
      r.policy_digest ? ['Policy', code(r.policy_digest)] : null,
      r.rules_version ? ['Rules', code(r.rules_version)] : null,
      r.scanner_version ? ['Scanner', code(r.scanner_version)] : null,
      ['Scan id', code(uuid)],
    ]),
    pending ? h('p', {class: 'loading', 'aria-busy': 'true'}, 'Waiting for the scan to finish…') : [
      h('section', {'aria-labelledby': 'violations-h'},
        h('h2', {id: 'violations-h'}, 'Violations (' + violations.length + ')'),
        violations.length ? violations.map((v) => violationBlock(v, 'violation'))
          : h('p', {class: 'empty'}, 'No policy is violated at or above the threshold.')),
      warnings.length ? h('section', {'aria-labelledby': 'warnings-h'},
        h('h2', {id: 'warnings-h'}, 'Warnings (' + warnings.length + ')'),
        h('p', {class: 'sub'}, 'Violations of ALLOWING policies or below the threshold: they never block.'),
        warnings.map((v) => violationBlock(v, 'warning'))) : null,
      h('section', {'aria-labelledby': 'files-h'},
        h('h2', {id: 'files-h'}, 'Files (' + files.length + ')'),
        filesTable(files)),
    ]);
}

function verdictText(r, violations, warnings) {
  switch (r.eval_outcome) {
    case 'BLOCKED': return 'Blocked by ' + violations.length + (violations.length === 1 ? ' policy.' : ' policies.');
    case 'ALLOWED': return 'Allowed' + (warnings.length ? ', with ' + warnings.length + ' warning(s).' : '.');
    case 'ERROR': return 'The model could not be scanned completely; it is not allowed.';
    case 'PENDING': return 'The scan has not finished yet.';
    default: return '';
  }
}

function actions(ctx, uuid, r) {
  const box = h('div', {class: 'actions'});
  if (canScan() && typeof r.model_uri === 'string') {
    const btn = h('button', {type: 'button', class: 'primary', 'data-testid': 'rerun'}, 'Re-run scan');
    btn.addEventListener('click', () => rerun(ctx, btn, r));
    box.appendChild(btn);
  }
  if (r.eval_outcome !== 'PENDING') {
    box.appendChild(apiLink(['scans', uuid, 'report.json'], {class: 'button', download: 'modelgate-' + uuid + '.json',
      'data-testid': 'download-json'}, 'Download JSON report'));
  }
  if (!canScan()) box.appendChild(h('span', {class: 'sub'}, 'Re-running a scan needs the scanner or admin role.'));
  return box;
}

async function rerun(ctx, btn, r) {
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  try {
    const body = {model_uri: r.model_uri};
    if (typeof r.license === 'string' && r.license) body.license = r.license;
    const ans = await api('POST', '/api/v1/scans', {json: body, signal: ctx.signal});
    if (!ans || !UUID_RE.test(ans.uuid || '')) throw new ApiError(0, 'The service did not answer with a scan id.', ans);
    announce('Scan queued');
    location.hash = '#/scans/' + encodeURIComponent(ans.uuid);
  } catch (e) {
    if (e.name !== 'AbortError') showError(e);
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

// One violation or warning: report.md's shape, every string shown as text.
function violationBlock(v, testid) {
  const rem = v.remediation || {};
  const byFile = Array.isArray(v.issues_by_file) ? v.issues_by_file : [];
  const issues = Array.isArray(v.compliance_issues) ? v.compliance_issues : [];
  const steps = Array.isArray(rem.steps) ? rem.steps : [];
  return h('article', {class: 'violation ' + (testid === 'warning' ? 'is-warning' : 'is-violation'), 'data-testid': testid},
    h('h3', null, String(v.policy_name || v.policy_id || 'Policy')),
    h('p', {class: 'meta'}, severityBadge(v.severity), v.policy_id ? [' ', code(v.policy_id)] : null),
    issues.length ? [h('h4', null, 'Compliance issues'),
      h('ul', null, issues.map((s) => h('li', null, String(s))))] : null,
    byFile.length ? [h('h4', null, 'Files'),
      h('ul', {class: 'by-file'}, byFile.map((x) =>
        h('li', null, code(x.file), x.threat ? [' — ', threatLink(x.threat)] : null)))] : null,
    h('h4', null, 'Remediation'),
    rem.description ? h('p', null, String(rem.description)) : null,
    steps.length ? h('ol', null, steps.map((s) => h('li', null, String(s)))) : null,
    rem.url ? h('p', {class: 'sub'}, 'Reference: ', code(rem.url)) : null);
}

function filesTable(files) {
  return table({
    caption: 'Files of the model',
    columns: ['Path', 'Format', 'Size', 'SHA-256', 'Status', 'Findings'],
    empty: 'No files.',
    rows: files.map((f) => ({
      testid: 'file-row',
      cells: [
        code(f.path),
        f.format ? code(f.format) : '—',
        fmtBytes(f.size),
        f.sha256 ? h('code', {class: 'mono hash'}, String(f.sha256)) : '—',
        h('span', {class: 'status status-' + (f.status === 'ERROR' ? 'error' : 'ok')}, String(f.status || '—')),
        findings(f),
      ],
    })),
  });
}

function findings(f) {
  const list = Array.isArray(f.findings) ? f.findings : [];
  const err = f.status === 'ERROR' && f.error ? h('p', {class: 'file-error'}, 'Error: ', String(f.error)) : null;
  if (!list.length) return err || h('span', {class: 'sub'}, 'none');
  return [err, h('ul', {class: 'findings'}, list.map((d) =>
    h('li', null,
      severityBadge(d.severity), ' ', threatLink(d.threat), ' ',
      h('span', {class: 'msg'}, String(d.message ?? '')),
      h('span', {class: 'sub'}, ' at byte offset ' + (Number.isFinite(d.offset) ? d.offset : '?'),
        d.location ? [' in ', code(d.location)] : null,
        d.operator ? [', operator ', code(d.operator)] : null,
        d.module ? ' (' + String(d.module) + ' reader)' : null))))];
}
