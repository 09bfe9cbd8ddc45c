// 我的账号: who the console is logged in as, changing one's own password (also the only
// screen open after an administrator reset it), and signing out everywhere (every token of
// the account ends, on every tablet and browser).

import { html, useState } from '../html.js';
import { post, getSession, setSession } from '../api.js';
import { ROLES } from '../labels.js';
import { regionName, knowsRegion, teamName, useDirectory, ensure } from '../directory.js';
import { getState, setState } from '../store.js';
import { Page, ErrorNote, Field, KV } from '../ui.js';
import { logout } from '../session.js';

/**
 * The account screen.
 * @param {{me: any}} props
 */
export function MeScreen({ me }) {
  useDirectory(['regions', 'teams']);
  const must = getState().mustChangePassword;
  const [f, setF] = useState({ old: '', next: '', again: '' });
  const [error, setError] = useState(/** @type {any} */ (null));
  const [done, setDone] = useState('');
  const [busy, setBusy] = useState(false);
  const [outError, setOutError] = useState(null);
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const change = async (ev) => {
    ev.preventDefault();
    setDone('');
    if (f.next !== f.again) { setError({ code: 'mismatch' }); return; }
    setBusy(true);
    setError(null);
    try {
      await post('/me/password', { old_password: f.old, new_password: f.next });
      const s = getSession();
      if (s) setSession({ ...s, mustChangePassword: false });
      setF({ old: '', next: '', again: '' });
      setState({ mustChangePassword: false, notice: null });
      // What was refused while the password had to change is asked for again.
      ensure(['regions', 'teams', 'users', 'devices'], true);
      setDone('密码已修改。下次登录请使用新密码。');
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const signOutEverywhere = async () => {
    setOutError(null);
    try {
      await post('/me/sign-out-everywhere', {});
      logout('已在所有设备上退出登录，请重新登录。');
    } catch (e) {
      setOutError(e);
    }
  };
  return html`
    <${Page} title="我的账号" id="me">
      ${must ? html`<p class="notice warn" role="alert" id="must-change">管理员已重置您的密码。请输入一次性密码和新密码，设置后才能使用其他功能。</p>` : null}
      <${KV} id="me-facts" rows=${[
        ['用户名', me.username],
        ['角色', ROLES[me.role] || me.role],
        ['地区', knowsRegion(me.region_code) ? regionName(me.region_code) + '（' + me.region_code + '）' : me.region_code],
        me.team_id ? ['团队', teamName(me.team_id)] : null,
        ['本浏览器的设备号', me.device_id],
      ]} />
      <section class="block">
        <h3>修改密码</h3>
        <form id="password-form" class="stack narrow" onSubmit=${change}>
          <input type="text" name="username" autocomplete="username" value=${me.username} readonly hidden />
          <${Field} label=${must ? '一次性密码' : '原密码'}><input id="old-password" type="password" required autocomplete="current-password" value=${f.old} onInput=${set('old')} /><//>
          <${Field} label="新密码" hint="至少 10 个字符，不能与用户名相同，不能全是同一个字符"><input id="new-password" type="password" required minlength="10" autocomplete="new-password" value=${f.next} onInput=${set('next')} /><//>
          <${Field} label="再输一次新密码"><input id="new-password-again" type="password" required autocomplete="new-password" value=${f.again} onInput=${set('again')} /><//>
          ${error && error.code === 'mismatch' ? html`<p class="error" role="alert" data-code="mismatch">两次输入的新密码不一致。</p>` : html`<${ErrorNote} error=${error} id="password-error" />`}
          ${done ? html`<p class="notice ok" role="status" id="password-done">${done}</p>` : null}
          <div class="buttons"><button type="submit" class="primary" id="password-submit" disabled=${busy}>${busy ? '正在保存…' : '修改密码'}</button></div>
        </form>
      </section>
      <section class="block">
        <h3>退出所有设备</h3>
        <p class="muted">结束本账号在所有平板和浏览器上的登录（包括这里）。怀疑密码泄露时使用，然后修改密码。</p>
        <${ErrorNote} error=${outError} />
        <button type="button" class="danger" id="sign-out-everywhere" onClick=${signOutEverywhere}>退出所有设备</button>
      </section>
    <//>`;
}
