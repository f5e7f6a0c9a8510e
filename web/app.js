// The dashboard's entry module: hash routing (#/scans/<uuid>, ...), the nav bar with the role and
// "Sign out", session checks, and the page life cycle (each page renders into <main>; leaving a page
// aborts its requests and polling through an AbortSignal).

import {getSession, loadSession, setUnauthorizedHandler, signOut, forgetSession} from './js/api.js';
import {h, replace, showError, clearError, announce} from './js/dom.js';
import * as signin from './js/signin.js';
import * as overview from './js/overview.js';
import * as scans from './js/scans.js';
import * as scan from './js/scan.js';
import * as models from './js/models.js';
import * as model from './js/model.js';
import * as policies from './js/policies.js';
import * as gateway from './js/gateway.js';
import * as threats from './js/threats.js';
import * as threat from './js/threat.js';

// [first segment, segment count] -> page module; nav names the nav-<page> link that is current.
const ROUTES = [
  {path: 'overview', n: 1, page: overview, nav: 'overview'},
  {path: 'scans', n: 1, page: scans, nav: 'scans'},
  {path: 'scans', n: 2, page: scan, nav: 'scans'},
  {path: 'models', n: 1, page: models, nav: 'models'},
  {path: 'models', n: 2, page: model, nav: 'models'},
  {path: 'policies', n: 1, page: policies, nav: 'policies'},
  {path: 'gateway', n: 1, page: gateway, nav: 'gateway'},
  {path: 'threats', n: 1, page: threats, nav: 'threats'},
  {path: 'threats', n: 2, page: threat, nav: 'threats'},
];

const main = document.getElementById('main');
let current = null; // {controller} of the page on screen
let returnTo = null; // where to go after signing in
let expiryTimer = null;

function parseHash(hash = location.hash) {
  const raw = hash.startsWith('#/') ? hash.slice(2) : '';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const segments = path.split('/').filter((s) => s !== '').map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  return {segments, query};
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  if (location.hash && !location.hash.startsWith('#/')) return; // an in-page anchor such as #main
  const {segments, query} = parseHash();
  if (current) current.controller.abort();
  const controller = new AbortController();
  current = {controller};
  clearError();

  let session = getSession();
  if (!session && segments[0] !== 'signin') {
    try {
      session = await loadSession();
    } catch (e) {
      showError(e);
    }
    if (controller.signal.aborted) return;
    if (!session) {
      returnTo = location.hash || null;
      go('#/signin');
      return;
    }
  }
  updateNav(session);
  armExpiry(session);

  let page = null, nav = null;
  if (segments[0] === 'signin') {
    page = signin;
  } else if (segments.length === 0) {
    go('#/overview');
    return;
  } else {
    const r = ROUTES.find((x) => x.path === segments[0] && x.n === segments.length);
    if (r) ({page, nav} = r);
  }
  markNav(nav);
  const ctx = {
    main, segments, query, signal: controller.signal, session,
    // The contract lands every sign-in on #/overview; the page asked for before is offered there.
    afterSignIn: () => {
      const target = returnTo ? parseHash(returnTo) : null;
      returnTo = null;
      const known = target && ROUTES.some((x) => x.path === target.segments[0] && x.n === target.segments.length);
      overview.offerContinue(known && target.segments[0] !== 'overview' ? target : null);
      go('#/overview');
    },
  };
  try {
    if (page) await page.render(ctx);
    else notFound();
  } catch (e) {
    if (e.name !== 'AbortError' && !controller.signal.aborted) {
      showError(e);
      const busy = main.querySelector('.loading');
      if (busy) {
        busy.textContent = 'This page could not be loaded.';
        busy.removeAttribute('aria-busy');
      }
    }
  }
  if (!controller.signal.aborted) focusHeading();
}

function notFound() {
  replace(main, h('h1', {tabindex: '-1', class: 'page-title'}, 'Page not found'),
    h('p', null, 'There is no such page. Use the navigation above.'));
  document.title = 'Not found · modelgate';
}

function focusHeading() {
  const h1 = main.querySelector('h1');
  if (h1) h1.focus({preventScroll: false});
  if (h1) document.title = h1.textContent + ' · modelgate';
}

function updateNav(session) {
  const nav = document.getElementById('nav');
  nav.hidden = !session;
  document.getElementById('role').textContent = session ? 'Signed in as ' + session.role : '';
}

function markNav(name) {
  for (const a of document.querySelectorAll('#nav a[data-testid^="nav-"]')) {
    if (a.dataset.testid === 'nav-' + name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// When the session expires the next request would get a 401 anyway; going to #/signin at that moment
// says so before someone edits a form in vain.
function armExpiry(session) {
  clearTimeout(expiryTimer);
  const t = session ? Date.parse(session.expires_at) : NaN;
  if (!Number.isFinite(t)) return;
  const ms = Math.min(Math.max(t - Date.now(), 0), 2 ** 31 - 1);
  expiryTimer = setTimeout(() => {
    forgetSession();
    signin.setNotice('Your session expired. Sign in again.');
    returnTo = location.hash;
    go('#/signin');
  }, ms);
}

setUnauthorizedHandler(() => {
  if (location.hash.startsWith('#/signin')) return;
  signin.setNotice('Your session ended. Sign in again.');
  returnTo = location.hash;
  go('#/signin');
});

document.getElementById('signout').addEventListener('click', async () => {
  try {
    await signOut();
  } catch (e) {
    if (e.status !== 401) showError(e);
  }
  clearTimeout(expiryTimer);
  updateNav(null);
  signin.setNotice('You are signed out.');
  announce('Signed out');
  returnTo = null;
  go('#/signin');
});

// The skip link moves focus without touching the hash (the hash is the route).
document.querySelector('.skip-link').addEventListener('click', (ev) => {
  ev.preventDefault();
  main.focus();
});

window.addEventListener('hashchange', route);
route();
