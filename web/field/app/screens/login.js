// 登录: once, with the network; after that the app works offline for days.

import { html, useState } from '../html.js';
import { login } from '../actions.js';
import { go } from '../routes.js';

/**
 * The login form; `relogin`: the session ended and the doctor logs in again from the sync
 * page (the records and the queue stay).
 * @param {{state: import('../state.js').AppState, relogin?: boolean}} props
 */
export function LoginForm({ state, relogin }) {
  const [username, setUsername] = useState(state.user ? state.user.username || '' : '');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');

  async function submit(ev) {
    ev.preventDefault();
    if (!state.online) {
      setError('登录需要网络：请到有信号的地方再登录。');
      return;
    }
    setBusy(true);
    setError('');
    const r = await login(username, password);
    setBusy(false);
    if (!r.ok) setError(r.message || '登录失败');
    else { setPassword(''); if (!relogin) go('today'); }
  }

  return html`
    <form class="card" id="login-form" onSubmit=${submit} autocomplete="on">
      <p class="muted">${relogin ? '登录已过期，请重新登录。平板上未上传的记录会保留，登录后继续上传。'
        : '第一次使用请在有网络的地方登录，登录后会下载本团队的居民资料，之后没有网络也能工作。'}</p>
      <label class="field"><span class="lbl">用户名</span>
        <input type="text" id="username" name="username" autocomplete="username" required
          value=${username} onInput=${(e) => setUsername(e.currentTarget.value)} /></label>
      <label class="field"><span class="lbl">密码</span>
        <input type="password" id="password" name="password" autocomplete="current-password" required
          value=${password} onInput=${(e) => setPassword(e.currentTarget.value)} /></label>
      <button class="btn primary block" id="login-button" type="submit" disabled=${busy}>
        ${busy ? (state.syncing ? '正在下载居民资料…' : '正在登录…') : '登录'}</button>
      ${error ? html`<p class="error" id="login-error" role="alert">${error}</p>` : null}
    </form>`;
}

/** @param {{state: import('../state.js').AppState}} props */
export function LoginScreen({ state }) {
  return html`
    <div class="shell" data-route="login">
      <header class="top"><h1>家医随访 · 登录</h1></header>
      ${state.online ? null : html`<div class="offline" id="offline-banner" role="status"><b>离线</b>登录需要网络。</div>`}
      ${state.lastError && state.lastError.code === 'device_revoked'
        ? html`<div class="notice warn" role="alert">${state.lastError.message}</div>` : null}
      <main class="screen"><${LoginForm} state=${state} /></main>
    </div>`;
}
