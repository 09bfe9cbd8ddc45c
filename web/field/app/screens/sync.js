// 同步: what waits to go up, what the server refused and what it kept for a supervisor,
// with what the doctor should do about each; the last sync time; the sync button.

import { html, useEffect, useState } from '../html.js';
import { Frame, Empty } from '../ui.js';
import { LoginForm } from './login.js';
import { ERROR_ADVICE, VISIT_KINDS, TAGS } from '../labels.js';
import { shortTime } from '../dates.js';
import { href } from '../routes.js';
import { logout, sync, syncDetails, dismiss } from '../actions.js';

const ENTITY = { resident: '居民档案', contract: '签约协议', visit: '服务记录', survey: '满意度调查', not_signed: '未签约登记', referral: '转诊' };
const ACTION = { create: '新建', update: '修改', transition: '变更状态', amend: '更正', delete: '删除' };

/** What the op was about, in words: "新建 服务记录 · 王秀英 · 高血压随访". */
function opWords(op, data) {
  const d = op.data || {};
  const rid = op.entity === 'resident' ? op.id : d.resident_id;
  const r = data && rid ? data.residentById.get(rid) : null;
  const who = r ? r.name : op.entity === 'resident' && d.name ? d.name : '';
  const extra = op.entity === 'visit' && d.kind ? VISIT_KINDS[d.kind] || d.kind : '';
  return { text: [(ACTION[op.action] || op.action) + ' ' + (ENTITY[op.entity] || op.entity), who, extra].filter(Boolean).join(' · '), residentId: rid };
}

const FIELD = { phone: '电话', household_id: '户号', tags: '重点人群', name: '姓名', village_code: '村（社区）', birth_date: '出生日期', sex: '性别' };

/** What a resident edit changed, in words: "电话 139…；重点人群 高血压". */
function changeWords(op) {
  if (op.entity !== 'resident' || op.action !== 'update') return '';
  return Object.entries(op.data || {}).filter(([k]) => k !== 'id_number').map(([k, v]) =>
    (FIELD[k] || k) + ' ' + (Array.isArray(v) ? v.map((t) => TAGS[t] || t).join('、') || '（无）' : v === null || v === '' ? '（空）' : String(v))).join('；');
}

/** @param {{state: import('../state.js').AppState}} props */
export function SyncScreen({ state }) {
  const [details, setDetails] = useState({ pending: [], rejected: [], conflicts: [] });
  const c = state.counts;
  useEffect(() => {
    let live = true;
    syncDetails().then((d) => { if (live) setDetails(d); }).catch((e) => console.error(e));
    return () => { live = false; };
  }, [state.counts, state.syncing]);

  const last = c.lastSyncAt ? shortTime(c.lastSyncAt) : '从未同步';
  return html`
    <${Frame} title="同步" route="sync" state=${state}>
      ${state.needLogin ? html`<${LoginForm} state=${state} relogin=${true} />` : null}
      <div class="stats">
        <div class="stat"><b id="count-pending" data-count=${String(c.pending || 0)}>${c.pending || 0}</b>待上传</div>
        <div class=${'stat' + (c.rejected ? ' bad' : '')}><b id="count-rejected" data-count=${String(c.rejected || 0)}>${c.rejected || 0}</b>被退回</div>
        <div class=${'stat' + (c.conflicts ? ' amber' : '')}><b id="count-conflicts" data-count=${String(c.conflicts || 0)}>${c.conflicts || 0}</b>冲突待审核</div>
      </div>
      <p id="last-sync" data-at=${String(c.lastSyncAt || '')}>上次同步：${last}${state.lastSync ? '（上传 ' + (state.lastSync.pushed || 0) + ' 条，下载 ' + (state.lastSync.pulled || 0) + ' 条）' : ''}</p>
      <button class="btn primary block" id="sync-now" type="button" disabled=${state.syncing || !state.online || state.needLogin}
        onClick=${() => sync()}>${state.syncing ? (state.syncStep || '正在同步…') : state.online ? '立即同步' : '离线：有网络后才能同步'}</button>
      ${state.lastError ? html`<p class="error" id="sync-error" role="alert" data-code=${state.lastError.code}>${state.lastError.message}</p>` : null}

      <h2>待上传 <span class="muted">${c.pending || 0} 条</span></h2>
      <p class="muted">保存在平板上、还没传到服务器的记录。有网络时点“立即同步”。平板关机、没电都不会丢；但请不要清除浏览器数据或卸载本应用。</p>
      ${details.pending.length ? html`<ul class="rows" id="pending-list">
        ${details.pending.map((e) => {
          const op = e;
          const w = opWords(op, state.data);
          return html`<li data-id=${op.id} data-op-id=${op.op_id}><div class="row">
            <div class="row-title">${w.text}</div><div class="row-line muted">记录于 ${shortTime(op.recorded_at)}</div></div></li>`;
        })}</ul>` : null}

      <h2>被退回 <span class="muted">${c.rejected || 0} 条</span></h2>
      <p class="muted">服务器不接受的记录：原记录已交乡镇督导留存。不要重复上传，请按提示改正后重新录入一条新的记录。</p>
      ${details.rejected.length ? html`<ul class="rows" id="rejected-list">
        ${details.rejected.map((x) => {
          const w = opWords(x.op || {}, state.data);
          return html`<li data-id=${(x.op || {}).id} data-op-id=${x.op_id} data-code=${x.code}><div class="row">
            <div class="row-title">${w.text}</div>
            <div class="row-line error">${ERROR_ADVICE[x.code] || '服务器退回：' + (x.message || x.code)}</div>
            <div class="row-line muted">原因代码 ${x.code}${x.field ? '（' + x.field + '）' : ''} · ${shortTime(x.at)}</div>
            <div class="actions">
              ${w.residentId && state.data && state.data.residentById.get(w.residentId)
                ? html`<a class="btn" href=${href('resident', w.residentId)}>打开居民，重新录入</a>` : null}
              <button class="btn" type="button" data-dismiss=${x.op_id} onClick=${() => dismiss('rejected', x.op_id)}>已处理，移出列表</button>
            </div></div></li>`;
        })}</ul>` : c.rejected ? null : html`<${Empty} text="没有。" />`}

      <h2>冲突待审核 <span class="muted">${c.conflicts || 0} 条</span></h2>
      <p class="muted">记录已上传，但和另一台平板的修改不一致（例如两台平板改了同一居民的同一项）。服务器已按时间较晚的修改保存，另一方的内容交乡镇督导审核；督导决定后，结果会在下次同步时自动更新到平板上，您不需要做什么。</p>
      ${details.conflicts.length ? html`<ul class="rows" id="conflict-list">
        ${details.conflicts.map((x) => {
          const w = opWords(x.op || {}, state.data);
          const changed = changeWords(x.op || {});
          return html`<li data-id=${(x.op || {}).id} data-op-id=${x.op_id} data-conflict-id=${x.conflict_id || ''}><div class="row">
            <div class="row-title">${w.text}</div>
            ${changed ? html`<div class="row-line">本机的修改：${changed}</div>` : null}
            <div class="row-line muted">上传于 ${shortTime(x.at)} · 督导审核后，结果随同步更新到居民档案上</div>
            <div class="actions">
              ${w.residentId && state.data && state.data.residentById.get(w.residentId)
                ? html`<a class="btn" href=${href('resident', w.residentId)}>查看居民现在的档案</a>` : null}
              <button class="btn" type="button" data-dismiss=${x.op_id} onClick=${() => dismiss('conflicts', x.op_id)}>知道了，移出列表</button>
            </div></div></li>`;
        })}</ul>` : c.conflicts ? null : html`<${Empty} text="没有。" />`}

      <h2>账号</h2>
      <p>${state.user ? (state.user.username || '') + (state.user.team_id ? ' · 家医团队成员' : '') : ''}</p>
      <button class="btn danger" type="button" id="logout" onClick=${() => { if (confirm('退出登录？平板上未上传的记录会保留，下次登录后继续上传。')) logout(); }}>退出登录</button>
    <//>`;
}
