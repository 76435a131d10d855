// Step 2: credentials for each side. Secrets are typed into password
// fields (or read from a file), sent once with PUT and cleared at once;
// the API never returns them, so the page can only say that one is set.
// Verify asks the platform whether the credentials work and which
// permissions are still missing.

import { get, put, post, del, qs } from '../api.js';
import { h, clear, field, clearErrors, check, showError, setFieldError, when, notice, errorText, dl, confirmDialog, add } from '../dom.js';
import { platformName } from './projects.js';

export async function render(ctx, project) {
  const grid = h('div', { class: 'grid2' });
  for (const side of ['source', 'destination']) {
    add(grid, sidePanel(ctx, project, side));
  }
  add(ctx.main,
    h('p', { class: 'muted' }, 'Secrets are write-only: mailferry stores them encrypted and never shows them again. To change one, enter it again.'),
    grid,
    h('div', { class: 'row' }, h('a', { class: 'button primary', href: `#/p/${project.id}/discovery` }, 'Continue to discovery')));
}

function sidePanel(ctx, project, side) {
  const kind = project[side];
  const panel = h('section', { class: 'panel', 'aria-labelledby': `${side}-title`, dataset: { side } });
  const status = h('div');
  const verifyOut = h('div', { 'aria-live': 'polite', dataset: { testid: `${side}-verify` } });
  const showStatus = (creds) => {
    clear(status);
    if (!creds) {
      add(status, notice('warn', 'No credentials yet.'));
      return;
    }
    const fields = Object.entries(creds.fields || {}).filter(([k]) => k !== 'caPem').map(([k, v]) => [k, v]);
    add(status, notice('ok', `Credentials set ${when(creds.updated)}. Secret: stored, write-only.`), dl(fields));
  };
  showStatus(project.credentials && project.credentials[side]);
  const verifyBtn = h('button', { type: 'button', dataset: { testid: `${side}-verify-btn` } }, 'Verify');
  verifyBtn.addEventListener('click', async () => {
    verifyBtn.disabled = true;
    clear(verifyOut).append(h('p', { class: 'muted' }, 'Asking the platform…'));
    try {
      const v = await post(`/api/projects/${project.id}/credentials/${side}/verify`);
      clear(verifyOut).append(verifyResult(v));
    } catch (err) {
      clear(verifyOut).append(notice('bad', errorText(err)));
    } finally {
      verifyBtn.disabled = false;
    }
  });
  const onSaved = (creds) => {
    showStatus(creds);
    clear(verifyOut).append(notice('info', 'Saved. Verify to check them against the platform.'));
    verifyBtn.focus();
  };
  const form = FORMS[kind] ? FORMS[kind](ctx, project, side, onSaved) : h('p', null, 'This platform has no form in the console yet; use the API.');
  // The fields (never the secrets) are shown back, so a change of secret
  // needs only the secret typed again.
  const cur = project.credentials && project.credentials[side];
  if (cur && cur.fields) {
    for (const el of form.querySelectorAll('[data-api^="fields."]')) {
      const v = cur.fields[el.dataset.api.slice('fields.'.length)];
      if (v !== undefined && el.type !== 'file') el.value = v;
    }
  }
  add(panel,
    h('h2', { id: `${side}-title` }, `${side === 'source' ? 'Source' : 'Destination'}: ${platformName(kind)}`),
    status, form, h('div', { class: 'row' }, verifyBtn), verifyOut);
  return panel;
}

// verifyResult lists what the platform granted and what is missing.
function verifyResult(v) {
  const list = (items, mark) => h('ul', { class: 'checks' }, items.map((p) => h('li', null, mark + ' ' + p)));
  return h('div', null,
    v.ok ? notice('ok', 'Verified: the credentials work and every needed permission is granted.')
      : notice('bad', 'Not ready: ', (v.missing || []).length ? `missing ${v.missing.join(', ')}. ` : '', v.action ? v.action[0].toUpperCase() + v.action.slice(1) + '.' : ''),
    (v.missing || []).length ? [h('h3', null, 'Still missing'), list(v.missing, '✖')] : null,
    (v.granted || []).length ? [h('h3', null, 'Granted'), list(v.granted, '✔')] : null,
    (v.missingOptional || []).length ? [h('h3', null, 'Optional, not granted'), list(v.missingOptional, '○'), h('p', { class: 'muted small' }, v.optionalNote || '')] : null);
}

// saveForm wires a credentials form: client checks, then PUT with fields
// and secrets; every secret input is cleared whatever the outcome.
function saveForm(form, project, side, rules, collect, onSaved) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const secretInputs = [...form.querySelectorAll('input[type=password], input[type=file], textarea[data-secret]')];
    const wipe = () => secretInputs.forEach((i) => { i.value = ''; });
    if (!check(form, rules)) { wipe(); return; }
    let body;
    try {
      body = await collect();
    } catch (err) {
      wipe();
      showError(form, err);
      return;
    }
    wipe();
    try {
      const creds = await put(`/api/projects/${project.id}/credentials/${side}`, body);
      onSaved(creds);
    } catch (err) {
      showError(form, err, aliasesOf(form));
    }
  });
}

// aliasesOf maps the API's field names (fields.x, secrets.y) to inputs.
function aliasesOf(form) {
  const out = {};
  for (const el of form.elements) {
    if (el.dataset && el.dataset.api) out[el.dataset.api] = el.name;
  }
  out.secrets = (form.querySelector('[data-api^="secrets."]') || {}).name || 'secrets';
  return out;
}

function input(name, api, attrs = {}) {
  return h('input', Object.assign({ type: 'text', name, autocomplete: 'off', spellcheck: 'false', dataset: { api } }, attrs));
}
function secret(name, api) {
  return h('input', { type: 'password', name, autocomplete: 'new-password', spellcheck: 'false', dataset: { api } });
}
const isURL = (v) => { try { const u = new URL(v); return u.protocol === 'http:' || u.protocol === 'https:'; } catch { return false; } };
const need = (msg) => (v) => (String(v || '').trim() ? '' : msg);

// extras are optional fields as name=value lines (sandbox endpoints,
// tuning), for what the platform's connector takes beyond the form.
function extrasField(name = 'extras') {
  return h('details', null, h('summary', null, 'More fields (optional)'),
    field('Extra fields, one name=value per line', h('textarea', { name, dataset: { api: 'fields' }, rows: 3 }),
      'For example maxConcurrentPerMailbox=4. Endpoint overrides work only where the installation allows sandbox tenants.'));
}
function parseExtras(text) {
  const out = {};
  for (const line of (text || '').split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const i = t.indexOf('=');
    if (i <= 0) throw Object.assign(new Error(`"${t}" is not name=value`), { extras: true });
    out[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  return out;
}
function withExtras(form, fields) {
  try {
    return Object.assign(parseExtras(form.elements.extras && form.elements.extras.value), fields);
  } catch (err) {
    setFieldError(form, 'extras', err.message + '. Write one name=value per line.');
    throw err;
  }
}

const FORMS = {
  memory(ctx, project, side, onSaved) {
    const form = h('form', { novalidate: true, dataset: { testid: `${side}-form` } },
      h('p', { class: 'form-error', role: 'alert' }),
      field('Sandbox endpoint', input('endpoint', 'fields.endpoint', { type: 'url', placeholder: 'http://127.0.0.1:8090' }), 'The URL the sandbox tenants are served on (mailferry up prints it).'),
      field('Tenant', input('tenant', 'fields.tenant'), 'The tenant name in the sandbox, e.g. contoso.'),
      field('Token', secret('token', 'secrets.token'), 'The tenant\'s bearer token.'),
      h('button', { type: 'submit', class: 'primary' }, 'Save credentials'));
    saveForm(form, project, side, [
      { name: 'endpoint', test: (v) => (!v.trim() ? 'Enter the sandbox endpoint URL.' : isURL(v.trim()) ? '' : 'Enter a full URL starting with http:// or https://.') },
      { name: 'tenant', test: need('Enter the tenant name.') },
      { name: 'token', test: need('Enter the tenant\'s token.') },
    ], () => ({
      fields: { endpoint: form.elements.endpoint.value.trim(), tenant: form.elements.tenant.value.trim() },
      secrets: { token: form.elements.token.value },
    }), onSaved);
    return form;
  },

  m365(ctx, project, side, onSaved) {
    const guide = h('div', { dataset: { testid: `${side}-guide` } });
    const form = h('form', { novalidate: true, dataset: { testid: `${side}-form` } },
      h('p', { class: 'form-error', role: 'alert' }),
      h('p', { class: 'muted' }, 'Register an app in Microsoft Entra ID with the application permissions below, grant admin consent, then enter its ids and a secret or certificate.'),
      field('Tenant id or domain', input('tenantId', 'fields.tenantId', { placeholder: 'contoso.onmicrosoft.com' })),
      field('Application (client) id', input('clientId', 'fields.clientId', { placeholder: '00000000-0000-0000-0000-000000000000' })),
      h('div', { class: 'row' }, h('button', { type: 'button', dataset: { testid: `${side}-show-guide` }, onclick: () => showGuide() }, 'Show the setup: permissions, manifest, consent link')),
      guide,
      field('Client secret', secret('clientSecret', 'secrets.clientSecret'), 'The secret\'s Value from Certificates & secrets. Or use a certificate instead.'),
      field('Certificate (PEM with private key), instead of a secret', h('input', { type: 'file', name: 'certificate', accept: '.pem,.crt,.key,.txt', dataset: { api: 'secrets.certificate' } })),
      h('details', null, h('summary', null, 'Sandbox endpoints (test installations only)'),
        field('Graph base URL', input('graphBaseUrl', 'fields.graphBaseUrl', { type: 'url' })),
        field('Authority URL', input('authorityUrl', 'fields.authorityUrl', { type: 'url' })),
        field('CA certificate (PEM) the sandbox uses', h('textarea', { name: 'caPem', rows: 3, dataset: { api: 'fields.caPem' } }))),
      extrasField(),
      h('button', { type: 'submit', class: 'primary' }, 'Save credentials'));
    async function showGuide() {
      clear(guide).append(h('p', { class: 'muted' }, 'Loading the guide…'));
      try {
        const g = await get('/api/setup/m365' + qs({ tenantId: form.elements.tenantId.value.trim(), clientId: form.elements.clientId.value.trim() }));
        const manifest = JSON.stringify(g.manifest, null, 2);
        clear(guide).append(h('div', { class: 'panel' },
          h('h3', null, 'Application permissions (Microsoft Graph)'),
          h('ul', null, g.permissions.map((p) => h('li', null, h('strong', null, p.name), ' – ', p.why)))),
          (g.optional || []).length ? h('details', null, h('summary', null, 'Optional permissions for full fidelity'),
            h('ul', null, g.optional.map((p) => h('li', null, h('strong', null, p.name), ` (${p.tenant}) – ${p.why}. Without it: ${p.without}`)))) : null,
          h('details', null, h('summary', null, 'Steps in the Entra admin center'),
            h('ol', null, g.steps.map((s) => h('li', null, s)))),
          h('details', null, h('summary', null, 'Manifest (requiredResourceAccess), to paste instead of adding them one by one'),
            h('pre', { class: 'code', tabindex: '0', dataset: { testid: 'manifest' } }, manifest)),
          h('p', null, h('a', { href: g.consentUrl, target: '_blank', rel: 'noopener noreferrer', dataset: { testid: 'consent-link' } }, 'Open the admin-consent link'), h('span', { class: 'muted small' }, ' (sign in as an administrator of the tenant)')));
      } catch (err) {
        clear(guide).append(notice('bad', errorText(err)));
      }
    }
    saveForm(form, project, side, [
      { name: 'tenantId', test: need('Enter the tenant id or its domain (Overview page of the app registration).') },
      { name: 'clientId', test: need('Enter the application (client) id.') },
      { name: 'clientSecret', test: (v) => (v || (form.elements.certificate.files || []).length ? '' : 'Enter the client secret, or choose a certificate file.') },
      { name: 'graphBaseUrl', test: (v) => (!v.trim() || isURL(v.trim()) ? '' : 'Enter a full URL, or leave it empty for Microsoft Graph.') },
      { name: 'authorityUrl', test: (v) => (!v.trim() || isURL(v.trim()) ? '' : 'Enter a full URL, or leave it empty for Microsoft Entra ID.') },
    ], async () => {
      const fields = withExtras(form, { tenantId: form.elements.tenantId.value.trim(), clientId: form.elements.clientId.value.trim() });
      for (const k of ['graphBaseUrl', 'authorityUrl', 'caPem']) {
        if (form.elements[k].value.trim()) fields[k] = form.elements[k].value.trim();
      }
      const secrets = {};
      if (form.elements.clientSecret.value) secrets.clientSecret = form.elements.clientSecret.value;
      const cert = form.elements.certificate.files[0];
      if (cert) secrets.certificate = await cert.text();
      return { fields, secrets };
    }, onSaved);
    return form;
  },

  google(ctx, project, side, onSaved) {
    const checks = h('ul', { class: 'checks', 'aria-live': 'polite', dataset: { testid: `${side}-key-checks` } });
    const keyInput = h('input', { type: 'file', name: 'serviceAccountKey', accept: '.json,application/json', dataset: { api: 'secrets.serviceAccountKey' } });
    const form = h('form', { novalidate: true, dataset: { testid: `${side}-form` } },
      h('p', { class: 'form-error', role: 'alert' }),
      h('p', { class: 'muted' }, 'A service account with domain-wide delegation: in the Admin console (Security > API controls > Domain-wide delegation) add its client id with the Gmail, Calendar, Contacts and Directory scopes. Verify then checks the key, the scopes and impersonation.'),
      field('Admin e-mail to impersonate', input('adminEmail', 'fields.adminEmail', { type: 'email', placeholder: 'admin@example.com' }), 'A super administrator of the domain; used to list the users.'),
      field('Service-account key (JSON file)', keyInput, 'Downloaded from Google Cloud (IAM > Service accounts > Keys). It is read here, checked, sent once and never shown.'),
      checks,
      field('Client id of the delegation (optional)', input('clientId', 'fields.clientId'), 'The client id you entered under domain-wide delegation; when given, the key must belong to it.'),
      field('Gmail labels become', h('select', { name: 'labelMode', dataset: { api: 'fields.labelMode' } },
        h('option', { value: '' }, 'one copy in the first label\'s folder, other labels as categories (default)'),
        h('option', { value: 'categories' }, 'one copy in the first label\'s folder, every label also a category'),
        h('option', { value: 'folders' }, 'a copy in the folder of every label')), 'See docs/google.md for what each keeps.'),
      extrasField(),
      h('button', { type: 'submit', class: 'primary' }, 'Save credentials'));
    let keyProblem = '';
    keyInput.addEventListener('change', async () => {
      clear(checks);
      keyProblem = '';
      const f = keyInput.files[0];
      if (!f) return;
      const { problems, passed } = checkKey(await f.text());
      passed.forEach((p) => add(checks, h('li', null, '✔ ' + p)));
      problems.forEach((p) => add(checks, h('li', { class: 'log-level-error' }, '✖ ' + p)));
      keyProblem = problems.join(' ');
    });
    saveForm(form, project, side, [
      { name: 'adminEmail', test: (v) => (/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v.trim()) ? '' : 'Enter the administrator\'s e-mail address, like admin@example.com.') },
      { name: 'serviceAccountKey', test: (files) => (!files || !files.length ? 'Choose the service account\'s JSON key file.' : keyProblem ? 'This key file cannot be used: ' + keyProblem : '') },
    ], async () => ({
      fields: withExtras(form, Object.fromEntries(Object.entries({
        adminEmail: form.elements.adminEmail.value.trim(), clientId: form.elements.clientId.value.trim(), labelMode: form.elements.labelMode.value,
      }).filter(([, v]) => v))),
      secrets: { serviceAccountKey: await keyInput.files[0].text() },
    }), (creds) => { clear(checks); onSaved(creds); });
    return form;
  },

  exchange(ctx, project, side, onSaved) {
    const wrap = h('div');
    const direct = exchangeDirect(project, side, onSaved);
    const agentBox = exchangeAgent(ctx, project, side, onSaved);
    const current = (project.credentials && project.credentials[side] && project.credentials[side].fields) || {};
    const mode = current.agentId ? 'agent' : 'direct';
    const radio = (v, text) => h('label', { class: 'choice' }, h('input', { type: 'radio', name: `${side}-exmode`, value: v, checked: v === mode, onchange: () => show(v) }), text);
    const show = (v) => { direct.hidden = v !== 'direct'; agentBox.hidden = v !== 'agent'; };
    add(wrap, h('fieldset', null, h('legend', null, 'How mailferry reaches Exchange'),
      radio('direct', 'Directly: EWS URL reachable from mailferry'),
      radio('agent', 'Through the outbound connector agent: nothing listens in your network')), direct, agentBox);
    show(mode);
    return wrap;
  },
};

// checkKey looks at a service-account key without sending it anywhere.
export function checkKey(text) {
  const problems = [];
  const passed = [];
  let k;
  try { k = JSON.parse(text); } catch { return { problems: ['the file is not JSON; download the key again in JSON format'], passed }; }
  if (k.type === 'service_account') passed.push('a service-account key'); else problems.push(`type is "${k.type || ''}", not service_account`);
  for (const [f, what] of [['client_email', 'the service account\'s e-mail'], ['private_key', 'the private key'], ['client_id', 'the client id for domain-wide delegation'], ['token_uri', 'the token URI']]) {
    if (k[f]) passed.push(`${what} (${f}${f === 'client_id' ? ': ' + k[f] : ''})`); else problems.push(`${f} is missing`);
  }
  if (k.private_key && !/BEGIN (RSA )?PRIVATE KEY/.test(k.private_key)) problems.push('private_key is not a PEM private key');
  return { problems, passed };
}

function exchangeDirect(project, side, onSaved) {
  const form = h('form', { novalidate: true, dataset: { testid: `${side}-form` } },
    h('p', { class: 'form-error', role: 'alert' }),
    field('EWS URL', input('ewsUrl', 'fields.ewsUrl', { type: 'url', placeholder: 'https://mail.example.com/EWS/Exchange.asmx' })),
    field('Account (with ApplicationImpersonation)', input('username', 'fields.username', { placeholder: 'DOMAIN\\svc-mailferry or svc@example.com' })),
    field('Password', secret('password', 'secrets.password')),
    field('Sign-in', h('select', { name: 'auth', dataset: { api: 'fields.auth' } }, h('option', { value: '' }, 'NTLM (default)'), h('option', { value: 'basic' }, 'Basic (over HTTPS only)'))),
    field('Trust this server certificate (optional)', input('certFingerprint', 'fields.certFingerprint', { placeholder: 'SHA-256 fingerprint, 64 hex digits' }),
      'For a self-signed certificate: its SHA-256 fingerprint (Get-ExchangeCertificate or certlm.msc). Leave empty for a certificate your system trusts.'),
    field('Mailbox to test with (optional)', input('sampleMailbox', 'fields.sampleMailbox', { type: 'email' }), 'Verify opens this mailbox through impersonation.'),
    extrasField(),
    h('button', { type: 'submit', class: 'primary' }, 'Save credentials'));
  saveForm(form, project, side, [
    { name: 'ewsUrl', test: (v) => (!v.trim() ? 'Enter the EWS URL.' : isURL(v.trim()) ? '' : 'Enter a full URL like https://mail.example.com/EWS/Exchange.asmx.') },
    { name: 'username', test: need('Enter the account mailferry signs in with.') },
    { name: 'password', test: need('Enter the account\'s password.') },
    { name: 'certFingerprint', test: (v) => (!v.trim() || /^([0-9a-f]{2}:?){31}[0-9a-f]{2}$/i.test(v.trim()) ? '' : 'Enter the SHA-256 fingerprint: 64 hex digits, colons allowed.') },
  ], async () => ({
    fields: withExtras(form, Object.fromEntries(Object.entries({
      ewsUrl: form.elements.ewsUrl.value.trim(), username: form.elements.username.value.trim(), auth: form.elements.auth.value,
      certFingerprint: form.elements.certFingerprint.value.trim(), sampleMailbox: form.elements.sampleMailbox.value.trim(),
    }).filter(([, v]) => v))),
    secrets: { password: form.elements.password.value },
  }), onSaved);
  return form;
}

function exchangeAgent(ctx, project, side, onSaved) {
  const box = h('div', { dataset: { testid: `${side}-agent` } });
  const tokenOut = h('div', { 'aria-live': 'polite' });
  const agentsOut = h('div');
  const tokenForm = h('form', { novalidate: true },
    h('p', { class: 'form-error', role: 'alert' }),
    h('h3', null, '1. Register an agent on a server in your network'),
    field('Label (optional)', input('label', 'label')),
    field('Token lifetime in minutes', input('ttlMinutes', 'ttlMinutes', { type: 'number', min: 1, max: 1440, value: '60' })),
    h('button', { type: 'submit' }, 'Create a registration token'));
  tokenForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(tokenForm);
    if (!check(tokenForm, [{ name: 'ttlMinutes', test: (v) => (/^\d+$/.test(v) && +v >= 1 && +v <= 1440 ? '' : 'Enter a whole number of minutes from 1 to 1440.') }])) return;
    try {
      const t = await post('/api/agents/tokens', { label: tokenForm.elements.label.value.trim(), ttlMinutes: +tokenForm.elements.ttlMinutes.value });
      const instructions = agentInstructions(t.token, t.expires);
      clear(tokenOut).append(notice('warn', 'Shown once: copy it now. It registers one agent and expires ', when(t.expires), '.'),
        h('pre', { class: 'code secret-once', tabindex: '0' }, instructions),
        h('button', { type: 'button', onclick: () => saveText('mailferry-agent-setup.txt', instructions) }, 'Download the instructions'),
        h('button', { type: 'button', onclick: () => clear(tokenOut) }, 'Hide the token'));
    } catch (err) {
      showError(tokenForm, err);
    }
  });
  const pick = h('form', { novalidate: true },
    h('p', { class: 'form-error', role: 'alert' }),
    h('h3', null, '2. Use a connected agent for this side'),
    agentsOut,
    field('Agent', h('select', { name: 'agentId', dataset: { api: 'fields.agentId' } }, h('option', { value: '' }, 'Choose an agent'))),
    field('EWS URL (shown for reference; configured on the agent)', input('ewsUrl', 'fields.ewsUrl', { type: 'url' })),
    field('Account (for reference)', input('username', 'fields.username')),
    h('button', { type: 'submit', class: 'primary' }, 'Save credentials'));
  saveForm(pick, project, side, [{ name: 'agentId', test: need('Choose the agent that serves this Exchange organisation; register one first.') }], async () => {
    const fields = { agentId: pick.elements.agentId.value };
    if (pick.elements.ewsUrl.value.trim()) fields.ewsUrl = pick.elements.ewsUrl.value.trim();
    if (pick.elements.username.value.trim()) fields.username = pick.elements.username.value.trim();
    return { fields, secrets: {} };
  }, onSaved);
  async function loadAgents() {
    try {
      const { agents } = await get('/api/agents');
      const sel = pick.elements.agentId;
      const keep = sel.value;
      clear(sel).append(h('option', { value: '' }, 'Choose an agent'), agents.filter((a) => !a.revoked).map((a) => h('option', { value: a.id }, `${a.name} (${a.connected ? 'connected' : 'not connected'})`)));
      sel.value = keep;
      clear(agentsOut).append(agents.length ? h('div', { class: 'table-wrap' }, h('table', null,
        h('thead', null, h('tr', null, ['Agent', 'Status', 'Version', 'Last contact', 'Last error', ''].map((c) => h('th', null, c)))),
        h('tbody', null, agents.map((a) => h('tr', null,
          h('td', null, a.name, h('div', { class: 'muted small' }, a.id)),
          h('td', null, a.revoked ? h('span', { class: 'badge idle' }, 'revoked') : a.connected ? h('span', { class: 'badge ok' }, '● connected') : h('span', { class: 'badge bad' }, '■ not connected'), a.health ? ' ' + a.health : ''),
          h('td', null, a.version || '–'), h('td', null, when(a.lastContact)), h('td', null, a.lastError || '–'),
          h('td', null, a.revoked ? '' : h('button', { type: 'button', onclick: async () => {
            if (await confirmDialog('Revoke this agent?', h('p', null, `${a.name} stops working at once and must be registered again.`), 'Revoke agent', true)) {
              try { await del(`/api/agents/${a.id}`); } catch (err) { agentsOut.prepend(notice('bad', errorText(err))); }
              loadAgents();
            }
          } }, 'Revoke'))))))) : h('p', { class: 'muted' }, 'No agent registered yet.'));
    } catch (err) {
      clear(agentsOut).append(notice('bad', errorText(err)));
    }
  }
  loadAgents();
  const timer = setInterval(() => { if (!box.hidden) loadAgents(); }, 10000);
  ctx.onDispose(() => clearInterval(timer));
  add(box, tokenForm, tokenOut, pick);
  return box;
}

function agentInstructions(token, expires) {
  const url = location.origin;
  return [
    '# mailferry connector agent: run on a server that reaches Exchange (outbound HTTPS only).',
    `# The token works once, until ${expires}.`,
    '# Windows: download connector-agent.exe from your operator (make agent-windows), then:',
    `connector-agent register --url ${url} --token ${token}`,
    'connector-agent configure exchange --ews-url https://mail.example.com/EWS/Exchange.asmx --user DOMAIN\\svc-mailferry --password-stdin',
    'connector-agent run        # or, as administrator on Windows: connector-agent install',
  ].join('\n');
}

function saveText(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
