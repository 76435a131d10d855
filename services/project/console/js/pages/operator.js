// The operator's page: create accounts and add credits. Signed in with an
// account key, the page asks for the operator key with each action (a
// password field, cleared at once, never stored); signed in with the
// operator key, it is used as it is.

import { post, session } from '../api.js';
import { h, clear, field, clearErrors, check, showError, notice, num, add } from '../dom.js';

export async function render(ctx) {
  const s = session();
  const isOperator = !!(s && s.who.operator);
  const ownAccount = (!isOperator && s.who.account && s.who.account.id) || '';
  const opKeyField = () => (isOperator ? null : field('Operator key', h('input', { type: 'password', name: 'operatorKey', autocomplete: 'off' }), 'Needed for operator actions; it is not kept.'));
  const opKeyRule = isOperator ? [] : [{ name: 'operatorKey', test: (v) => (v ? '' : 'Enter the operator key (MAILFERRY_OPERATOR_KEY, or operator.key in the data directory).') }];
  const keyOf = (form) => (isOperator ? undefined : form.elements.operatorKey.value);

  // Add credits.
  const creditsOut = h('div', { 'aria-live': 'polite', dataset: { testid: 'credits-result' } });
  const credits = h('form', { class: 'panel', novalidate: true, dataset: { testid: 'add-credits' } },
    h('h2', null, 'Add credits'),
    h('p', { class: 'form-error', role: 'alert' }),
    field('Account id', h('input', { type: 'text', name: 'account', value: ownAccount, autocomplete: 'off', spellcheck: 'false' }), 'acc_…, as the account\'s owner sees it under their name.'),
    field('Credits to add', h('input', { type: 'number', name: 'amount', min: 1, max: 1000000, step: 1 }), 'One credit migrates one mailbox once per project.'),
    field('Reference (optional)', h('input', { type: 'text', name: 'reference', maxlength: 200, placeholder: 'invoice or order number' })),
    opKeyField(),
    h('button', { type: 'submit', class: 'primary' }, 'Add credits'), creditsOut);
  credits.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(credits);
    clear(creditsOut);
    const f = credits.elements;
    const key = keyOf(credits);
    if (!isOperator) f.operatorKey.value = '';
    const ok = check(credits, [
      { name: 'account', test: (v) => (/^acc_[0-9a-f-]{36}$/.test(v.trim()) ? '' : 'Enter the account id, which starts with acc_ (the account\'s owner sees it in the console).') },
      { name: 'amount', test: (v) => (/^\d+$/.test(v) && +v >= 1 && +v <= 1000000 ? '' : 'Enter a whole number of credits from 1 to 1,000,000.') },
    ].concat(isOperator ? [] : [{ name: 'operatorKey', test: () => (key ? '' : opKeyRule[0].test('')) }]));
    if (!ok) return;
    try {
      // The idempotency key makes a retried click buy once.
      const res = await post(`/api/accounts/${encodeURIComponent(f.account.value.trim())}/credits`, { amount: +f.amount.value, reference: f.reference.value.trim() },
        { key, headers: { 'Idempotency-Key': crypto.randomUUID() } });
      add(creditsOut, res.balance
        ? notice('ok', `Added ${num(+f.amount.value)} credits. Available now: `, h('strong', { dataset: { testid: 'available-after' } }, num(res.balance.available)), '.')
        : notice('info', 'Accepted; billing records it in a moment.'));
      f.amount.value = '';
      f.reference.value = '';
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        if (!isOperator) { showError(credits, Object.assign(err, { field: 'operatorKey' })); return; }
      }
      showError(credits, err, { account: 'account' });
    }
  });

  // Create an account.
  const acctOut = h('div', { 'aria-live': 'polite', dataset: { testid: 'account-result' } });
  const acct = h('form', { class: 'panel', novalidate: true, dataset: { testid: 'create-account' } },
    h('h2', null, 'Create an account'),
    h('p', { class: 'form-error', role: 'alert' }),
    field('Account name', h('input', { type: 'text', name: 'name', maxlength: 200, autocomplete: 'off' }), 'The hosting provider or customer.'),
    opKeyField(),
    h('button', { type: 'submit' }, 'Create account'), acctOut);
  acct.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(acct);
    clear(acctOut);
    const key = keyOf(acct);
    if (!isOperator) acct.elements.operatorKey.value = '';
    const ok = check(acct, [{ name: 'name', test: (v) => (v.trim() ? '' : 'Give the account a name.') }]
      .concat(isOperator ? [] : [{ name: 'operatorKey', test: () => (key ? '' : opKeyRule[0].test('')) }]));
    if (!ok) return;
    try {
      const res = await post('/api/accounts', { name: acct.elements.name.value.trim() }, { key });
      const keyBox = h('input', { type: 'text', readonly: true, value: res.apiKey, class: 'secret-once', 'aria-label': 'The new account\'s API key' });
      add(acctOut, notice('warn', `Account ${res.accountId} created. Its API key is shown this once; give it to the account's owner now.`), keyBox,
        h('button', { type: 'button', onclick: () => { keyBox.remove(); } }, 'Hide the key'));
      acct.elements.name.value = '';
      credits.elements.account.value = res.accountId;
    } catch (err) {
      if ((err.status === 401 || err.status === 403) && !isOperator) { showError(acct, Object.assign(err, { field: 'operatorKey' })); return; }
      showError(acct, err);
    }
  });

  add(ctx.main, h('h1', null, 'Operator'),
    isOperator ? notice('info', 'Signed in with the operator key.') : notice('info', 'These actions need the operator key of this installation.'),
    ownAccount ? h('p', null, 'Your account id: ', h('code', { dataset: { testid: 'own-account' } }, ownAccount)) : null,
    h('div', { class: 'grid2' }, credits, acct),
    h('p', { class: 'muted small' }, 'There is no list of accounts in the API yet: enter the account id the owner gives you.'));
}
