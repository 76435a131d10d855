// Step 5: credits. The balance, what a full run of the mapped mailboxes
// costs (a mailbox already charged in this project is free), and a clear
// block when the balance is short. Credits are held when a full run is
// approved and consumed when each mailbox starts.

import { get, post } from '../api.js';
import { h, clear, num, notice, errorText, add } from '../dom.js';
import { stat } from './discovery.js';

// quotePanel draws the cost of a full run and tells the caller whether the
// balance covers it. It returns {el, refresh(): Promise<quote|null>}.
export function quotePanel(project) {
  const el = h('div', { 'aria-live': 'polite', dataset: { testid: 'quote' } });
  async function refresh() {
    clear(el).append(h('p', { class: 'muted' }, 'Pricing a full run…'));
    let bal;
    let q;
    try {
      [bal, q] = await Promise.all([get('/api/credits'), post(`/api/projects/${project.id}/quote`, {})]);
    } catch (err) {
      clear(el).append(err.code === 'not_found' ? notice('info', 'Run discovery first: a full run is priced from the mapping.') : notice('bad', errorText(err)));
      return null;
    }
    clear(el).append(
      h('h2', null, 'Balance'),
      h('div', { class: 'stats', dataset: { testid: 'balance' } },
        stat('Available', num(bal.available), 'available'), stat('Purchased', num(bal.purchased)), stat('Consumed', num(bal.consumed)), stat('Held by running runs', num(bal.held))),
      h('h2', null, 'A full run of the mapped mailboxes'),
      h('div', { class: 'stats' },
        stat('Mailboxes', num(q.mailboxes)), stat('Already charged here (free)', num(q.alreadyCharged)), stat('Credits needed', num(q.needed), 'needed'), stat('Credits short', num(q.short), 'short')),
      q.short > 0
        ? notice('bad', h('strong', null, `Launch blocked: needs ${num(q.needed)} credits, has ${num(q.available)}.`),
          ` Ask your operator to add at least ${num(q.short)} credit${q.short === 1 ? '' : 's'} (`, h('a', { href: '#/operator' }, 'operator page'), '), or exclude mailboxes in the mapping. Nothing moves until the balance covers the run.')
        : notice('ok', q.needed ? `The balance covers the run: it will hold ${num(q.needed)} credit${q.needed === 1 ? '' : 's'} (1 per mailbox not charged before).` : 'This run costs nothing: every mailbox was charged in this project before.'),
      (q.blocked || []).length ? notice('warn', `${q.blocked.length} mailbox(es) cannot run until their mapping is resolved.`) : null);
    el.dataset.short = String(q.short);
    return q;
  }
  return { el, refresh };
}

export async function render(ctx, project) {
  const qp = quotePanel(project);
  const refresh = h('button', { type: 'button', onclick: () => qp.refresh() }, 'Refresh');
  add(ctx.main,
    h('p', { class: 'muted' }, 'One credit per mailbox, charged once per project: re-running, retrying or resuming a mailbox is free; pre-stage, delta and discovery runs are free.'),
    qp.el, h('div', { class: 'row' }, refresh, h('a', { class: 'button primary', href: `#/p/${project.id}/launch` }, 'Continue to launch')));
  await qp.refresh();
}
