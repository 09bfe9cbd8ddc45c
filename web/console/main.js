// The supervisors' and administrators' console (督导与管理控制台), the page the binary
// serves at `/`: log in, then the screens of the hash routes — the coverage dashboard with
// drill-down, the review queue, devices, the audit log, staff and teams, residents, and
// the user's own account. ES modules as written, no bundler; ECharts is the classic
// script /assets/echarts.min.js (global `echarts`). See docs/console.md.

import { html, render, useEffect, useState } from './html.js';
import { get, getSession, onSessionEvent } from './api.js';
import { logout } from './session.js';
import { getState, setState, useStore } from './store.js';
import { parseRoute, href, NAV, allowed, section } from './routes.js';
import { ROLES } from './labels.js';
import { regionName, knowsRegion, displayName, useDirectory, ensure } from './directory.js';
import { ErrorNote, Loading } from './ui.js';
import { LoginScreen } from './screens/login.js';
import { DashboardScreen } from './screens/dashboard.js';
import { ReviewListScreen, ReviewItemScreen } from './screens/review.js';
import { DevicesScreen } from './screens/devices.js';
import { AuditScreen } from './screens/audit.js';
import { StaffScreen } from './screens/staff.js';
import { ResidentsScreen, ResidentScreen } from './screens/residents.js';
import { MeScreen } from './screens/me.js';

const TITLES = Object.fromEntries(NAV.map((n) => [n.name, n.label]));

/** Reads who the session belongs to (`GET /api/v1/me`). */
async function loadMe() {
  try {
    const me = await get('/me');
    setState({ me, meError: null });
    ensure(['regions']);
  } catch (e) {
    if (getSession()) setState({ meError: e });
  }
}

function useRoute() {
  const [route, setRoute] = useState(parseRoute(location.hash));
  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  return route;
}

function Screen({ route, me }) {
  const id = route.id || '';
  switch (route.name) {
    case 'review': return html`<${ReviewListScreen} route=${route} me=${me} />`;
    case 'review-item': return html`<${ReviewItemScreen} id=${id} key=${id} me=${me} />`;
    case 'devices': return html`<${DevicesScreen} route=${route} me=${me} />`;
    case 'audit': return html`<${AuditScreen} route=${route} me=${me} />`;
    case 'staff': return html`<${StaffScreen} route=${route} me=${me} />`;
    case 'residents': return html`<${ResidentsScreen} route=${route} me=${me} />`;
    case 'resident': return html`<${ResidentScreen} id=${id} key=${id} me=${me} />`;
    case 'me': return html`<${MeScreen} me=${me} />`;
    default: return html`<${DashboardScreen} route=${route} me=${me} />`;
  }
}

const LEVEL_ZH = { county: '全县', township: '本乡镇' };

function Shell({ state, route }) {
  useDirectory(['regions', 'users']);
  const me = state.me;
  const place = knowsRegion(me.region_code) ? regionName(me.region_code)
    : LEVEL_ZH[me.region_code.endsWith('000000') ? 'county' : 'township'];
  const mustChange = state.mustChangePassword;
  // Until a reset password is replaced, only the account page works (the API refuses the rest).
  const shown = mustChange ? { name: 'me', query: {} } : route;
  const permitted = allowed(me.role, shown.name);
  // Another screen asked for while the password must change: the address says #/me too,
  // so the account page stays once the new password is set.
  useEffect(() => {
    if (mustChange && route.name !== 'me') location.replace('#/me');
  }, [mustChange, route.name]);
  useEffect(() => {
    document.title = '家医 · ' + (TITLES[section(shown.name)] || '控制台');
    window.scrollTo(0, 0);
  }, [shown.name, shown.id]);
  const current = section(shown.name);
  return html`
    <div class="console" data-route=${shown.name} data-role=${me.role}>
      <header class="top">
        <h1><a href="#/dashboard">家庭医生签约服务 · 督导与管理控制台</a></h1>
        <div id="who" class="who">
          <span id="who-name">${(ROLES[me.role] || me.role) + ' · ' + displayName(me.id, me.username) + ' · ' + place}</span>
          <button id="logout" type="button" onClick=${() => logout('')}>退出登录</button>
        </div>
      </header>
      <nav class="nav" id="nav" aria-label="主导航">
        ${NAV.filter((n) => n.roles.includes(me.role)).map((n) => html`
          <a href=${href(n.name)} data-nav=${n.name} aria-current=${current === n.name ? 'page' : null}
            class=${(current === n.name ? 'on' : '') + (mustChange && n.name !== 'me' ? ' off' : '')}>${n.label}</a>`)}
      </nav>
      ${state.notice ? html`
        <div class=${'notice ' + (state.notice.kind || '')} id="notice" role="status">
          <span>${state.notice.text}</span>
          <button type="button" class="link" aria-label="关闭提示" onClick=${() => setState({ notice: null })}>×</button>
        </div>` : null}
      <main id="main">
        ${permitted ? html`<${Screen} route=${shown} me=${me} />`
          : html`<section class="page"><p class="error" role="alert" id="not-allowed">您的账号（${ROLES[me.role] || me.role}）不能使用这一页。</p>
              <p><a href="#/dashboard">回到指标看板</a></p></section>`}
      </main>
    </div>`;
}

function App() {
  const state = useStore();
  const route = useRoute();
  if (!state.session) {
    return html`<${LoginScreen} message=${state.loginMessage} onLoggedIn=${async (s) => {
      // After a reset the account page says what to do (#must-change).
      setState({ session: s, mustChangePassword: !!s.mustChangePassword, loginMessage: '', notice: null });
      if (s.mustChangePassword) location.hash = '#/me';
      await loadMe();
    }} />`;
  }
  if (!state.me) {
    return html`<section class="page">${state.meError
      ? html`<${ErrorNote} error=${state.meError} /><p><button type="button" onClick=${() => logout('')}>重新登录</button></p>`
      : html`<${Loading} text="正在打开控制台…" />`}</section>`;
  }
  return html`<${Shell} state=${state} route=${route} />`;
}

function boot() {
  onSessionEvent((kind, message) => {
    if (kind === 'ended') logout(message || '');
    if (kind === 'password' && !getState().mustChangePassword) {
      setState({ mustChangePassword: true, notice: null });
      location.hash = '#/me';
    }
  });
  const root = document.getElementById('app');
  root.textContent = ''; // the "正在加载…" placeholder: render() would keep it
  render(html`<${App} />`, root);
  if (getSession()) loadMe();
}

boot();
