// 今日工作: the team's work list, computed on the tablet (app/worklist.js) from what was
// last synced plus what was recorded since, so it stays right while offline.

import { html, useState } from '../html.js';
import { Frame, Empty } from '../ui.js';
import { href } from '../routes.js';
import { CONDITIONS } from '../labels.js';
import { today } from '../dates.js';

/** Sections in the order of urgency: key, title, chip colour, short name for the overview. */
const SECTIONS = [
  ['followups_overdue', '逾期未随访', 'red', '逾期未随访'],
  ['recalls_due', '需召回（上次未控制）', 'red', '需召回'],
  ['followups_due', '本季度待随访', 'amber', '本季待随访'],
  ['referrals_suggested', '建议转诊', 'red', '建议转诊'],
  ['referral_followups_due', '转回患者待随访（14天内）', 'red', '转回待随访'],
  ['referrals_overdue', '上转未确认接收', 'amber', '上转未接收'],
  ['contracts_expiring', '签约即将到期（30天内）', 'amber', '签约到期'],
  ['elderly_checks_missing', '今年未做老年人体检', 'blue', '老年人体检'],
];

/** Rows drawn per section at first; the rest on request (a cheap tablet draws slowly). */
const FIRST_ROWS = 50;

/** @param {{state: import('../state.js').AppState}} props */
export function TodayScreen({ state }) {
  const data = state.data;
  const day = today();
  const list = data ? data.worklist(day) : null;
  const [all, setAll] = useState({});
  return html`
    <${Frame} title="今日工作" route="today" state=${state}>
      ${!list ? html`<p class="muted">正在读取平板上的资料…</p>` : html`
        <p class="muted" id="worklist-date">${day} · 本季度 ${list.quarter.start} 至 ${list.quarter.end} · 按平板上的资料计算</p>
        ${data.residents.length === 0 ? html`<${Empty} text="平板上还没有居民资料：请联网后到“同步”页同步。" />` : null}
        <div class="overview" id="worklist-overview">
          ${SECTIONS.map(([key, , color, short]) => html`
            <a href=${'#/today'} class=${(list[key].length ? color : 'zero')} data-overview=${key}
              onClick=${(e) => { e.preventDefault(); const el = document.querySelector('[data-section=' + key + ']'); if (el) { el.open = true; el.scrollIntoView(); } }}>
              <b>${list[key].length}</b>${short}</a>`)}
        </div>
        ${SECTIONS.map(([key, title, color]) => {
          const entries = list[key];
          const shown = all[key] ? entries : entries.slice(0, FIRST_ROWS);
          return html`
            <details class="section" open=${entries.length > 0} data-section=${key}>
              <summary>${title}<span class=${'count' + (entries.length ? '' : ' zero')} data-count=${String(entries.length)}>${entries.length}</span></summary>
              ${entries.length === 0 ? html`<${Empty} text="没有" />` : html`
                <ul class="rows">
                  ${shown.map((e) => html`
                    <li data-id=${e.contract_id || e.referral_id || e.resident.id} data-resident-id=${e.resident.id} data-condition=${e.condition || ''}>
                      <a href=${href('resident', e.resident.id)}>
                        <div class="row-title">${e.resident.name}
                          <span class="sub">${e.resident.village_name || e.resident.village_code}</span>
                          ${e.condition ? html` <span class=${'chip ' + color}>${CONDITIONS[e.condition]}</span>` : null}
                          ${e.overdue ? html` <span class="chip red">已逾期</span>` : null}</div>
                        <div class="row-line">${e.reason}</div>
                      </a>
                    </li>`)}
                </ul>
                ${shown.length < entries.length ? html`
                  <button class="btn block" type="button" onClick=${() => setAll({ ...all, [key]: true })}>显示全部 ${entries.length} 条</button>` : null}`}
            </details>`;
        })}`}
    <//>`;
}
