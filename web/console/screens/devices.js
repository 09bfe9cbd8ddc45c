// 设备管理: every device (one per user and tablet) in the caller's township or county,
// with its user, app version and last contact; a lost or stolen tablet is revoked here
// (停用), with a reason: its tokens stop at once and it is told to wipe its data.

import { html, useState } from '../html.js';
import { get, post } from '../api.js';
import { href } from '../routes.js';
import { dateTime, num } from '../format.js';
import { noteDevices, useDirectory, teamName, allTeams } from '../directory.js';
import { Page, ErrorNote, Loading, Empty, useAsync, Dialog, ReasonForm, Field, Chip } from '../ui.js';

/**
 * The device list.
 * @param {{route: import('../routes.js').Route, me: any}} props
 */
export function DevicesScreen({ route, me }) {
  useDirectory(['teams']);
  const q = route.query;
  const [text, setText] = useState(q.q || '');
  const [state, setStateFilter] = useState(q.revoked === 'true' ? 'revoked' : q.revoked === 'false' ? 'active' : '');
  const [team, setTeam] = useState(q.team_id || '');
  const userId = q.user_id || '';
  const list = useAsync(() => get('/devices', userId ? { user_id: userId } : undefined)
    .then((l) => { noteDevices(l); return userId ? l.filter((d) => !d.user_id || d.user_id === userId) : l; }), [userId]);
  const [revoking, setRevoking] = useState(/** @type {any} */ (null));
  const [done, setDone] = useState('');
  const all = list.data || [];
  const needle = text.trim().toLowerCase();
  const shown = all.filter((d) => (!state || (state === 'revoked') === !!d.revoked_at) && (!team || d.team_id === team)
    && (!needle || [d.username, d.name, d.device_id, d.app_version].some((x) => String(x || '').toLowerCase().includes(needle))))
    .sort((a, b) => (b.last_seen_at || 0) - (a.last_seen_at || 0));
  const revoke = async (reason) => {
    await post('/devices/' + encodeURIComponent(revoking.id) + '/revoke', { reason });
    setDone('已停用 ' + revoking.username + ' 的设备“' + revoking.name + '”：它的登录立即失效，下次联网时会清除本机数据。');
    setRevoking(null);
    list.reload();
  };
  return html`
    <${Page} title="设备管理" id="devices"
      sub=${'每位用户在每台平板（或浏览器）上是一台设备。平板丢失或被盗时，在这里停用：它的登录立即失效，并在下次联网时清除本机数据。'}
      actions=${userId ? html`<a href="#/devices">显示全部设备</a>` : null}>
      <form class="filters" id="device-filters" onSubmit=${(e) => e.preventDefault()}>
        <${Field} label="查找"><input id="device-search" type="search" value=${text} placeholder="用户名、设备名称、设备号、版本"
          onInput=${(e) => setText(e.currentTarget.value)} /><//>
        <${Field} label="状态">
          <select id="device-state" value=${state} onChange=${(e) => setStateFilter(e.currentTarget.value)}>
            <option value="">全部</option><option value="active">正常</option><option value="revoked">已停用</option>
          </select><//>
        ${all.some((d) => 'team_id' in d) ? html`<${Field} label="团队">
          <select id="device-team" value=${team} onChange=${(e) => setTeam(e.currentTarget.value)}>
            <option value="">全部</option>${allTeams().map((t) => html`<option value=${t.id}>${teamName(t.id)}</option>`)}
          </select><//>` : null}
        <button type="button" onClick=${list.reload}>刷新</button>
        <span class="muted">${list.data ? '共 ' + num(all.length) + ' 台，显示 ' + num(shown.length) + ' 台' : ''}</span>
      </form>
      ${done ? html`<p class="notice ok" role="status" id="device-done">${done}</p>` : null}
      <${ErrorNote} error=${list.error} />
      ${list.loading && !list.data ? html`<${Loading} />` : null}
      ${list.data && !shown.length ? html`<${Empty} text="没有符合条件的设备。" />` : null}
      ${shown.length ? html`
        <div class="table-wrap">
          <table class="grid rows" id="device-table">
            <thead><tr>
              <th scope="col">用户</th><th scope="col">设备名称</th><th scope="col">设备号</th><th scope="col">应用版本</th>
              ${'pending_review' in (all[0] || {}) ? html`<th scope="col" class="num">待审核</th>` : null}
              <th scope="col">最后联系</th><th scope="col">状态</th><th scope="col">操作</th>
            </tr></thead>
            <tbody>
              ${shown.map((d) => html`
                <tr data-device-id=${d.id} data-revoked=${d.revoked_at ? 'true' : 'false'}>
                  <td>${d.username}${d.team_id ? html`<br /><small class="muted">${teamName(d.team_id)}</small>` : null}</td>
                  <td>${d.name}${d.id === me.device_key ? html` <${Chip} text="本浏览器" tone="blue" />` : null}</td>
                  <td class="mono" title=${d.device_id}>${d.device_id}</td>
                  <td>${d.app_version || '—'}</td>
                  ${'pending_review' in d ? html`<td class="num">${num(d.pending_review)}</td>` : null}
                  <td class="nowrap">${dateTime(d.last_seen_at)}</td>
                  <td>${d.revoked_at ? html`<${Chip} text=${'已停用 ' + dateTime(d.revoked_at)} tone="red" />` : html`<${Chip} text="正常" tone="green" />`}</td>
                  <td class="actions">
                    ${d.revoked_at ? null : html`<button type="button" class="danger small" data-action="revoke" onClick=${() => { setDone(''); setRevoking(d); }}
                      aria-label=${'停用 ' + d.username + ' 的设备 ' + d.name}>停用</button>`}
                    <a href=${href('audit', null, { device_id: d.id })} class="small">审计记录</a>
                  </td>
                </tr>`)}
            </tbody>
          </table>
        </div>` : null}
      <${Dialog} open=${!!revoking} title="停用设备" id="revoke-dialog" onClose=${() => setRevoking(null)}>
        ${revoking ? html`
          <p>停用 <b>${revoking.username}</b> 的设备“${revoking.name}”（${revoking.device_id}）？</p>
          <p class="muted">停用后该设备的登录立即失效，下次联网时清除本机数据；平板上尚未上传的记录会丢失。${revoking.id === me.device_key ? '这是您正在使用的浏览器：停用后需要重新登录。' : ''}</p>
          <${ReasonForm} id="revoke-form" label="停用原因" submitLabel="确认停用" danger placeholder="例如：平板在城关镇遗失"
            onSubmit=${revoke} onCancel=${() => setRevoking(null)} />` : null}
      <//>
    <//>`;
}
