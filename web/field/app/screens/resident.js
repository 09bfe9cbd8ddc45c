// 居民详情: one resident's record, contracts, visits, surveys and referrals, and what to do
// next (a referral's later steps are recorded here).

import { html, useState } from '../html.js';
import { Frame, TagChips, PendingChip, Empty } from '../ui.js';
import { href } from '../routes.js';
import { SEX, CONTRACT_STATUS, VISIT_KINDS, REFERRAL_STATUS, REFERRAL_REASONS } from '../labels.js';
import { record, now } from '../actions.js';
import { MEASUREMENTS } from '../measurements.js';
import { ageOn, shortTime, today } from '../dates.js';
import { packageName, villageName } from '../data.js';

/** @param {{state: import('../state.js').AppState, id: string}} props */
export function ResidentScreen({ state, id }) {
  const data = state.data;
  const r = data && data.residentById.get(id);
  if (!data) return html`<${Frame} title="居民" route="resident" back="#/residents" state=${state}><p class="muted">正在读取…</p><//>`;
  if (!r) {
    return html`<${Frame} title="居民" route="resident" back="#/residents" state=${state}>
      <${Empty} text="平板上没有这位居民（可能已迁出本团队的村，或档案已被合并）。" /><//>`;
  }
  if (r.merged_into) {
    return html`<${Frame} title=${r.name} route="resident" back="#/residents" state=${state}>
      <p class="card">这份档案已由督导合并到另一份档案。<a href=${href('resident', r.merged_into)}>打开保留的档案</a></p><//>`;
  }
  const contracts = data.contractsOf(id);
  const visits = data.visitsOf(id);
  const surveys = data.surveysOf(id);
  const referrals = data.referralsOf(id);
  const inEffect = data.contractInEffect(id);
  return html`
    <${Frame} title=${r.name} route="resident" back="#/residents" state=${state}>
      <div class="card" id="resident-card" data-id=${r.id} data-version=${String(r.version ?? '')}>
        <div class="row-title">${r.name} <${PendingChip} rec=${r} /></div>
        <dl class="kv">
          <dt>性别</dt><dd id="resident-sex">${SEX[r.sex] || r.sex}</dd>
          <dt>出生日期</dt><dd>${r.birth_date}（${ageOn(r.birth_date, today())}岁）</dd>
          <dt>身份证号</dt><dd>${r.id_number_masked || '—'}</dd>
          <dt>村（社区）</dt><dd>${villageName(data, r.village_code)}</dd>
          <dt>户号</dt><dd>${r.household_id || '—'}</dd>
          <dt>电话</dt><dd id="resident-phone">${r.phone || '—'}</dd>
          <dt>建档日期</dt><dd>${r.registered_on || '—'}</dd>
        </dl>
        <${TagChips} resident=${r} />
      </div>
      <div class="actions">
        <a class="btn primary" id="action-sign" href=${href('sign', id)}>${inEffect ? '续约' : '签约'}</a>
        <a class="btn primary" id="action-visit" href=${href('visit', id)}>随访 / 服务记录</a>
        <a class="btn" id="action-survey" href=${href('survey', id)}>满意度调查</a>
        <a class="btn" id="action-referral" href=${href('referral', id)}>转诊</a>
        <a class="btn" id="action-edit" href=${href('edit', id)}>修改档案</a>
      </div>

      <h2>签约服务协议</h2>
      ${contracts.length === 0 ? html`<${Empty} text="还没有签约。" />` : html`
        <ul class="rows" id="contract-list">
          ${contracts.map((c) => html`
            <li data-id=${c.id}><div class="row">
              <div class="row-title">${CONTRACT_STATUS[c.status] || c.status}
                <span class="sub">${c.effective_from} 至 ${c.effective_to || '（一年）'}</span> <${PendingChip} rec=${c} /></div>
              <div class="row-line">${(c.packages || []).map((p) => packageName(data, p)).join('、')}</div>
              <div class="row-line muted">签约时间 ${shortTime(c.signed_at)}${c.signature_sha256 ? ' · 有居民签名' : ''}${c.ended_on ? ' · 终止于 ' + c.ended_on : ''}</div>
            </div></li>`)}
        </ul>`}

      <h2>服务记录</h2>
      ${visits.length === 0 ? html`<${Empty} text="还没有服务记录。" />` : html`
        <ul class="rows" id="visit-list">
          ${visits.slice(0, 30).map((v) => html`
            <li data-id=${v.id}><div class="row">
              <div class="row-title">${VISIT_KINDS[v.kind] || v.kind} <span class="sub">${shortTime(v.occurred_at)}</span> <${PendingChip} rec=${v} /></div>
              <div class="row-line">${MEASUREMENTS.filter((m) => v.measurements && v.measurements[m.key] != null)
                .map((m) => m.label + ' ' + v.measurements[m.key] + ' ' + m.unit).join('，') || '—'}</div>
              ${v.notes ? html`<div class="row-line muted">${v.notes}</div>` : null}
            </div></li>`)}
        </ul>`}

      <h2>双向转诊</h2>
      ${referrals.length === 0 ? html`<${Empty} text="没有转诊记录。" />` : html`
        <ul class="rows" id="referral-list">
          ${referrals.map((f) => html`<${ReferralRow} f=${f} key=${f.id} />`)}
        </ul>`}

      <h2>满意度调查</h2>
      ${surveys.length === 0 ? html`<${Empty} text="还没有调查记录。" />` : html`
        <ul class="rows" id="survey-list">
          ${surveys.map((s) => html`
            <li data-id=${s.id}><div class="row">
              <div class="row-title">${shortTime(s.answered_at)} <span class="sub">问卷 ${s.questionnaire} 第${s.questionnaire_version}版</span> <${PendingChip} rec=${s} /></div>
              <div class="row-line">${answerWords(data, s)}</div>
            </div></li>`)}
        </ul>`}
    <//>`;
}

/** The answers in the words of the version the resident was shown. */
function answerWords(data, s) {
  const q = data.questionnaires.find((x) => x.code === s.questionnaire && x.version === s.questionnaire_version);
  const items = q && q.definition ? q.definition.items : [];
  return Object.entries(s.answers || {}).map(([item, opt]) => {
    const it = items.find((i) => i.code === item);
    const label = it && it.option_texts && it.option_texts[opt] ? it.option_texts[opt] : opt;
    return (it ? it.text.replace(/[？?]$/, '') : item) + '：' + label;
  }).join('；');
}

/** The next steps of a referral in each state (src/domain/referral/transition.rs). */
const STEPS = {
  SENT: [['RECEIVED', '已接收'], ['CANCELLED', '取消转诊']],
  RECEIVED: [['RETURNED', '已转回'], ['CLOSED', '结束']],
};

/** One referral with the buttons for its next steps; a return asks for the summary. */
function ReferralRow({ f }) {
  const [asking, setAsking] = useState(false);
  const [summary, setSummary] = useState('');
  const [error, setError] = useState('');
  const step = async (to) => {
    if (to === 'RETURNED' && !asking) { setAsking(true); return; }
    if (to === 'RETURNED' && !summary.trim()) { setError('请填写医院的转回意见'); return; }
    /** @type {Object} */
    const d = { to, at: now() };
    if (to === 'RETURNED') d.summary = summary.trim();
    try {
      await record('referral', 'transition', f.id, d);
      setAsking(false);
    } catch (e) {
      setError('保存失败：' + ((e && e.message) || e));
    }
  };
  const reason = [REFERRAL_REASONS[f.reason_code] || f.reason_code, f.reason_text].filter(Boolean).join('：');
  return html`
    <li data-id=${f.id} data-status=${f.status}><div class="row">
      <div class="row-title">${f.direction === 'down' ? '下转' : '上转'} · ${(f.facility && f.facility.name) || ''}
        <span class="sub">${shortTime(f.referred_at)} · ${REFERRAL_STATUS[f.status] || f.status}</span> <${PendingChip} rec=${f} /></div>
      ${reason ? html`<div class="row-line">${reason}</div>` : null}
      ${f.summary ? html`<div class="row-line muted">转回意见：${f.summary}</div>` : null}
      ${asking ? html`<textarea class="referral-summary" value=${summary} placeholder="医院的转回意见" onInput=${(e) => setSummary(e.currentTarget.value)}></textarea>` : null}
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
      ${(STEPS[f.status] || []).length ? html`<div class="actions">${STEPS[f.status].map(([to, label]) => html`
        <button class="btn" type="button" data-step=${to} onClick=${() => step(to)}>${label}</button>`)}</div>` : null}
    </div></li>`;
}
