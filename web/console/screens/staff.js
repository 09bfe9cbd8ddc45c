// 人员与团队: the county's (administrator) or township's (supervisor, read-only) staff
// and family-doctor teams. An administrator edits a user's name, role and team, deactivates
// an account (its tokens stop at once), resets a password (a one-time password shown
// once), creates users and teams, and moves a village to another team.

import { html, useState } from '../html.js';
import { get, post, patch } from '../api.js';
import { go, href } from '../routes.js';
import { dateTime, num } from '../format.js';
import { ROLES } from '../labels.js';
import { useDirectory, regionName, teamName, allTeams, noteUsers, ensure, childrenOf } from '../directory.js';
import { Page, ErrorNote, Loading, Empty, useAsync, usePages, Pager, Dialog, ReasonForm, Field, Chip } from '../ui.js';

/**
 * The staff screen: users or teams (`#/staff?tab=teams`).
 * @param {{route: import('../routes.js').Route, me: any}} props
 */
export function StaffScreen({ route, me }) {
  useDirectory(['regions', 'teams']);
  const tab = route.query.tab === 'teams' ? 'teams' : 'users';
  const admin = me.role === 'admin';
  return html`
    <${Page} title="人员与团队" id="staff"
      sub=${admin ? '全县的工作人员账号与家医团队。' : '本乡镇的工作人员与家医团队（只读；修改请联系县卫健局）。'}>
      <nav class="tabs" aria-label="人员与团队">
        <a href=${href('staff')} aria-current=${tab === 'users' ? 'page' : null} class=${tab === 'users' ? 'on' : ''} id="tab-users">人员</a>
        <a href=${href('staff', null, { tab: 'teams' })} aria-current=${tab === 'teams' ? 'page' : null} class=${tab === 'teams' ? 'on' : ''} id="tab-teams">团队</a>
      </nav>
      ${tab === 'users' ? html`<${Users} route=${route} me=${me} admin=${admin} />` : html`<${Teams} me=${me} admin=${admin} />`}
    <//>`;
}

function Users({ route, me, admin }) {
  const q = route.query;
  const filters = { role: q.role || '', team_id: q.team_id || '', active: q.active || '', q: q.q || '' };
  const key = JSON.stringify(filters);
  const pages = usePages(key);
  const cursor = pages.cursor;
  const page = useAsync(() => get('/admin/users', { ...filters, limit: 50, cursor }).then((p) => { noteUsers(p.items); return p; }), [key, cursor]);
  const [text, setText] = useState(filters.q);
  const [editing, setEditing] = useState(/** @type {any} */ (null));
  const [deactivating, setDeactivating] = useState(/** @type {any} */ (null));
  const [resetting, setResetting] = useState(/** @type {any} */ (null));
  const [otp, setOtp] = useState(/** @type {any} */ (null));
  const [creating, setCreating] = useState(false);
  const [done, setDone] = useState('');
  const set = (p) => go('staff', null, { ...filters, ...p });
  const items = page.data ? page.data.items || [] : [];
  const next = page.data ? page.data.cursor || page.data.next_cursor : null;
  const teams = allTeams();

  const doReset = async () => {
    const u = resetting;
    const out = await post('/admin/users/' + encodeURIComponent(u.id) + '/reset-password', {});
    setResetting(null);
    setOtp({ user: u, password: out.one_time_password });
    page.reload();
  };
  return html`
    <form class="filters" id="user-filters" onSubmit=${(e) => { e.preventDefault(); set({ q: text.trim() }); }}>
      <${Field} label="查找"><input id="user-search" type="search" value=${text} placeholder="用户名或姓名" onInput=${(e) => setText(e.currentTarget.value)} /><//>
      <${Field} label="角色">
        <select id="user-role" value=${filters.role} onChange=${(e) => set({ role: e.currentTarget.value })}>
          <option value="">全部</option>${Object.entries(ROLES).map(([k, v]) => html`<option value=${k}>${v}</option>`)}
        </select><//>
      <${Field} label="团队">
        <select id="user-team" value=${filters.team_id} onChange=${(e) => set({ team_id: e.currentTarget.value })}>
          <option value="">全部</option>${teams.map((t) => html`<option value=${t.id}>${teamName(t.id)}</option>`)}
        </select><//>
      <${Field} label="状态">
        <select id="user-active" value=${filters.active} onChange=${(e) => set({ active: e.currentTarget.value })}>
          <option value="">全部</option><option value="true">在用</option><option value="false">已停用</option>
        </select><//>
      <button type="submit">查找</button>
      ${admin ? html`<button type="button" class="primary" id="user-new" onClick=${() => { setDone(''); setCreating(true); }}>新建用户</button>` : null}
    </form>
    ${done ? html`<p class="notice ok" role="status" id="user-done">${done}</p>` : null}
    <${ErrorNote} error=${page.error} />
    ${page.loading && !page.data ? html`<${Loading} />` : null}
    ${page.data && !items.length ? html`<${Empty} text="没有符合条件的用户。" />` : null}
    ${items.length ? html`
      <div class="table-wrap">
        <table class="grid rows" id="user-table">
          <thead><tr>
            <th scope="col">用户名</th><th scope="col">姓名</th><th scope="col">角色</th><th scope="col">团队 / 地区</th>
            <th scope="col">状态</th><th scope="col">最近登录</th><th scope="col" class="num">设备</th>
            ${admin ? html`<th scope="col">操作</th>` : null}
          </tr></thead>
          <tbody>
            ${items.map((u) => html`
              <tr data-user-id=${u.id} data-active=${u.active ? 'true' : 'false'}>
                <td class="mono">${u.username}</td>
                <td>${u.display_name}</td>
                <td>${ROLES[u.role] || u.role}</td>
                <td>${u.team_id ? teamName(u.team_id) : regionName(u.region_code)}</td>
                <td>${u.active ? html`<${Chip} text="在用" tone="green" />` : html`<${Chip} text="已停用" tone="red" />`}
                  ${u.must_change_password ? html` <${Chip} text="待改密码" tone="amber" />` : null}</td>
                <td class="nowrap">${u.last_login_at ? dateTime(u.last_login_at) : '从未登录'}</td>
                <td class="num"><a href=${href('devices', null, { user_id: u.id })} title="查看此人的设备">${num(u.device_count)}</a></td>
                ${admin ? html`
                  <td class="actions">
                    <button type="button" class="small" data-action="edit" onClick=${() => { setDone(''); setEditing(u); }} aria-label=${'修改 ' + u.username}>修改</button>
                    ${u.active && u.id !== me.id ? html`
                      <button type="button" class="small" data-action="reset" onClick=${() => { setDone(''); setResetting(u); }} aria-label=${'重置 ' + u.username + ' 的密码'}>重置密码</button>
                      <button type="button" class="small danger" data-action="deactivate" onClick=${() => { setDone(''); setDeactivating(u); }} aria-label=${'停用 ' + u.username}>停用</button>` : null}
                    <a class="small" href=${href('audit', null, { user_id: u.id })}>审计记录</a>
                  </td>` : null}
              </tr>`)}
          </tbody>
        </table>
      </div>` : null}
    <${Pager} hasPrev=${pages.depth > 0} hasNext=${!!next} info=${page.data ? '第 ' + (pages.depth + 1) + ' 页' : ''}
      onPrev=${pages.pop} onNext=${() => pages.push(next)} />

    <${Dialog} open=${!!editing} title="修改用户" id="edit-dialog" onClose=${() => setEditing(null)}>
      ${editing ? html`<${EditUser} user=${editing} teams=${teams} me=${me} onDone=${(u) => { setEditing(null); setDone('已保存 ' + u.username + '。'); page.reload(); }} onCancel=${() => setEditing(null)} />` : null}
    <//>
    <${Dialog} open=${!!deactivating} title="停用账号" id="deactivate-dialog" onClose=${() => setDeactivating(null)}>
      ${deactivating ? html`
        <p>停用 <b>${deactivating.display_name}（${deactivating.username}）</b>？</p>
        <p class="muted">停用后该账号在所有设备上的登录立即失效，不能再登录；记录和审计日志保留。</p>
        <${ReasonForm} id="deactivate-form" label="停用原因" submitLabel="确认停用" danger placeholder="例如：调离本院"
          onSubmit=${async (reason) => {
            const u = await post('/admin/users/' + encodeURIComponent(deactivating.id) + '/deactivate', { reason });
            setDeactivating(null);
            setDone('已停用 ' + (u.username || deactivating.username) + '。');
            page.reload();
          }} onCancel=${() => setDeactivating(null)} />` : null}
    <//>
    <${Dialog} open=${!!resetting} title="重置密码" id="reset-dialog" onClose=${() => setResetting(null)}>
      ${resetting ? html`<${Confirm} text=${'为 ' + resetting.display_name + '（' + resetting.username + '）生成一次性密码？原密码立即失效；对方用一次性密码登录后必须设置新密码。'}
        label="生成一次性密码" onConfirm=${doReset} onCancel=${() => setResetting(null)} />` : null}
    <//>
    <${Dialog} open=${!!otp} title="一次性密码" id="otp-dialog" onClose=${() => setOtp(null)}>
      ${otp ? html`
        <p>${otp.user.display_name}（${otp.user.username}）的一次性密码：</p>
        <p class="otp mono" id="one-time-password">${otp.password}</p>
        <p class="muted">只显示这一次。请当面或电话告知本人；登录后系统会要求立即设置新密码。</p>
        <div class="buttons"><button type="button" class="primary" id="otp-close" onClick=${() => setOtp(null)}>我已记下，关闭</button></div>` : null}
    <//>
    <${Dialog} open=${creating} title="新建用户" id="create-user-dialog" onClose=${() => setCreating(false)}>
      ${creating ? html`<${CreateUser} me=${me} teams=${teams} onDone=${(u) => { setCreating(false); setDone('已新建用户 ' + u.username + '。'); page.reload(); }} onCancel=${() => setCreating(false)} />` : null}
    <//>`;
}

/**
 * Yes or no, with the error of the action shown in place.
 * @param {{text: string, label: string, onConfirm: () => Promise<void>, onCancel: () => void}} props
 */
function Confirm({ text, label, onConfirm, onCancel }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  return html`
    <p>${text}</p>
    <${ErrorNote} error=${error} />
    <div class="buttons">
      <button type="button" class="primary" id="confirm-yes" disabled=${busy}
        onClick=${async () => { setBusy(true); setError(null); try { await onConfirm(); } catch (e) { setError(e); } finally { setBusy(false); } }}>${busy ? '正在提交…' : label}</button>
      <button type="button" onClick=${onCancel}>取消</button>
    </div>`;
}

function EditUser({ user, teams, me, onDone, onCancel }) {
  const [f, setF] = useState({ display_name: user.display_name, role: user.role, team_id: user.team_id || '', region_code: user.team_id ? '' : user.region_code });
  const townships = useAsync(() => childrenOf(me.region_code), [me.region_code]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const teamRole = f.role === 'doctor' || f.role === 'team_lead';
  const submit = async (ev) => {
    ev.preventDefault();
    const body = {};
    if (f.display_name.trim() !== user.display_name) body.display_name = f.display_name.trim();
    if (f.role !== user.role) body.role = f.role;
    if (teamRole && f.team_id !== (user.team_id || '')) body.team_id = f.team_id;
    if (f.role === 'admin' && user.region_code !== me.region_code) body.region_code = me.region_code;
    if (f.role === 'supervisor' && f.region_code && f.region_code !== user.region_code) body.region_code = f.region_code;
    if (!Object.keys(body).length) { onCancel(); return; }
    setBusy(true);
    setError(null);
    try { onDone(await patch('/admin/users/' + encodeURIComponent(user.id), body)); } catch (e) { setError(e); } finally { setBusy(false); }
  };
  return html`
    <form id="edit-user-form" class="stack" onSubmit=${submit}>
      <p class="muted">用户名 ${user.username}</p>
      <${Field} label="姓名"><input name="display_name" required value=${f.display_name} onInput=${(e) => setF({ ...f, display_name: e.currentTarget.value })} /><//>
      <${Field} label="角色">
        <select name="role" value=${f.role} onChange=${(e) => setF({ ...f, role: e.currentTarget.value })}>
          ${Object.entries(ROLES).map(([k, v]) => html`<option value=${k}>${v}</option>`)}
        </select><//>
      ${teamRole ? html`<${Field} label="团队">
        <select name="team_id" value=${f.team_id} onChange=${(e) => setF({ ...f, team_id: e.currentTarget.value })}>
          <option value="">（请选择）</option>${teams.map((t) => html`<option value=${t.id}>${teamName(t.id)}</option>`)}
        </select><//>` : f.role === 'supervisor' ? html`<${Field} label="乡镇">
        <select name="region_code" value=${f.region_code} onChange=${(e) => setF({ ...f, region_code: e.currentTarget.value })}>
          <option value="">（请选择）</option>${(townships.data || []).map((t) => html`<option value=${t.code}>${t.name}</option>`)}
        </select><//>` : null}
      <${ErrorNote} error=${error} />
      <div class="buttons"><button type="submit" class="primary" disabled=${busy}>保存</button><button type="button" onClick=${onCancel}>取消</button></div>
    </form>`;
}

function CreateUser({ me, teams, onDone, onCancel }) {
  const [f, setF] = useState({ username: '', display_name: '', role: 'doctor', team_code: '', region_code: '', password: '' });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const townships = useAsync(() => childrenOf(me.region_code), [me.region_code]);
  const teamRole = f.role === 'doctor' || f.role === 'team_lead';
  const submit = async (ev) => {
    ev.preventDefault();
    const body = { username: f.username.trim(), display_name: f.display_name.trim(), role: f.role, password: f.password };
    if (teamRole) body.team_code = f.team_code;
    else body.region_code = f.role === 'admin' ? me.region_code : f.region_code;
    setBusy(true);
    setError(null);
    try { onDone(await post('/admin/users', body)); ensure(['users'], true); } catch (e) { setError(e); } finally { setBusy(false); }
  };
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  return html`
    <form id="create-user-form" class="stack" onSubmit=${submit}>
      <${Field} label="用户名" hint="3–32 个小写字母、数字和 _ . -"><input name="username" required value=${f.username} onInput=${set('username')} autocomplete="off" /><//>
      <${Field} label="姓名"><input name="display_name" required value=${f.display_name} onInput=${set('display_name')} /><//>
      <${Field} label="角色">
        <select name="role" value=${f.role} onChange=${set('role')}>${Object.entries(ROLES).map(([k, v]) => html`<option value=${k}>${v}</option>`)}</select><//>
      ${teamRole ? html`<${Field} label="团队">
        <select name="team_code" required value=${f.team_code} onChange=${set('team_code')}>
          <option value="">（请选择）</option>${teams.filter((t) => t.code).map((t) => html`<option value=${t.code}>${teamName(t.id)}</option>`)}
        </select><//>` : f.role === 'supervisor' ? html`<${Field} label="乡镇">
        <select name="region_code" required value=${f.region_code} onChange=${set('region_code')}>
          <option value="">（请选择）</option>${(townships.data || []).map((t) => html`<option value=${t.code}>${t.name}</option>`)}
        </select><//>` : null}
      <${Field} label="初始密码" hint="至少 10 个字符，不能与用户名相同"><input name="password" type="password" required minlength="10" autocomplete="new-password" value=${f.password} onInput=${set('password')} /><//>
      <${ErrorNote} error=${error} />
      <div class="buttons"><button type="submit" class="primary" disabled=${busy}>新建</button><button type="button" onClick=${onCancel}>取消</button></div>
    </form>`;
}

function Teams({ me, admin }) {
  const list = useAsync(() => get('/admin/teams'), []);
  const [moving, setMoving] = useState(/** @type {any} */ (null));
  const [creating, setCreating] = useState(false);
  const [done, setDone] = useState('');
  const teams = list.data ? list.data.items || [] : [];
  return html`
    ${admin ? html`<div class="filters"><button type="button" class="primary" id="team-new" onClick=${() => { setDone(''); setCreating(true); }}>新建团队</button></div>` : null}
    ${done ? html`<p class="notice ok" role="status" id="team-done">${done}</p>` : null}
    <${ErrorNote} error=${list.error} />
    ${list.loading && !list.data ? html`<${Loading} />` : null}
    ${list.data && !teams.length ? html`<${Empty} text="还没有团队。" />` : null}
    ${teams.length ? html`
      <div class="table-wrap">
        <table class="grid rows" id="team-table">
          <thead><tr><th scope="col">编码</th><th scope="col">团队名称</th><th scope="col">乡镇</th><th scope="col">服务的村（社区）</th><th scope="col" class="num">成员</th></tr></thead>
          <tbody>
            ${teams.map((t) => html`
              <tr data-team-id=${t.id}>
                <td class="mono">${t.code}</td>
                <td>${t.name}</td>
                <td>${regionName(t.township_code)}</td>
                <td class="villages">${(t.villages || []).map((v) => html`
                  <span class="village" data-village=${v}>${regionName(v)}${admin ? html` <button type="button" class="link small" data-action="move" aria-label=${'把 ' + regionName(v) + ' 调整到其他团队'}
                    onClick=${() => { setDone(''); setMoving({ village: v, from: t }); }}>调整</button>` : null}</span>`)}</td>
                <td class="num"><a href=${href('staff', null, { team_id: t.id })} title="查看成员">${num(t.member_count)}</a></td>
              </tr>`)}
          </tbody>
        </table>
      </div>` : null}
    <${Dialog} open=${!!moving} title="调整村（社区）的负责团队" id="move-dialog" onClose=${() => setMoving(null)}>
      ${moving ? html`<${MoveVillage} moving=${moving} teams=${teams} onDone=${(out) => {
        setMoving(null);
        const from = (Array.isArray(out.from) ? out.from : [out.from]).filter(Boolean).map((t) => t.name).join('、') || moving.from.name;
        setDone(regionName(moving.village) + ' 已由 ' + from + ' 调整到 ' + ((out.to && out.to.name) || '') + '；两个团队的平板下次同步时更新。');
        list.reload();
        ensure(['teams'], true);
      }} onCancel=${() => setMoving(null)} />` : null}
    <//>
    <${Dialog} open=${creating} title="新建团队" id="create-team-dialog" onClose=${() => setCreating(false)}>
      ${creating ? html`<${CreateTeam} me=${me} onDone=${(t) => { setCreating(false); setDone('已新建团队 ' + t.name + '。'); list.reload(); ensure(['teams'], true); }} onCancel=${() => setCreating(false)} />` : null}
    <//>`;
}

function MoveVillage({ moving, teams, onDone, onCancel }) {
  const others = teams.filter((t) => t.id !== moving.from.id && t.township_code === moving.from.township_code);
  const [to, setTo] = useState(others[0] ? others[0].id : '');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try { onDone(await post('/admin/villages/' + moving.village + '/move', { team_id: to })); } catch (e) { setError(e); } finally { setBusy(false); }
  };
  return html`
    <form id="move-form" class="stack" onSubmit=${submit}>
      <p>把 <b>${regionName(moving.village)}</b> 从 ${moving.from.name} 调整到：</p>
      <${Field} label="新的负责团队">
        <select name="team_id" value=${to} onChange=${(e) => setTo(e.currentTarget.value)}>
          ${others.map((t) => html`<option value=${t.id}>${t.name}（${t.code}）</option>`)}
        </select><//>
      <p class="muted">该村的居民、签约、随访和调查随村转到新团队；原团队的平板下次同步时移除它们。</p>
      <${ErrorNote} error=${error} />
      <div class="buttons"><button type="submit" class="primary" disabled=${busy || !to}>确认调整</button><button type="button" onClick=${onCancel}>取消</button></div>
    </form>`;
}

function CreateTeam({ me, onDone, onCancel }) {
  const townships = useAsync(() => (me.region_code.endsWith('000000') ? childrenOf(me.region_code) : Promise.resolve([])), [me.region_code]);
  const [f, setF] = useState({ code: '', name: '', township_code: '', villages: /** @type {string[]} */ ([]) });
  const villages = useAsync(() => (f.township_code ? childrenOf(f.township_code) : Promise.resolve([])), [f.township_code]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onDone(await post('/admin/teams', { code: f.code.trim(), name: f.name.trim(), township_code: f.township_code, village_codes: f.villages }));
    } catch (e) { setError(e); } finally { setBusy(false); }
  };
  const toggle = (code) => setF({ ...f, villages: f.villages.includes(code) ? f.villages.filter((v) => v !== code) : [...f.villages, code] });
  return html`
    <form id="create-team-form" class="stack" onSubmit=${submit}>
      <${Field} label="团队编码" hint="2–32 个字母、数字和 - _"><input name="code" required value=${f.code} onInput=${(e) => setF({ ...f, code: e.currentTarget.value })} /><//>
      <${Field} label="团队名称"><input name="name" required value=${f.name} onInput=${(e) => setF({ ...f, name: e.currentTarget.value })} /><//>
      <${Field} label="乡镇">
        <select name="township_code" required value=${f.township_code} onChange=${(e) => setF({ ...f, township_code: e.currentTarget.value, villages: [] })}>
          <option value="">（请选择）</option>${(townships.data || []).map((t) => html`<option value=${t.code}>${t.name}</option>`)}
        </select><//>
      ${f.township_code ? html`<fieldset class="checks"><legend>服务的村（社区）</legend>
        ${(villages.data || []).map((v) => html`<label><input type="checkbox" checked=${f.villages.includes(v.code)} onChange=${() => toggle(v.code)} /> ${v.name}</label>`)}
      </fieldset>` : null}
      <${ErrorNote} error=${error} />
      <div class="buttons"><button type="submit" class="primary" disabled=${busy}>新建</button><button type="button" onClick=${onCancel}>取消</button></div>
    </form>`;
}
