// The field app's entry point: starts the sync client, the service worker that keeps the
// app on the tablet, and the screen for the current hash route.

import { createClient } from '../sdk/jiayi-sync.js';
import { html, render, useEffect, useState } from './html.js';
import { parseRoute } from './routes.js';
import { getState, setState, useAppState } from './state.js';
import { init, reload, sync } from './actions.js';
import { Frame } from './ui.js';
import { LoginScreen } from './screens/login.js';
import { TodayScreen } from './screens/today.js';
import { ResidentsScreen } from './screens/residents.js';
import { ResidentScreen } from './screens/resident.js';
import { EditScreen } from './screens/edit.js';
import { RegisterScreen } from './screens/register.js';
import { SignScreen } from './screens/sign.js';
import { VisitScreen } from './screens/visit.js';
import { SurveyScreen } from './screens/survey.js';
import { ReferralScreen } from './screens/referral.js';
import { SyncScreen } from './screens/sync.js';

/** Sent as `app_version` at login and `X-App-Version` on pushes (supervisors see it). */
export const APP_VERSION = 'field-1.0.0';

function App() {
  const state = useAppState();
  const [route, setRoute] = useState(parseRoute(location.hash));
  useEffect(() => {
    const onHash = () => {
      setRoute(parseRoute(location.hash));
      window.scrollTo(0, 0);
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  // "已保存…" is read at a glance; it must not linger over later screens.
  useEffect(() => {
    if (!state.flash) return undefined;
    const t = setTimeout(() => setState({ flash: '' }), 8000);
    return () => clearTimeout(t);
  }, [state.flash]);
  if (!state.user) return html`<${LoginScreen} state=${state} />`;
  // Forms take their first values from the local copy: wait until it has been read.
  if (!state.loaded) return html`<${Frame} title="家医随访" route=${route.name} state=${state}><p class="muted">正在读取平板上的资料…</p><//>`;
  const id = route.id || '';
  switch (route.name) {
    case 'residents': return html`<${ResidentsScreen} state=${state} />`;
    case 'resident': return html`<${ResidentScreen} state=${state} id=${id} key=${id} />`;
    case 'edit': return html`<${EditScreen} state=${state} id=${id} key=${id} />`;
    case 'register': return html`<${RegisterScreen} state=${state} />`;
    case 'sign': return html`<${SignScreen} state=${state} id=${id} key=${id} />`;
    case 'visit': return html`<${VisitScreen} state=${state} id=${id} key=${id} />`;
    case 'survey': return html`<${SurveyScreen} state=${state} id=${id} key=${id} />`;
    case 'referral': return html`<${ReferralScreen} state=${state} id=${id} key=${id} />`;
    case 'sync': return html`<${SyncScreen} state=${state} />`;
    default: return html`<${TodayScreen} state=${state} />`;
  }
}

/** Keeps the app on the tablet: the service worker serves it with no network. */
function startServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('sw.js', { scope: './' }).catch((e) => console.warn('service worker not registered', e));
  navigator.serviceWorker.addEventListener('message', (ev) => {
    if (ev.data && ev.data.type === 'shell-updated') setState({ updateReady: true });
  });
}

function boot() {
  const client = createClient({ baseUrl: location.origin, appVersion: APP_VERSION });
  init(client);
  window.addEventListener('online', () => {
    setState({ online: true });
    // Back in signal: send what waits, without the doctor having to remember.
    if (getState().user && !getState().needLogin) sync();
  });
  window.addEventListener('offline', () => setState({ online: false }));
  const root = document.getElementById('app');
  root.textContent = ''; // the "正在打开…" placeholder: render() would keep it
  render(html`<${App} />`, root);
  startServiceWorker();
  reload().catch((e) => console.error(e));
  if (getState().user && navigator.onLine) sync();
}

boot();
