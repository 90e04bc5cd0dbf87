// The dashboard's shell: sign-in, the AUTH=off banner, the navigation and the hash routes
// (#/ overview, #/log/<app>, #/event/<app>/<seq>, #/problems).
import { ApiError, dropPrefetched, query, resetSubscriptions } from './api.js';
import { button, errorText, h, kids, link } from './dom.js';
import type { Context, View } from './context.js';
import { ProbeDocument, ServerInfoDocument } from './generated/graphql.js';
import { session } from './session.js';
import { prefetchEvent, renderEvent } from './views/event.js';
import { renderLog } from './views/log.js';
import { prefetchOverview, renderOverview } from './views/overview.js';
import { renderProblems } from './views/problems.js';

const root = document.getElementById('app')!;
const status = h('p', { id: 'status', role: 'status', 'aria-live': 'polite', class: 'visually-hidden' });

/** A screen, and the reads it makes first (sent with the shell's own when the tab has a key). */
interface Screen {
  view: View;
  prefetch?: (params: string[]) => void;
}

const SCREENS = new Map<string, Screen>([
  ['log', { view: renderLog }],
  ['event', { view: renderEvent, prefetch: prefetchEvent }],
  ['problems', { view: renderProblems }],
]);
const OVERVIEW: Screen = { view: renderOverview, prefetch: prefetchOverview };

/** The screen the location's hash names (#/ overview, #/log/<app>, #/event/<app>/<seq>, #/problems). */
function currentRoute(): { name: string; screen: Screen; params: string[] } {
  const [name = '', ...params] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  return { name, screen: SCREENS.get(name) ?? OVERVIEW, params };
}

async function start(): Promise<void> {
  // All at once (the first screen waits on them): whether the server asks for a key at all, who it is,
  // and, with a key, the reads of the screen the tab opens on (taken by the screen; dropped if unused).
  const key = session.apiKey();
  if (key !== null) {
    const { screen, params } = currentRoute();
    screen.prefetch?.(params);
  }
  const [probe, info] = await Promise.allSettled([query(ProbeDocument, {}, null), query(ServerInfoDocument, {}, key)]);
  const authOff = probe.status === 'fulfilled';
  if (probe.status === 'rejected') {
    const err: unknown = probe.reason;
    if (!(err instanceof ApiError) || err.code !== 'UNAUTHENTICATED') return fatal(err);
    if (key === null) return signIn();
  }
  if (info.status === 'rejected') {
    if (authOff) return fatal(info.reason);
    session.setApiKey(null);
    return signIn(errorText(info.reason));
  }
  shell({ server: info.value.serverInfo, authOff, announce: (t) => (status.textContent = t) });
}

function fatal(err: unknown): void {
  dropPrefetched();
  root.replaceChildren(
    h(
      'main',
      { id: 'main' },
      h('h1', {}, 'chainlog'),
      h('p', { role: 'alert' }, `The server cannot be reached: ${errorText(err)}`),
    ),
  );
}

function signIn(problem?: string): void {
  dropPrefetched();
  const input = h('input', {
    id: 'api-key',
    name: 'api-key',
    type: 'password',
    autocomplete: 'off',
    required: true,
    spellcheck: 'false',
  });
  const form = h(
    'form',
    { class: 'sign-in', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'chainlog dashboard'),
    h('p', {}, 'Sign in with an API key (READER, AUDITOR or ADMIN). It is kept in this tab only and sent to this server only.'),
    h('label', { for: 'api-key' }, 'API key'),
    input,
    problem ? h('p', { role: 'alert', class: 'bad' }, problem) : null,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    // With `chainlog:first-screen` (views/overview.ts): sign-in to usable screen, measurable in DevTools.
    performance.mark('chainlog:sign-in');
    session.setApiKey(input.value.trim());
    resetSubscriptions();
    void start();
  });
  root.replaceChildren(h('main', { id: 'main' }, form));
  input.focus();
}

function shell(ctx: Context): void {
  const main = h('main', { id: 'main', tabindex: -1 });
  const nav = h(
    'nav',
    { 'aria-label': 'Screens' },
    h('ul', {}, h('li', {}, link([], 'Overview')), h('li', {}, link(['problems'], 'Inconsistencies'))),
    ctx.authOff
      ? null
      : button('Sign out', () => {
          session.setApiKey(null);
          resetSubscriptions();
          location.hash = '';
          signIn();
        }),
  );
  root.replaceChildren(
    ...kids(
      h('a', { href: '#main', class: 'skip' }, 'Skip to content'),
      ctx.authOff
        ? h(
            'p',
            { class: 'banner', role: 'alert' },
            'Authentication is off on this server (AUTH=off): anyone who can reach it can read and write every log.',
          )
        : null,
      h('header', {}, h('p', { class: 'brand' }, `chainlog ${ctx.server.version}`), nav),
      main,
      status,
    ),
  );
  let stop: () => void = () => undefined;
  const route = () => {
    stop();
    main.replaceChildren();
    const { name, screen, params } = currentRoute();
    stop = screen.view(main, ctx, params);
    // Reads sent ahead are for the screen the tab opened on: taken by now, or never.
    dropPrefetched();
    for (const a of nav.querySelectorAll('a')) {
      if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  };
  window.addEventListener('hashchange', () => {
    route();
    main.focus();
  });
  route();
}

void start().catch(fatal);
