// Step 6a: launch. Choose the mode, see what it moves and costs, confirm
// explicitly; nothing that moves data starts without that confirmation.

import { post } from '../api.js';
import { h, clear, notice, errorText, stateBadge, when, num, confirmDialog, add } from '../dom.js';
import { platformName } from './projects.js';
import { quotePanel } from './credits.js';

const MODES = [
  ['discovery', 'Discovery', 'Counts, sizes, suggested mapping and blockers. Reads only. Free.'],
  ['prestage', 'Pre-stage', 'Creates the folder hierarchy (and calendars, contact folders) at the destination. Free.'],
  ['full', 'Full', 'Mail, and if switched on calendars and contacts. 1 credit per mailbox, once per project.'],
  ['delta', 'Delta', 'Only what changed or arrived since the last full run of each mailbox. Free.'],
];

export async function render(ctx, project, runs) {
  const form = h('form', { novalidate: true, class: 'panel', dataset: { testid: 'launch-form' } },
    h('p', { class: 'form-error', role: 'alert' }),
    h('fieldset', null, h('legend', null, 'Mode'),
      MODES.map(([v, t, d]) => h('label', { class: 'choice' }, h('input', { type: 'radio', name: 'mode', value: v, checked: v === 'full' }), h('span', null, h('strong', null, t), ' – ', d)))),
    h('fieldset', { dataset: { testid: 'switches' } }, h('legend', null, 'What a full or delta run moves'),
      h('label', { class: 'choice' }, h('input', { type: 'checkbox', checked: true, disabled: true }), 'Mail (always)'),
      h('label', { class: 'choice' }, h('input', { type: 'checkbox', name: 'calendar', checked: true }), 'Calendars'),
      h('label', { class: 'choice' }, h('input', { type: 'checkbox', name: 'contacts', checked: true }), 'Contacts')),
    h('p', { class: 'field-error', id: 'mode-err' }),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', dataset: { testid: 'launch' }, 'aria-describedby': 'launch-block' }, 'Launch…'),
      h('span', { id: 'launch-block', class: 'field-error', dataset: { testid: 'launch-block' } })));
  const qp = quotePanel(project);
  const out = h('div', { 'aria-live': 'polite', dataset: { testid: 'launch-result' } });
  let quote = null;
  const launchBtn = form.querySelector('[data-testid=launch]');
  const modeOf = () => form.elements.mode.value;
  const gate = () => {
    const full = modeOf() === 'full';
    qp.el.hidden = !full;
    const blocked = full && quote && quote.short > 0;
    launchBtn.disabled = !!blocked;
    const note = form.querySelector('[data-testid=launch-block]');
    note.textContent = blocked ? `Blocked: needs ${num(quote.needed)} credits, has ${num(quote.available)}. Nothing moves until the balance covers the run (see below).` : '';
  };
  form.addEventListener('change', gate);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(out);
    const mode = modeOf();
    const body = { mode };
    if (mode === 'full' || mode === 'delta') {
      body.calendar = form.elements.calendar.checked;
      body.contacts = form.elements.contacts.checked;
    }
    const what = mode === 'discovery' ? 'read both sides and write nothing'
      : mode === 'prestage' ? 'create folders at the destination'
        : `copy ${['mail', body.calendar && 'calendars', body.contacts && 'contacts'].filter(Boolean).join(', ')} into the destination`;
    const cost = mode === 'full' && quote ? ` It holds ${num(quote.needed)} credit${quote.needed === 1 ? '' : 's'} now.` : ' It is free.';
    const ok = mode === 'discovery' || await confirmDialog(`Start a ${mode} run?`,
      [h('p', null, `This will ${what} for ${quote ? num(quote.mailboxes) : 'all mapped'} mailboxes, from ${platformName(project.source)} to ${platformName(project.destination)}.${cost}`),
        h('p', { class: 'muted' }, 'Re-running is safe: items already copied are not copied twice.')],
      `Start ${mode} run`);
    if (!ok) { launchBtn.focus(); return; }
    launchBtn.disabled = true;
    try {
      const res = await post(`/api/projects/${project.id}/runs`, body);
      ctx.go(`#/p/${project.id}/track/${res.run.id}`);
    } catch (err) {
      add(out, notice('bad', h('strong', null, 'Not started: '), errorText(err)));
      if (err.body && err.body.blocked && err.body.blocked.length) {
        add(out, h('ul', null, err.body.blocked.slice(0, 50).map((b) => h('li', null, `${b.source}: ${b.reason}`))));
      }
      quote = await qp.refresh();
      gate();
    } finally {
      if (!ctx.stale()) gate();
    }
  });

  add(ctx.main, form, qp.el, out, h('h2', null, 'Runs'), runsTable(project, runs));
  quote = await qp.refresh();
  gate();
}

export function runsTable(project, runs) {
  if (!runs.length) return h('p', { class: 'muted' }, 'No runs yet.');
  return h('div', { class: 'table-wrap' }, h('table', { dataset: { testid: 'runs' } },
    h('thead', null, h('tr', null, ['Run', 'Mode', 'State', 'Mailboxes', 'Requested', 'Finished', 'Note'].map((c) => h('th', null, c)))),
    h('tbody', null, runs.map((r) => h('tr', null,
      h('td', null, h('a', { href: `#/p/${project.id}/track/${r.id}` }, r.id.slice(0, 12) + '…')),
      h('td', null, r.mode), h('td', null, stateBadge(r.state)), h('td', { class: 'num' }, num(r.mailboxes)),
      h('td', null, when(r.requested)), h('td', null, when(r.finished)), h('td', null, r.reason || ''))))));
}
