// Step 3: discovery. Free and read-only: it counts every reachable
// mailbox's folders, items and sizes and reports the blockers before any
// credit is spent. The table is sorted, filtered and paged on the server.

import { get, post, qs, stream } from '../api.js';
import { h, clear, num, bytes, notice, pager, errorText, stateBadge, when, debounce, add } from '../dom.js';

export async function render(ctx, project) {
  const state = { side: 'source', sort: 'address', order: 'asc', filter: ctx.query.get('filter') || '', offset: 0, limit: 50 };
  const runBox = h('div', { 'aria-live': 'polite', dataset: { testid: 'discovery-run' } });
  const summary = h('div');
  const blockersBox = h('div');
  const tableBox = h('div');
  const startBtn = h('button', { type: 'button', class: 'primary', dataset: { testid: 'start-discovery' } }, 'Run discovery');
  let latestShown = '';

  startBtn.addEventListener('click', async () => {
    startBtn.disabled = true;
    try {
      await post(`/api/projects/${project.id}/runs`, { mode: 'discovery' });
    } catch (err) {
      runBox.prepend(notice('bad', errorText(err)));
    } finally {
      startBtn.disabled = false;
    }
  });

  const showRun = (runs) => {
    const d = runs.find((r) => r.mode === 'discovery');
    clear(runBox);
    if (!d) {
      add(runBox, notice('info', 'No discovery yet. It is free and writes nothing.'));
      return;
    }
    add(runBox, h('p', null, 'Latest discovery: ', stateBadge(d.state), ' started ', when(d.requested),
      d.finished ? [' · finished ', when(d.finished)] : null, d.reason ? ' · ' + d.reason : ''));
    if (d.state === 'completed' && d.id !== latestShown) {
      latestShown = d.id;
      load();
    }
  };

  const filter = h('input', { type: 'search', name: 'filter', value: state.filter, placeholder: 'Address or name', 'aria-label': 'Filter mailboxes', dataset: { filter: '' } });
  const side = h('select', { name: 'side', 'aria-label': 'Side' }, h('option', { value: 'source' }, 'Source mailboxes'), h('option', { value: 'destination' }, 'Destination mailboxes'));
  const reload = debounce(() => { state.offset = 0; load(); }, 250);
  filter.addEventListener('input', () => { state.filter = filter.value.trim(); reload(); });
  filter.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); reload.now(); } });
  side.addEventListener('change', () => { state.side = side.value; state.offset = 0; load(); });

  let loadSeq = 0;
  async function load() {
    const seq = ++loadSeq;
    const started = performance.now();
    let res;
    try {
      res = await get(`/api/projects/${project.id}/discovery` + qs({ side: state.side, sort: state.sort, order: state.order, filter: state.filter, offset: state.offset, limit: state.limit }));
    } catch (err) {
      if (seq !== loadSeq) return;
      clear(tableBox).append(err.code === 'not_found' ? notice('info', 'Run discovery to see the mailboxes.') : notice('bad', errorText(err)));
      return;
    }
    if (seq !== loadSeq || ctx.stale()) return;
    drawSummary(res);
    drawBlockers(res.blockers || []);
    drawTable(res, started);
  }

  function drawSummary(res) {
    const t = res.totals || {};
    clear(summary).append(h('div', { class: 'stats', dataset: { testid: 'discovery-totals' } },
      stat('Source mailboxes', num(res.sourceMailboxes)), stat('Destination mailboxes', num(res.destinationMailboxes)),
      stat('Mail items', num(t.mail)), stat('Calendar items', num(t.events)), stat('Contacts', num(t.contacts)),
      stat('Folders', num(t.folders)), stat('Size', bytes(t.sizeBytes)), stat('Blockers', num((res.blockers || []).length))),
    res.failure ? notice('bad', `Discovery failed: ${res.failure.cause}. ${res.failure.action || ''}`) : null);
  }

  function drawBlockers(blockers) {
    clear(blockersBox);
    if (!blockers.length) {
      add(blockersBox, notice('ok', 'No blockers found: nothing stops a migration of these mailboxes.'));
      return;
    }
    add(blockersBox, h('h2', null, `Blockers (${blockers.length})`), h('div', { class: 'table-wrap' }, h('table', { dataset: { testid: 'blockers' } },
      h('thead', null, h('tr', null, h('th', null, 'Problem'), h('th', null, 'Mailbox'), h('th', null, 'Detail'), h('th', null, 'What to do'))),
      h('tbody', null, blockers.slice(0, 200).map((b) => h('tr', null, h('td', null, h('span', { class: 'badge bad' }, b.code)), h('td', null, b.mailbox || 'all'), h('td', null, b.detail), h('td', null, b.action || '–')))))),
    blockers.length > 200 ? h('p', { class: 'muted' }, `The first 200 of ${blockers.length} are shown; the table below marks every affected mailbox.`) : null);
  }

  const sortHeader = (key, label, numeric) => {
    const th = h('th', { class: numeric ? 'num' : '', 'aria-sort': state.sort === key ? (state.order === 'asc' ? 'ascending' : 'descending') : 'none' },
      h('button', { type: 'button', class: 'sort', dataset: { sort: key }, onclick: () => {
        if (state.sort === key) state.order = state.order === 'asc' ? 'desc' : 'asc';
        else { state.sort = key; state.order = key === 'address' ? 'asc' : 'desc'; }
        state.offset = 0;
        load();
      } }, label));
    return th;
  };

  function drawTable(res, started) {
    const byMailbox = {};
    for (const b of res.blockers || []) {
      if (b.mailbox) (byMailbox[b.mailbox.toLowerCase()] = byMailbox[b.mailbox.toLowerCase()] || []).push(b);
    }
    const rows = res.mailboxes.map((m) => {
      const bl = byMailbox[(m.mailbox.primaryAddress || '').toLowerCase()] || byMailbox[(m.mailbox.id || '').toLowerCase()] || [];
      const s = m.stats || {};
      return h('tr', { class: bl.length ? 'exception' : '' },
        h('td', null, m.mailbox.primaryAddress, h('div', { class: 'muted small' }, m.mailbox.displayName || '')),
        h('td', { class: 'num' }, num(s.folders)), h('td', { class: 'num' }, num(s.mail)), h('td', { class: 'num' }, num(s.events)),
        h('td', { class: 'num' }, num(s.contacts)), h('td', { class: 'num' }, bytes(s.sizeBytes)), h('td', { class: 'num' }, bytes(s.largestItem)),
        h('td', null, bl.length ? bl.map((b) => h('span', { class: 'badge bad', title: b.detail }, b.code)) : h('span', { class: 'muted' }, 'none')));
    });
    const table = h('table', { dataset: { testid: 'discovery-table', total: String(res.total) } },
      h('thead', null, h('tr', null, sortHeader('address', 'Mailbox'), h('th', { class: 'num' }, 'Folders'),
        sortHeader('items', 'Mail', true), h('th', { class: 'num' }, 'Calendar'), h('th', { class: 'num' }, 'Contacts'),
        sortHeader('size', 'Size', true), h('th', { class: 'num' }, 'Largest item'), h('th', null, 'Blockers'))),
      h('tbody', null, rows.length ? rows : h('tr', null, h('td', { colspan: 8 }, 'No mailbox matches the filter.'))));
    clear(tableBox).append(h('div', { class: 'toolbar' }, side, filter, h('span', { class: 'spacer' }),
      pager(state.offset, state.limit, res.total, (o) => { state.offset = o; load(); })),
    h('div', { class: 'table-wrap' }, table));
    table.dataset.loadMs = String(Math.round(performance.now() - started));
  }

  add(ctx.main,
    h('p', { class: 'muted' }, 'Discovery reads both sides and writes nothing: it is free, and it finds blockers before anything is spent.'),
    h('div', { class: 'row' }, startBtn, h('span', { class: 'live muted', dataset: { testid: 'live' } })), runBox, summary, blockersBox, tableBox,
    h('div', { class: 'row' }, h('a', { class: 'button primary', href: `#/p/${project.id}/mapping` }, 'Continue to mapping')));

  const live = ctx.main.querySelector('[data-testid=live]');
  const s = stream(`/api/projects/${project.id}/events`, {
    runs: (d) => showRun(d.runs),
    onState: (st) => { live.textContent = st === 'live' ? '● live' : st === 'reconnecting' ? 'reconnecting…' : ''; },
  });
  ctx.onDispose(() => s.close());
  load();
}

export function stat(k, v, testid) {
  return h('div', { class: 'stat', dataset: testid ? { testid } : undefined }, h('div', { class: 'v' }, v), h('div', { class: 'k' }, k));
}
