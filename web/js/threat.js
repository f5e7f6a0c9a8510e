// #/threats/<id>: one threat of the catalog: its title, severity and the policy it violates, and
// where its full description lives (docs/threats/<id>.md in the source tree).

import {api} from './api.js';
import {h, replace, heading, loading, link, severityBadge, facts, code, THREAT_RE} from './dom.js';

export async function render(ctx) {
  const id = ctx.segments[1];
  replace(ctx.main, ...loading(id));
  const data = await api('GET', '/api/v1/threats', {signal: ctx.signal});
  const t = (Array.isArray(data.threats) ? data.threats : []).find((x) => x.id === id);
  if (!t || !THREAT_RE.test(id)) {
    replace(ctx.main, heading('Unknown threat'),
      h('p', null, 'The catalog has no threat ', code(id), '.'),
      h('p', null, link(['threats'], null, null, 'All threats')));
    return;
  }
  replace(ctx.main, heading(t.id + ': ' + String(t.title || '')),
    facts([
      ['Id', code(t.id)],
      ['Severity', severityBadge(t.severity)],
      ['Violates the policy', String(t.policy || '—')],
      ['Description', h('span', null, 'docs/threats/', t.id, '.md in the modelgate sources, or ', code('modelgate threats'))],
    ]),
    h('p', {class: 'sub'}, 'A finding\'s severity is the threat\'s own; the violation it causes takes the severity of its policy.'),
    h('p', null, link(['threats'], null, null, 'All threats')));
}
