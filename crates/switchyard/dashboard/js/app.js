// The dashboard shell: hash routing, navigation with counts, auto-refresh, theme, version.
//
// Routes: #/                          overview
//         #/<proto>/<kind>[?query]    list (proto: http|tcp|udp; kind: routers|services|middlewares)
//         #/<proto>/<kind>/<name>     detail (name URL-escaped)

import { h, icon, replace } from './dom.js';
import { get } from './api.js';
import { SECTIONS, KIND_LABEL, KIND_ICON, isKnownKind, notice } from './ui.js';
import { overviewView } from './overview.js';
import { listView } from './list.js';
import { detailView } from './detail.js';

const REFRESH_MS = 5000;
const THEME_KEY = 'switchyard.dashboard.theme';
const REFRESH_KEY = 'switchyard.dashboard.autoRefresh';
const THEMES = ['auto', 'light', 'dark'];

const viewEl = document.getElementById('view');
const navEl = document.getElementById('nav');
const crumbsEl = document.getElementById('breadcrumbs');
const themeButton = document.getElementById('theme-toggle');
const refreshButton = document.getElementById('refresh-toggle');
const refreshState = document.getElementById('refresh-state');

const app = {
  view: null,
  controller: null,
  refreshing: false,
  pending: false,
  paused: storageGet(REFRESH_KEY) === 'off',
  dashboardName: '',
  pageTitle: '',
  banner: null,
};

// ---- storage (may be unavailable) -------------------------------------------------------------

function storageGet(key) {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

function storageSet(key, value) {
  try {
    window.localStorage.setItem(key, value);
  } catch {
    // Not persisted; the setting still applies to this page.
  }
}

// ---- theme ------------------------------------------------------------------------------------

function currentTheme() {
  const t = document.documentElement.getAttribute('data-theme');
  return THEMES.includes(t) ? t : 'auto';
}

function applyTheme(theme) {
  document.documentElement.setAttribute('data-theme', theme);
  const next = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
  replace(themeButton, icon(theme === 'auto' ? 'auto' : theme === 'light' ? 'sun' : 'moon'),
    h('span', { class: 'sr-only' }, `Theme: ${theme}`));
  themeButton.dataset.theme = theme;
  themeButton.title = `Theme: ${theme} (switch to ${next})`;
  themeButton.setAttribute('aria-label', `Theme: ${theme}, switch to ${next}`);
}

themeButton.addEventListener('click', () => {
  const next = THEMES[(THEMES.indexOf(currentTheme()) + 1) % THEMES.length];
  storageSet(THEME_KEY, next);
  applyTheme(next);
});

// ---- auto-refresh -----------------------------------------------------------------------------

function applyRefreshState() {
  refreshButton.setAttribute('aria-pressed', String(!app.paused));
  refreshButton.dataset.paused = String(app.paused);
  refreshButton.title = app.paused ? 'Resume auto-refresh' : 'Pause auto-refresh';
  refreshButton.setAttribute('aria-label', refreshButton.title);
  replace(refreshButton, icon(app.paused ? 'play' : 'pause'));
  refreshState.textContent = app.paused ? 'Auto-refresh paused' : `Auto-refresh ${REFRESH_MS / 1000} s`;
}

refreshButton.addEventListener('click', () => {
  app.paused = !app.paused;
  storageSet(REFRESH_KEY, app.paused ? 'off' : 'on');
  applyRefreshState();
  if (!app.paused) refreshNow();
});

setInterval(() => {
  // A tick that finds a refresh still running is skipped, not queued.
  if (!app.paused && !app.refreshing && document.visibilityState !== 'hidden') refreshNow();
}, REFRESH_MS);

/** Refreshes the current view (and the navigation counts); one refresh at a time. */
function refreshNow() {
  if (app.refreshing) {
    app.pending = true;
    return;
  }
  app.refreshing = true;
  const view = app.view;
  const controller = app.controller;
  Promise.all([view ? view.refresh() : null, refreshNav(controller.signal)])
    .then(() => {
      if (view !== app.view) return;
      setBanner(null);
      viewEl.dataset.loaded = 'true';
    })
    .catch((err) => {
      if (err && err.name === 'AbortError') return;
      if (view === app.view) setBanner(err && err.message ? err.message : String(err));
    })
    .finally(() => {
      app.refreshing = false;
      if (app.pending) {
        app.pending = false;
        refreshNow();
      }
    });
}

function setBanner(message) {
  if (app.banner) {
    app.banner.remove();
    app.banner = null;
  }
  if (message) {
    app.banner = notice('failure api-error', `Cannot load data from the API: ${message}`);
    viewEl.prepend(app.banner);
  }
}

// ---- navigation -------------------------------------------------------------------------------

const navCounts = new Map();

function buildNav() {
  const items = [h('a', { class: 'nav-item', href: '#/', dataset: { route: '' } }, icon('home'), h('span', null, 'Overview'))];
  for (const section of SECTIONS) {
    items.push(h('div', { class: 'nav-section' }, section.label));
    for (const kind of section.kinds) {
      const count = h('span', { class: 'nav-count', hidden: true });
      navCounts.set(`${section.proto}/${kind}`, count);
      items.push(h('a', { class: 'nav-item', href: `#/${section.proto}/${kind}`, dataset: { route: `${section.proto}/${kind}` } },
        icon(KIND_ICON[kind]), h('span', null, `${section.label} ${KIND_LABEL[kind]}`), count));
    }
  }
  replace(navEl, items);
}

function setOverview(overview) {
  for (const section of SECTIONS) {
    for (const kind of section.kinds) {
      const counts = overview && overview[section.proto] && overview[section.proto][kind];
      const el = navCounts.get(`${section.proto}/${kind}`);
      if (!el) continue;
      const total = counts ? Number(counts.total) || 0 : 0;
      const errors = counts ? (Number(counts.errors) || 0) : 0;
      const warnings = counts ? (Number(counts.warnings) || 0) : 0;
      el.hidden = total === 0;
      el.textContent = String(total);
      el.className = ['nav-count', errors > 0 ? 'err' : warnings > 0 ? 'warn' : ''].filter(Boolean).join(' ');
      el.title = `${total} total, ${warnings} warnings, ${errors} errors`;
    }
  }
}

async function refreshNav(signal) {
  if (app.view && app.view.setsOverview) return;
  setOverview(await get('overview', null, signal));
}

function markActiveNav(route) {
  for (const a of navEl.querySelectorAll('.nav-item')) {
    const active = a.dataset.route === route;
    a.classList.toggle('active', active);
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function setCrumbs(crumbs) {
  replace(crumbsEl, crumbs.map((c, i) => [
    i > 0 ? h('span', { class: 'crumb-sep', 'aria-hidden': 'true' }, '/') : null,
    c.href ? h('a', { class: 'crumb', href: c.href }, c.text) : h('span', { class: 'crumb' }, c.text),
  ]));
}

function setTitle(title) {
  app.pageTitle = title;
  document.title = `${title} · ${app.dashboardName || 'Switchyard'}`;
}

// ---- routing ----------------------------------------------------------------------------------

function parseHash() {
  const raw = window.location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const params = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  const segments = path.split('/').filter(Boolean).map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  return { segments, params };
}

function mount() {
  if (app.controller) app.controller.abort();
  const controller = new AbortController();
  app.controller = controller;
  app.pending = false;
  setBanner(null);
  const { segments, params } = parseHash();
  const [proto, kind, ...rest] = segments;
  // For tests and scripts: which route is shown, and whether its data has loaded.
  viewEl.dataset.route = `/${segments.join('/')}`;
  viewEl.dataset.loaded = 'false';
  const name = rest.join('/');
  const ctx = {
    signal: controller.signal,
    params,
    proto,
    kind,
    name,
    setCrumbs,
    setTitle,
    setOverview,
    setParams(p) {
      const q = p.toString();
      window.history.replaceState(null, '', `#/${proto}/${kind}${q ? `?${q}` : ''}`);
    },
    refreshNow() {
      // A user action (typing, sorting): run now even if a tick is in flight.
      app.refreshing = false;
      refreshNow();
    },
  };
  let view;
  if (segments.length === 0) {
    view = overviewView(ctx);
    view.setsOverview = true;
    markActiveNav('');
  } else if (isKnownKind(proto, kind) && rest.length === 0) {
    view = listView(ctx);
    markActiveNav(`${proto}/${kind}`);
  } else if (isKnownKind(proto, kind)) {
    view = detailView(ctx);
    markActiveNav(`${proto}/${kind}`);
  } else {
    setCrumbs([{ text: 'Not found' }]);
    setTitle('Not found');
    markActiveNav(null);
    view = {
      el: h('div', { class: 'page' }, h('h1', { class: 'page-title' }, 'Page not found'),
        h('p', null, 'No page at ', h('code', null, window.location.hash), '. ', h('a', { href: '#/' }, 'Back to the overview'))),
      refresh: async () => {},
    };
  }
  app.view = view;
  replace(viewEl, view.el);
  window.scrollTo(0, 0);
  app.refreshing = false;
  refreshNow();
}

// ---- version ----------------------------------------------------------------------------------

async function loadVersion() {
  try {
    const v = await get('version');
    const version = document.getElementById('version');
    if (v && v.Version) {
      version.textContent = String(v.Version);
      version.title = v.Codename ? `Version ${v.Version} (${v.Codename})` : `Version ${v.Version}`;
    }
    if (v && typeof v.dashboardName === 'string' && v.dashboardName) {
      app.dashboardName = v.dashboardName;
      const nameEl = document.getElementById('dashboard-name');
      nameEl.textContent = v.dashboardName;
      nameEl.hidden = false;
      setTitle(app.pageTitle);
    }
  } catch {
    // The version is decoration; the pages report API failures themselves.
  }
}

applyTheme(currentTheme());
applyRefreshState();
buildNav();
window.addEventListener('hashchange', mount);
mount();
loadVersion();
