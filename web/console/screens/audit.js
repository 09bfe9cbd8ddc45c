// 审计日志: the audit log in the caller's reach (an administrator the county, a supervisor
// what the staff of their township did), newest first, filtered by what the API filters
// on: the record (entity and id), the acting user or device, and a time window. The
// filters live in the route, so other screens link here (`#/audit?device_id=…`).

import { html, useState, useEffect } from '../html.js';
import { get } from '../api.js';
import { go, href } from '../routes.js';
import { dateTime, localToRfc3339, rfc3339ToLocal, shortId, plain } from '../format.js';
import { AUDIT_ACTIONS, ENTITIES, decisionLabel, KINDS } from '../labels.js';
import { useDirectory, userName, allUsers, deviceOf } from '../directory.js';
import { Page, ErrorNote, Loading, Empty, useAsync, usePages, Pager, Field } from '../ui.js';

const FILTERS = ['entity', 'entity_id', 'user_id', 'device_id', 'from', 'to', 'limit'];
const AUDIT_ENTITIES = ['resident', 'contract', 'visit', 'survey', 'not_signed', 'referral', 'conflict', 'quarantine', 'user', 'device', 'team', 'region', 'blob'];

/**
 * An entry's detail as short text (codes and ids only: the log holds no personal data).
 * @param {any} e an audit entry
 * @returns {string}
 */
export function detailText(e) {
  const d = e.detail;
  if (!d || typeof d !== 'object') return '';
  if (e.action === 'review_decision') {
    return (KINDS[d.kind] || d.kind || '') + '：' + decisionLabel(d.kind, d.decision) + (d.reason ? '，理由：' + d.reason : '')
      + (Array.isArray(d.changed) && d.changed.length ? '，更改 ' + d.changed.length + ' 条记录' : '');
  }
  return Object.entries(d).map(([k, v]) => k + '=' + plain(v)).join('，');
}

/**
 * The audit log screen.
 * @param {{route: import('../routes.js').Route, me: any}} props
 */
export function AuditScreen({ route, me }) {
  useDirectory(['users', 'devices']);
  const q = route.query;
  const applied = Object.fromEntries(FILTERS.map((k) => [k, q[k] || '']));
  const [form, setForm] = useState(applied);
  const key = FILTERS.map((k) => applied[k]).join('|');
  useEffect(() => setForm(applied), [key]);
  const pages = usePages(key);
  const before = pages.cursor;
  const page = useAsync(() => get('/audit', { ...applied, limit: applied.limit || 100, before }).then((p) => ({ ...p, key })), [key, before]);
  const submit = (ev) => {
    ev.preventDefault();
    go('audit', null, form);
  };
  const set = (k) => (ev) => setForm({ ...form, [k]: ev.currentTarget.value });
  const entries = page.data ? page.data.entries : [];
  const users = allUsers();
  return html`
    <${Page} title="审计日志" id="audit"
      sub=${me.role === 'admin' ? '全县的操作记录，最新的在前。记录只可查看，不能修改或删除。' : '本乡镇工作人员的操作记录，最新的在前。记录只可查看，不能修改或删除。'}>
      <form class="filters wrap" id="audit-filters" onSubmit=${submit}>
        <${Field} label="对象类型">
          <select id="audit-entity" value=${form.entity} onChange=${set('entity')}>
            <option value="">全部</option>
            ${AUDIT_ENTITIES.map((k) => html`<option value=${k}>${ENTITIES[k] || k}</option>`)}
          </select><//>
        <${Field} label="对象编号"><input id="audit-entity-id" value=${form.entity_id} onInput=${set('entity_id')} placeholder="记录的 id" size="20" /><//>
        <${Field} label="操作人">
          ${users.length
            ? html`<select id="audit-user" value=${form.user_id} onChange=${set('user_id')}>
                <option value="">全部</option>
                ${form.user_id && !users.some((u) => u.id === form.user_id) ? html`<option value=${form.user_id}>${userName(form.user_id)}</option>` : null}
                ${users.map((u) => html`<option value=${u.id}>${u.display_name ? u.display_name + '（' + u.username + '）' : u.username}</option>`)}
              </select>`
            : html`<input id="audit-user" value=${form.user_id} onInput=${set('user_id')} placeholder="用户 id" size="20" />`}<//>
        <${Field} label="设备"><input id="audit-device" value=${form.device_id} onInput=${set('device_id')} placeholder="设备 id（设备管理页）" size="20" /><//>
        <${Field} label="从（北京时间）"><input id="audit-from" type="datetime-local" value=${rfc3339ToLocal(form.from)}
          onInput=${(e) => setForm({ ...form, from: localToRfc3339(e.currentTarget.value) })} /><//>
        <${Field} label="到（不含）"><input id="audit-to" type="datetime-local" value=${rfc3339ToLocal(form.to)}
          onInput=${(e) => setForm({ ...form, to: localToRfc3339(e.currentTarget.value) })} /><//>
        <${Field} label="每页">
          <select id="audit-limit" value=${form.limit || '100'} onChange=${set('limit')}>
            ${['50', '100', '200', '500'].map((n) => html`<option value=${n}>${n} 条</option>`)}
          </select><//>
        <button type="submit" class="primary" id="audit-apply">筛选</button>
        <a href="#/audit" id="audit-clear">清除条件</a>
      </form>
      <${ErrorNote} error=${page.error} />
      ${page.loading && !page.data ? html`<${Loading} />` : null}
      ${page.data && !entries.length ? html`<${Empty} id="audit-empty" data=${{ filters: page.data.key }} text="没有符合条件的记录。" />` : null}
      ${entries.length ? html`
        <div class="table-wrap">
          <table class="grid rows" id="audit-table" data-filters=${page.data.key}>
            <thead><tr>
              <th scope="col">时间</th><th scope="col">操作</th><th scope="col">对象</th><th scope="col">操作人</th>
              <th scope="col">设备</th><th scope="col">临床时间</th><th scope="col">详情</th>
            </tr></thead>
            <tbody>
              ${entries.map((e) => {
                const d = deviceOf(e.device_id);
                return html`
                <tr data-audit-id=${e.id} data-action=${e.action} data-entity=${e.entity || ''} data-entity-id=${e.entity_id || ''}
                  data-user-id=${e.user_id || ''} data-device-id=${e.device_id || ''} data-at=${e.at}>
                  <td class="nowrap">${dateTime(e.at)}</td>
                  <td>${AUDIT_ACTIONS[e.action] || e.action}</td>
                  <td>${e.entity ? html`${ENTITIES[e.entity] || e.entity} ${e.entity === 'resident' && e.entity_id
                    ? html`<a href=${href('resident', e.entity_id)} title=${e.entity_id}>${shortId(e.entity_id)}</a>`
                    : e.entity_id ? html`<a href=${href('audit', null, { entity: e.entity, entity_id: e.entity_id })} title=${'只看 ' + e.entity_id}>${shortId(e.entity_id)}</a>` : null}` : '—'}</td>
                  <td>${e.user_id ? html`<a href=${href('audit', null, { user_id: e.user_id })} title="只看此人">${userName(e.user_id, e.device_id)}</a>` : '系统'}</td>
                  <td>${e.device_id ? html`<a href=${href('audit', null, { device_id: e.device_id })} title=${e.device_id}>${d ? d.name : shortId(e.device_id)}</a>` : '—'}</td>
                  <td class="nowrap">${e.clinical_at ? dateTime(e.clinical_at) : '—'}</td>
                  <td class="detail">${detailText(e)}</td>
                </tr>`;
              })}
            </tbody>
          </table>
        </div>` : null}
      <${Pager} hasPrev=${pages.depth > 0} hasNext=${!!(page.data && page.data.next_before)}
        info=${page.data ? '第 ' + (pages.depth + 1) + ' 页，本页 ' + entries.length + ' 条' : ''}
        onPrev=${pages.pop} onNext=${() => pages.push(page.data.next_before)} />
    <//>`;
}
