// The fleet: mailboxes across all of the account's running projects that
// need attention now (stalled and failing by default), refreshed every
// five seconds, worst first.

import { get, qs } from '../api.js';
import { h, clear, num, bytes, notice, errorText, healthBadge, stateBadge, when, add } from '../dom.js';

const HEALTHS = [['failing', 'Failing'], ['stalled', 'Stalled'], ['throttled', 'Throttled'], ['slow', 'Slow'], ['healthy', 'Healthy']];

export async function render(ctx) {
  const chosen = new Set((ctx.query.get('health') || 'stalled,failing').split(',').filter(Boolean));
  const counts = h('div');
  const tableBox = h('div', { 'aria-live': 'polite' });
  const updated = h('span', { class: 'muted small' });
  const names = {};
  const boxes = h('fieldset', { class: 'row' }, h('legend', null, 'Show mailboxes that are'),
    HEALTHS.map(([v, t]) => h('label', { class: 'choice' }, h('input', { type: 'checkbox', value: v, checked: chosen.has(v), onchange: (e) => {
      if (e.target.checked) chosen.add(v); else chosen.delete(v);
      refresh();
    } }), t)));

  async function projectName(id) {
    if (!(id in names)) {
      names[id] = get(`/api/projects/${id}`).then((p) => p.name).catch(() => id);
    }
    return names[id];
  }

  async function refresh() {
    if (!chosen.size) {
      clear(tableBox).append(notice('info', 'Tick at least one kind of health.'));
      return;
    }
    let f;
    try {
      f = await get('/api/fleet' + qs({ health: [...chosen].join(',') }));
    } catch (err) {
      clear(tableBox).append(notice('bad', errorText(err)));
      return;
    }
    if (ctx.stale()) return;
    clear(counts).append(h('div', { class: 'stats' }, HEALTHS.map(([v, t]) => h('div', { class: 'stat' }, h('div', { class: 'v' }, num(f.counts[v] || 0)), h('div', { class: 'k' }, healthBadge(v), ' ', t.toLowerCase())))));
    updated.textContent = 'updated ' + when(new Date());
    const rows = await Promise.all(f.mailboxes.slice(0, 500).map(async (m) => h('tr', null,
      h('td', null, h('a', { href: `#/p/${m.projectId}/track/${m.runId}` }, await projectName(m.projectId))),
      h('td', null, h('a', { href: `#/p/${m.projectId}/mailbox/${m.runId}/${encodeURIComponent(m.sourceId)}` }, m.sourceAddress || m.sourceId)),
      h('td', null, healthBadge(m.health, m.healthReason)), h('td', { class: 'small' }, m.healthReason || ''),
      h('td', null, stateBadge(m.state)), h('td', { class: 'num' }, num(m.items)), h('td', { class: 'num' }, bytes(m.bytes)), h('td', null, when(m.updatedAt)))));
    if (ctx.stale()) return;
    clear(tableBox).append(f.mailboxes.length
      ? h('div', { class: 'table-wrap' }, h('table', { dataset: { testid: 'fleet' } },
        h('thead', null, h('tr', null, ['Project', 'Mailbox', 'Health', 'Why', 'State', 'Items', 'Data', 'Last progress'].map((c) => h('th', null, c)))),
        h('tbody', null, rows)))
      : notice('ok', 'Nothing needs attention: no running mailbox is in the chosen health.'),
    f.mailboxes.length > 500 ? h('p', { class: 'muted' }, `The worst 500 of ${num(f.mailboxes.length)} are shown.`) : null);
  }

  add(ctx.main, h('h1', null, 'Fleet'), h('p', { class: 'muted' }, 'Running mailboxes across all your projects, worst first. ', updated), boxes, counts, tableBox);
  await refresh();
  const timer = setInterval(refresh, 5000);
  ctx.onDispose(() => clearInterval(timer));
}
