// Sign in with an account API key or the operator key. The key is checked
// against GET /api/account, kept for this tab only, and the field is
// cleared whatever the outcome.

import { signIn, ApiError } from '../api.js';
import { h, field, clearErrors, setFieldError, showError, notice, add } from '../dom.js';

export async function render(ctx) {
  const pending = sessionStorage.getItem('mailferry.notice');
  sessionStorage.removeItem('mailferry.notice');
  const key = h('input', { type: 'password', name: 'apiKey', autocomplete: 'off', spellcheck: 'false', required: true });
  const form = h('form', { class: 'panel', novalidate: true, dataset: { testid: 'login' } },
    h('p', { class: 'form-error', role: 'alert' }),
    field('API key', key, 'An account key (mf_…) from your operator, or the operator key. It is kept only in this browser tab.'),
    h('button', { class: 'primary', type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const value = key.value.trim();
    key.value = '';
    if (!value) {
      setFieldError(form, 'apiKey', 'Enter your API key. Your operator gives it to you when they create your account.');
      key.focus();
      return;
    }
    try {
      const who = await signIn(value);
      ctx.go(who.operator ? '#/operator' : '#/projects');
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        setFieldError(form, 'apiKey', 'This key is not valid or was revoked. Check it, or ask your operator for a new one.');
        key.focus();
      } else {
        showError(form, err);
      }
    }
  });
  add(ctx.main, h('h1', null, 'Sign in to mailferry'), pending ? notice('warn', pending) : null, form);
  key.focus();
}
