// Step 6b: track a run live. The project's event stream pushes the run's
// state, its totals and the shown page of mailboxes whenever they change;
// no refresh needed. Cancel, retry the failed mailboxes, and download the
// reconciliation report from here.

import { get, post, qs, stream, download } from '../api.js';
import { h, clear, num, bytes, duration, notice, pager, errorText, stateBadge, healthBadge, when, confirmDialog, add } from '../dom.js';
import { load, header } from './wizard.js';
import { stat } from './discovery.js';

const ENDED = ['completed', 'failed', 'cancelled', 'rejected'];

export async function render(ctx) {
  const { project, runs } = await load(ctx.params.id);
  if (ctx.stale()) return;
  const runID = ctx.params.runId;
  let run = runs.find((r) => r.id === runID);
  if (!run) {
    add(ctx.main, ...header(ctx, project, runs, 'launch'), notice('bad', 'This project has no such run.'));
    return;
  }
  const view = { state: ctx.query.get('state') || '', offset: 0, limit: 50 };
  let board = null; // the telemetry run page
  const samples = []; // [time, items, bytes] of the run's totals, for its rate

  const head = h('div', { dataset: { testid: 'run-head' } });
  const totals = h('div', { 'aria-live': 'off' });
  const actions = h('div', { class: 'row' });
  const message = h('div', { 'aria-live': 'polite' });
  const tableBox = h('div');
  const live = h('span', { class: 'live muted', dataset: { testid: 'live' } });
  const stateSel = h('select', { name: 'state', 'aria-label': 'Show mailboxes in state' },
    [['', 'All mailboxes'], ['running', 'Running'], ['queued', 'Queued'], ['completed', 'Completed'], ['failed', 'Failed'], ['cancelled', 'Cancelled']]
      .map(([v, t]) => h('option', { value: v, selected: v === view.state }, t)));
  stateSel.addEventListener('change', () => { view.state = stateSel.value; view.offset = 0; connect(); });

  const cancelBtn = h('button', { type: 'button', class: 'danger', dataset: { testid: 'cancel-run' } }, 'Cancel run');
  cancelBtn.addEventListener('click', async () => {
    const ok = await confirmDialog('Cancel this run?', h('p', null, 'Mailboxes not started yet do not start, running ones stop after their current item; held credits not used are released. Items already copied stay.'), 'Cancel run', true);
    if (!ok) return;
    try {
      await post(`/api/runs/${run.id}/cancel`);
      message.replaceChildren(notice('info', 'Cancelling: mailboxes stop after their current item.'));
    } catch (err) { message.replaceChildren(notice('bad', errorText(err))); }
  });
  const retryBtn = h('button', { type: 'button', dataset: { testid: 'retry-failed' } }, 'Retry failed mailboxes');
  retryBtn.addEventListener('click', retryFailed);
  const reportBtn = h('button', { type: 'button', dataset: { testid: 'download-report' } }, 'Download reconciliation report (CSV)');
  reportBtn.addEventListener('click', async () => {
    try {
      const f = await download(`/api/projects/${project.id}/reconciliation.csv` + qs({ runId: run.id }), `reconciliation-${project.id}.csv`);
      message.replaceChildren(notice('ok', `Downloaded ${f.name} (${bytes(f.size)}).`));
      message.dataset.downloaded = f.name;
    } catch (err) { message.replaceChildren(notice('bad', errorText(err))); }
  });

  async function retryFailed() {
    let failed = [];
    try {
      for (let offset = 0; ; offset += 1000) {
        const p = await get(`/api/runs/${run.id}/progress` + qs({ state: 'failed', offset, limit: 1000 }));
        failed = failed.concat(p.mailboxes.map((m) => m.sourceAddress).filter(Boolean));
        if (offset + 1000 >= p.total) break;
      }
    } catch (err) { message.replaceChildren(notice('bad', errorText(err))); return; }
    if (!failed.length) { message.replaceChildren(notice('info', 'No failed mailbox to retry.')); return; }
    const ok = await confirmDialog(`Retry ${failed.length} failed mailbox${failed.length === 1 ? '' : 'es'}?`,
      h('p', null, `A new ${run.mode} run moves what is missing for them. Mailboxes charged before are free; nothing is copied twice.`), 'Start retry run');
    if (!ok) return;
    try {
      const res = await post(`/api/projects/${project.id}/runs`, { mode: run.mode, calendar: run.calendar, contacts: run.contacts, mailboxes: failed, allowPartial: true });
      ctx.go(`#/p/${project.id}/track/${res.run.id}`);
    } catch (err) { message.replaceChildren(notice('bad', errorText(err))); }
  }

  function drawHead() {
    clear(head).append(h('p', null, `${run.mode} run `, h('code', null, run.id), ' · ', stateBadge(run.state), ' · requested ', when(run.requested),
      run.finished ? [' · finished ', when(run.finished)] : null, ' ', live),
    run.reason ? notice(run.state === 'rejected' ? 'bad' : 'info', run.reason) : null);
    clear(actions);
    if (!ENDED.includes(run.state) && run.mode !== 'discovery') add(actions, cancelBtn);
    if (ENDED.includes(run.state) && run.mode !== 'discovery' && board && board.totals.failed > 0) add(actions, retryBtn);
    if (run.mode !== 'discovery') add(actions, reportBtn);
    add(actions, h('a', { class: 'button', href: `#/p/${project.id}/launch` }, 'All runs'));
  }

  function rate() {
    // Items and bytes per unit of time over the last ~15 s of samples.
    if (samples.length < 2) return { ipm: null, bps: null };
    const a = samples[0];
    const z = samples[samples.length - 1];
    const dt = (z[0] - a[0]) / 1000;
    if (dt <= 0) return { ipm: null, bps: null };
    return { ipm: ((z[1] - a[1]) * 60) / dt, bps: (z[2] - a[2]) / dt };
  }

  function drawTotals() {
    if (!board) {
      clear(totals).append(notice('info', run.mode === 'discovery' ? 'Discovery runs show their results on the discovery step.' : 'Waiting for the first mailbox to start…'));
      return;
    }
    const t = board.totals;
    const running = board.mailboxes.filter((m) => m.state === 'running');
    const etas = running.map((m) => m.etaSeconds).filter((x) => x !== null && x !== undefined);
    const r = rate();
    const done = t.completed + t.failed + t.cancelled;
    clear(totals).append(
      h('div', { class: 'bar', title: `${done} of ${t.mailboxes} mailboxes ended` }, h('span', { style: `width:${t.mailboxes ? Math.round((done * 100) / t.mailboxes) : 0}%` })),
      h('div', { class: 'stats', dataset: { testid: 'run-totals' } },
        stat('Mailboxes', num(t.mailboxes)), stat('Completed', num(t.completed), 'completed'), stat('Running', num(t.running)), stat('Queued', num(t.queued)),
        stat('Failed', num(t.failed), 'failed'), stat('Items copied', num(t.items), 'items'), stat('Data copied', bytes(t.bytes)),
        stat('Rate', r.bps === null ? '–' : bytes(r.bps) + '/s'), stat('Items per minute', r.ipm === null ? '–' : num(Math.round(r.ipm))),
        stat('ETA (slowest running shown)', etas.length ? duration(Math.max(...etas)) : ENDED.includes(run.state) ? 'done' : '–')));
  }

  function drawTable() {
    if (!board) { clear(tableBox); return; }
    const rows = board.mailboxes.map((m) => {
      const pct = m.totalItems ? Math.min(100, Math.round((m.items * 100) / m.totalItems)) : (m.state === 'completed' ? 100 : 0);
      return h('tr', { dataset: { source: m.sourceAddress || m.sourceId } },
        h('td', null, h('a', { href: `#/p/${project.id}/mailbox/${run.id}/${encodeURIComponent(m.sourceId)}` }, m.sourceAddress || m.sourceId)),
        h('td', null, stateBadge(m.state)),
        h('td', null, healthBadge(m.health, m.healthReason), m.health === 'throttled' && m.retryAfterMs ? h('div', { class: 'small' }, `waiting ${duration(m.retryAfterMs / 1000)}`) : null,
          m.healthReason && m.health !== 'throttled' ? h('div', { class: 'small muted' }, m.healthReason) : null),
        h('td', { class: 'num' }, `${num(m.items)}${m.totalItems ? ' / ' + num(m.totalItems) : ''}`, h('div', { class: 'bar' }, h('span', { style: `width:${pct}%` }))),
        h('td', { class: 'num' }, bytes(m.bytes)),
        h('td', { class: 'num' }, m.state === 'running' ? bytes(m.bytesPerSecond) + '/s' : '–'),
        h('td', { class: 'num' }, m.state === 'running' ? num(Math.round(m.itemsPerMinute)) : '–'),
        h('td', { class: 'num' }, m.state === 'running' ? duration(m.etaSeconds) : '–'),
        h('td', null, m.error ? h('span', { class: 'small' }, `${m.error.code}: ${m.error.cause}`) : (m.folder || '')));
    });
    clear(tableBox).append(
      h('div', { class: 'toolbar' }, stateSel, h('span', { class: 'spacer' }), pager(view.offset, view.limit, board.total, (o) => { view.offset = o; connect(); })),
      h('div', { class: 'table-wrap' }, h('table', { dataset: { testid: 'run-mailboxes' } },
        h('thead', null, h('tr', null, ['Mailbox', 'State', 'Health', 'Items', 'Data', 'Rate', 'Items/min', 'ETA', 'Folder or error'].map((c, i) => h('th', { class: i >= 3 && i <= 7 ? 'num' : '' }, c)))),
        h('tbody', null, rows.length ? rows : h('tr', null, h('td', { colspan: 9 }, 'No mailbox in this state.'))))));
  }

  let s = null;
  function connect() {
    if (s) s.close();
    s = stream(`/api/projects/${project.id}/events` + qs({ runId: run.id, state: view.state, offset: view.offset, limit: view.limit }), {
      runs: (d) => {
        const r = d.runs.find((x) => x.id === run.id);
        if (r) { run = r; drawHead(); }
      },
      run: (d) => {
        board = d;
        samples.push([Date.now(), d.totals.items, d.totals.bytes]);
        while (samples.length > 2 && samples[samples.length - 1][0] - samples[0][0] > 15000) samples.shift();
        drawHead();
        drawTotals();
        drawTable();
      },
      error: (d) => message.replaceChildren(notice('warn', `Progress is not available right now: ${d.error.cause}. It updates again when it is.`)),
      onError: (err) => message.replaceChildren(notice('bad', errorText(err))),
      onState: (st) => { live.textContent = st === 'live' ? '● live' : st === 'reconnecting' ? 'reconnecting…' : ''; },
    });
  }
  ctx.onDispose(() => s && s.close());

  add(ctx.main, ...header(ctx, project, runs, 'launch'), head, actions, message, totals, tableBox);
  drawHead();
  drawTotals();
  connect();
}
