// The login form. Its element ids (#login-form, #username, #password, #login-button,
// #login-error) are what the dashboard's browser test drives (tests/api/dashboard_browser.rs).

import { html, useState } from '../html.js';
import { login } from '../api.js';
import { errorText } from '../labels.js';

/**
 * @param {{message: string, onLoggedIn: (s: import('../api.js').Session) => Promise<void>}} props
 */
export function LoginScreen({ message, onLoggedIn }) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const username = form.username.value.trim();
    const password = form.password.value;
    setError('');
    setBusy(true);
    try {
      const s = await login(username, password);
      form.password.value = '';
      await onLoggedIn(s);
    } catch (e) {
      if (e && e.code === 'too_many_attempts') {
        const wait = e.retryAfter ? Math.ceil(e.retryAfter) + ' 秒' : '稍等';
        setError('登录失败次数过多，请 ' + wait + '后再试。');
      } else if (e && e.status === 401 && e.code !== 'device_revoked') {
        setError('用户名或密码错误');
      } else {
        setError(errorText(e));
      }
    } finally {
      setBusy(false);
    }
  };
  return html`
    <section id="login" class="login">
      <form id="login-form" autocomplete="on" onSubmit=${submit}>
        <h2>登录</h2>
        <p class="muted">乡镇督导、县卫健局管理员使用本控制台；家庭医生请使用平板上的“家医随访”。</p>
        <label>用户名 <input id="username" name="username" autocomplete="username" required /></label>
        <label>密码 <input id="password" name="password" type="password" autocomplete="current-password" required /></label>
        <button id="login-button" type="submit" class="primary" disabled=${busy}>${busy ? '正在登录…' : '登录'}</button>
        <p id="login-error" class="error" role="alert">${error || message || ''}</p>
      </form>
    </section>`;
}
