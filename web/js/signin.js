// #/signin: exchange an API token for a session cookie (POST /api/v1/session). The token is sent
// once and never stored by the page; the cookie is HttpOnly and the CSRF token lives in memory.

import {signIn, ApiError} from './api.js';
import {h, replace, heading, announce} from './dom.js';

let notice = null; // why we are here: expired, signed out

export function setNotice(text) {
  notice = text;
}

export async function render(ctx) {
  const input = h('input', {
    id: 'signin-token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false',
    required: true, 'data-testid': 'signin-token', 'aria-describedby': 'signin-hint',
  });
  const error = h('p', {class: 'field-error', id: 'signin-error', hidden: true, 'data-testid': 'field-error'});
  const submit = h('button', {type: 'submit', class: 'primary', 'data-testid': 'signin-submit'}, 'Sign in');
  const form = h('form', {class: 'signin', novalidate: true},
    h('label', {for: 'signin-token'}, 'API token'),
    h('p', {class: 'hint', id: 'signin-hint'},
      'An API token (mg_ and 64 hex digits, from "modelgate token create"). It is exchanged for a session cookie and not kept by this page.'),
    input, error, h('div', {class: 'actions'}, submit));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) return fail('Enter a token.');
    if (!/^mg_[0-9a-f]{64}$/.test(token)) return fail('A token is mg_ followed by 64 hex digits.');
    submit.disabled = true;
    try {
      await signIn(token);
      input.value = '';
      notice = null;
      announce('Signed in');
      ctx.afterSignIn();
    } catch (e) {
      if (e.name === 'AbortError') return;
      fail(e instanceof ApiError && e.status === 401 ? 'That token is not valid.' : e.message);
    } finally {
      submit.disabled = false;
    }
  });

  function fail(msg) {
    error.textContent = msg;
    error.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', 'signin-hint signin-error');
    input.focus();
  }

  replace(ctx.main, heading('Sign in'),
    notice ? h('p', {class: 'notice', role: 'status'}, notice) : null, form);
}
