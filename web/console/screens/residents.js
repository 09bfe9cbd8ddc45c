// 居民档案: find a resident by name, household id, or the last digits of the ID number or
// the phone, and read one resident's whole record — contracts with their history,
// service visits with their corrections, surveys, referrals, and who read or changed it (the audit
// log). ID numbers and phones come masked from the API and are shown as they come; every
// read of a record is itself audited (`resident_viewed`).

import { html, useState } from '../html.js';
import { get } from '../api.js';
import { go, href } from '../routes.js';
import { date, dateTime, num, shortId, plain } from '../format.js';
import { SEX, TAGS, CONTRACT_STATUS, PACKAGES, VISIT_KINDS, MEASUREMENTS, END_REASONS, AUDIT_ACTIONS, REFERRAL_DIRECTIONS, REFERRAL_STATUS, REFERRAL_REASONS } from '../labels.js';
import { useDirectory, regionName, teamName, userName, allUsers, childrenOf } from '../directory.js';
import { Page, ErrorNote, Loading, Empty, useAsync, usePages, Pager, Field, KV, Chip } from '../ui.js';
import { detailText } from './audit.js';

/**
 * Age in whole years on a day.
 * @param {string} birth `YYYY-MM-DD`
 * @returns {number|null}
 */
export function age(birth) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(birth || '')) return null;
  const today = new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
  let a = Number(today.slice(0, 4)) - Number(birth.slice(0, 4));
  if (today.slice(5) < birth.slice(5)) a--;
  return a;
}

function measurementText(m) {
  const order = Object.keys(MEASUREMENTS);
  const rank = (k) => (order.includes(k) ? order.indexOf(k) : order.length);
  return Object.entries(m || {}).sort((a, b) => rank(a[0]) - rank(b[0]))
    .map(([k, x]) => (MEASUREMENTS[k] || k) + ' ' + x).join('；') || '—';
}

/** A contract history's `by`: a user id or a user name. */
function personOf(by) {
  const u = allUsers().find((x) => x.id === by || x.username === by);
  return u ? userName(u.id) : by;
}

function tagText(tags) {
  return (tags || []).length ? tags.map((t) => TAGS[t] || t).join('、') : '—';
}

/**
 * The resident search.
 * @param {{route: import('../routes.js').Route, me: any}} props
 */
export function ResidentsScreen({ route, me }) {
  useDirectory(['regions']);
  const q = route.query;
  const filters = { q: q.q || '', village: q.village || '' };
  const key = filters.q + '|' + filters.village;
  const [text, setText] = useState(filters.q);
  const pages = usePages(key);
  const searching = !!(filters.q || filters.village);
  const page = useAsync(() => (searching ? get('/residents', { ...filters, limit: 50, cursor: pages.cursor }).then((p) => ({ ...p, key })) : Promise.resolve(null)), [key, pages.cursor]);
  const villages = useAsync(() => villagesOf(me), [me.region_code]);
  const items = page.data ? page.data.items || [] : [];
  const next = page.data ? page.data.cursor || page.data.next_cursor : null;
  return html`
    <${Page} title="居民档案" id="residents" sub="按姓名、户号、完整身份证号或完整电话号码查找（本团队的医生还可按电话末几位查找）。身份证号和电话按规定遮盖显示；每次查看档案都记入审计日志。">
      <form class="filters" id="resident-filters" onSubmit=${(e) => { e.preventDefault(); go('residents', null, { ...filters, q: text.trim() }); }}>
        <${Field} label="查找"><input id="resident-search" type="search" value=${text} size="24" placeholder="姓名、户号、完整身份证号或电话"
          onInput=${(e) => setText(e.currentTarget.value)} /><//>
        <${Field} label="村（社区）">
          <select id="resident-village" value=${filters.village} onChange=${(e) => go('residents', null, { ...filters, q: text.trim(), village: e.currentTarget.value })}>
            <option value="">全部</option>
            ${(villages.data || []).map((v) => html`<option value=${v.code}>${v.label}</option>`)}
          </select><//>
        <button type="submit" class="primary" id="resident-search-button">查找</button>
      </form>
      <${ErrorNote} error=${page.error} />
      ${!searching ? html`<${Empty} text="输入查找条件，或选择一个村（社区）。" />` : null}
      ${searching && page.loading && !page.data ? html`<${Loading} />` : null}
      ${page.data && !items.length ? html`<${Empty} id="resident-none" text="没有找到符合条件的居民。" />` : null}
      ${items.length ? html`
        <div class="table-wrap">
          <table class="grid rows" id="resident-table" data-query=${page.data.key}>
            <thead><tr>
              <th scope="col">姓名</th><th scope="col">性别</th><th scope="col">出生日期</th><th scope="col">身份证号</th>
              <th scope="col">电话</th><th scope="col">村（社区）</th><th scope="col">户号</th><th scope="col">重点人群</th>
            </tr></thead>
            <tbody>
              ${items.map((r) => html`
                <tr data-resident-id=${r.id} onClick=${(e) => { if (!(e.target instanceof HTMLAnchorElement)) go('resident', r.id); }}>
                  <td><a href=${href('resident', r.id)}>${r.name}</a>${r.merged_into ? html` <${Chip} text="已合并" tone="amber" />` : null}</td>
                  <td>${SEX[r.sex] || r.sex}</td>
                  <td class="nowrap">${date(r.birth_date)}${age(r.birth_date) !== null ? '（' + age(r.birth_date) + '岁）' : ''}</td>
                  <td class="mono" data-field="id_number">${r.id_number_masked}</td>
                  <td class="mono" data-field="phone">${r.phone || '—'}</td>
                  <td>${regionName(r.village_code)}</td>
                  <td>${r.household_id || '—'}</td>
                  <td>${tagText(r.tags)}</td>
                </tr>`)}
            </tbody>
          </table>
        </div>` : null}
      <${Pager} hasPrev=${pages.depth > 0} hasNext=${!!next} info=${page.data ? '第 ' + (pages.depth + 1) + ' 页，本页 ' + num(items.length) + ' 人' : ''}
        onPrev=${pages.pop} onNext=${() => pages.push(next)} />
    <//>`;
}

async function villagesOf(me) {
  const root = me.region_code;
  const kids = await childrenOf(root);
  if (!root.endsWith('000000')) return kids.map((k) => ({ code: k.code, label: k.name }));
  const out = [];
  for (const t of kids) {
    const vs = await childrenOf(t.code).catch(() => []);
    for (const v of vs) out.push({ code: v.code, label: t.name + ' · ' + v.name });
  }
  return out;
}

/**
 * One resident's record.
 * @param {{id: string, me: any}} props
 */
export function ResidentScreen({ id }) {
  useDirectory(['regions', 'teams', 'users', 'devices']);
  const rec = useAsync(() => get('/residents/' + encodeURIComponent(id) + '/record'), [id]);
  const back = html`<a href="#/residents" id="back-to-residents">← 返回查找</a>`;
  if (rec.error) {
    return html`<${Page} title="居民档案" id="resident" actions=${back}>
      ${rec.error.status === 404
        ? html`<p class="error" role="alert" id="resident-not-found">未找到该居民：档案不存在，或不在您的管辖范围内。</p>`
        : html`<${ErrorNote} error=${rec.error} />`}<//>`;
  }
  if (!rec.data) return html`<${Page} title="居民档案" id="resident" actions=${back}><${Loading} /><//>`;
  const { resident: r, audit = [] } = rec.data;
  // Each contract comes with its history, each visit and survey with its corrections: as
  // `{ contract | record, history | amendments }`, or flat with those lists inside.
  const contracts = (rec.data.contracts || []).map((x) => ({ ...(x.contract || x), history: x.history || (x.contract || x).history || [] }));
  const visits = (rec.data.visits || []).map((x) => ({ ...(x.record || x), amendments: (x.amendments || (x.record || x).amendments || []).map((a) => a.record || a) }));
  const surveys = (rec.data.surveys || []).map((x) => ({ ...(x.record || x), amendments: (x.amendments || (x.record || x).amendments || []).map((a) => a.record || a) }));
  // A corrected referral reads as its newest correction, which carries the state.
  const referrals = (rec.data.referrals || []).map((x) => {
    const fixes = (x.amendments || []).map((a) => a.record || a);
    return { ...(fixes.length ? fixes[fixes.length - 1] : x.record || x), corrections: fixes.length };
  });
  const reasonOf = (f) => [REFERRAL_REASONS[f.reason_code] || f.reason_code, f.reason_text].filter(Boolean).join('：') || '—';
  return html`
    <${Page} title=${r.name + ' 的健康档案'} id="resident" actions=${back}>
      <div class="record" data-resident-id=${r.id}>
        ${r.merged_into ? html`<p class="notice warn">该档案已合并到 <a href=${href('resident', r.merged_into)}>${shortId(r.merged_into)}</a>。</p>` : null}
        <${KV} id="resident-facts" rows=${[
          ['姓名', r.name],
          ['性别', SEX[r.sex] || r.sex],
          ['出生日期', date(r.birth_date) + (age(r.birth_date) !== null ? '（' + age(r.birth_date) + '岁）' : '')],
          ['身份证号', html`<span class="mono" id="resident-id-number">${r.id_number_masked}</span>`],
          ['电话', html`<span class="mono" id="resident-phone">${r.phone || '—'}</span>`],
          ['村（社区）', regionName(r.village_code) + '（' + r.village_code + '）'],
          ['户号', r.household_id || '—'],
          ['重点人群', tagText(r.tags)],
          ['登记日期', date(r.registered_on)],
          ['档案版本', '第 ' + r.version + ' 版'],
        ]} />
        <section id="resident-contracts">
          <h3>签约协议（${contracts.length}）</h3>
          ${contracts.length ? contracts.map((c) => html`
            <div class="block" data-contract-id=${c.id}>
              <p><b>${CONTRACT_STATUS[c.status] || c.status}</b> · ${teamName(c.team_id)} · ${date(c.effective_from)} 至 ${date(c.effective_to)}
                ${c.end_reason ? ' · 解约原因：' + (END_REASONS[c.end_reason] || c.end_reason) : ''}</p>
              <p class="muted">服务包：${(c.packages || []).map((p) => PACKAGES[p] || p).join('、') || '—'}；签约时间 ${dateTime(c.signed_at)}；签约医生 ${c.doctor_id ? userName(c.doctor_id) : '—'}</p>
              ${(c.history || []).length ? html`
                <table class="grid small"><thead><tr><th scope="col">状态变化</th><th scope="col">时间</th><th scope="col">操作人</th></tr></thead>
                  <tbody>${c.history.map((h) => html`<tr><td>${h.from ? (CONTRACT_STATUS[h.from] || h.from) + ' → ' : ''}${CONTRACT_STATUS[h.status] || h.status}</td><td>${dateTime(h.clinical_at || h.at)}</td><td>${h.by ? personOf(h.by) : '—'}</td></tr>`)}</tbody></table>` : null}
            </div>`) : html`<${Empty} text="没有签约协议。" />`}
        </section>
        <section id="resident-visits">
          <h3>服务记录（${visits.length}）</h3>
          ${visits.length ? html`
            <div class="table-wrap"><table class="grid">
              <thead><tr><th scope="col">时间</th><th scope="col">类型</th><th scope="col">测量值</th><th scope="col">备注</th><th scope="col">更正</th></tr></thead>
              <tbody>${visits.map((v) => html`
                <tr data-visit-id=${v.id}>
                  <td class="nowrap">${dateTime(v.occurred_at)}</td>
                  <td>${VISIT_KINDS[v.kind] || v.kind}</td>
                  <td>${measurementText(v.measurements)}</td>
                  <td>${v.notes || '—'}</td>
                  <td>${v.amendments.length ? v.amendments.map((a) => '更正为：' + measurementText(a.measurements) + (a.notes ? '（' + a.notes + '）' : '')).join(' / ') : '—'}</td>
                </tr>`)}</tbody>
            </table></div>` : html`<${Empty} text="没有服务记录。" />`}
        </section>
        <section id="resident-surveys">
          <h3>满意度调查（${surveys.length}）</h3>
          ${surveys.length ? html`<ul class="plain">${surveys.map((s) => html`<li data-survey-id=${s.id}>${dateTime(s.answered_at)} · 问卷 ${s.questionnaire} 第 ${s.questionnaire_version} 版 · ${Object.keys(s.answers || {}).length} 题已答${s.amendments.length ? '（已更正 ' + s.amendments.length + ' 次）' : ''}</li>`)}</ul>`
            : html`<${Empty} text="没有满意度调查。" />`}
        </section>
        <section id="resident-referrals">
          <h3>双向转诊（${referrals.length}）</h3>
          ${referrals.length ? html`
            <div class="table-wrap"><table class="grid">
              <thead><tr><th scope="col">转诊时间</th><th scope="col">方向</th><th scope="col">医疗机构</th><th scope="col">原因</th><th scope="col">状态</th><th scope="col">接收 / 结束</th></tr></thead>
              <tbody>${referrals.map((f) => html`
                <tr data-referral-id=${f.id} data-status=${f.status}>
                  <td class="nowrap">${dateTime(f.referred_at)}</td>
                  <td>${REFERRAL_DIRECTIONS[f.direction] || f.direction}</td>
                  <td>${f.facility ? f.facility.name : '—'}</td>
                  <td>${reasonOf(f)}${f.corrections ? '（已更正 ' + f.corrections + ' 次）' : ''}</td>
                  <td>${REFERRAL_STATUS[f.status] || f.status}</td>
                  <td class="nowrap">${f.received_at ? '接收 ' + dateTime(f.received_at) : '—'}${f.ended_at ? ' · ' + dateTime(f.ended_at) : ''}${f.summary ? html`<br /><span class="muted">${f.summary}</span>` : null}</td>
                </tr>`)}</tbody>
            </table></div>` : html`<${Empty} text="没有转诊记录。" />`}
        </section>
        <section id="resident-audit">
          <h3>审计记录（${audit.length}）</h3>
          ${audit.length ? html`
            <div class="table-wrap"><table class="grid">
              <thead><tr><th scope="col">时间</th><th scope="col">操作</th><th scope="col">操作人</th><th scope="col">详情</th></tr></thead>
              <tbody>${audit.map((e) => html`<tr data-audit-id=${e.id} data-action=${e.action}><td class="nowrap">${dateTime(e.at)}</td><td>${AUDIT_ACTIONS[e.action] || e.action}</td><td>${e.user_id ? userName(e.user_id, e.device_id) : '系统'}</td><td class="detail">${detailText(e)}</td></tr>`)}</tbody>
            </table></div>
            <p><a href=${href('audit', null, { entity: 'resident', entity_id: r.id })}>在审计日志中查看全部</a></p>` : html`<${Empty} text="没有审计记录。" />`}
        </section>
      </div>
    <//>`;
}
