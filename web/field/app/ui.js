// Pieces every screen uses: the frame (top bar, offline banner, bottom tabs), form fields
// and the resident's one-line summary.

import { html } from './html.js';
import { href } from './routes.js';
import { SEX, TAGS, DERIVED_TAGS } from './labels.js';
import { ageOn, today } from './dates.js';
import { villageName } from './data.js';

const TABS = [
  ['today', '今日', '☀'],
  ['residents', '居民', '☰'],
  ['register', '登记', '＋'],
  ['sync', '同步', '⇅'],
];

/**
 * The frame around a screen.
 * @param {{title: string, back?: string, route: string, state: import('./state.js').AppState, children: any}} props
 */
export function Frame({ title, back, route, state, children }) {
  const c = state.counts;
  const waiting = c.pending || 0;
  // Refused records need the doctor; conflicts wait for the supervisor and need nothing.
  const trouble = c.rejected || 0;
  return html`
    <div class="shell" data-route=${route} data-last-sync=${String(c.lastSyncAt || '')}>
      <header class="top">
        ${back ? html`<a class="back" href=${back} aria-label="返回">‹</a>` : null}
        <h1>${title}</h1>
        <a class=${'badge' + (trouble ? ' bad' : '')} href="#/sync" id="pending-badge" data-pending=${String(waiting)}
          title="待上传的记录">${state.syncing ? '同步中…' : waiting ? '待上传 ' + waiting : trouble ? '被退回 ' + trouble : c.lastSyncAt ? '已同步' : '未同步'}</a>
      </header>
      ${state.online ? null : html`
        <div class="offline" id="offline-banner" role="status"><b>离线</b>没有网络：记录照常保存在平板上，有信号后到“同步”页上传。</div>`}
      ${state.needLogin ? html`
        <div class="notice warn" role="alert">登录已过期：联网后请<a href="#/sync">到同步页重新登录</a>。平板上的记录不会丢失。</div>` : null}
      ${state.updateReady ? html`
        <div class="notice">新版本已下载，关闭后重新打开本应用即可使用。</div>` : null}
      ${state.flash ? html`<div class="notice" role="status" id="flash">${state.flash}</div>` : null}
      <main class="screen">${children}</main>
      <nav class="tabs">
        ${TABS.map(([name, label, ico]) => html`
          <a href=${href(name)} class=${route === name ? 'on' : ''} data-tab=${name}>
            <span class="ico" aria-hidden="true">${ico}</span>${label}</a>`)}
      </nav>
    </div>`;
}

/**
 * A labelled input with its error.
 * @param {{label: string, error?: string, hint?: string, children: any}} props
 */
export function Field({ label, error, hint, children }) {
  return html`
    <label class="field">
      <span class="lbl">${label}</span>
      ${children}
      ${hint ? html`<span class="muted">${hint}</span>` : null}
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    </label>`;
}

/**
 * Tags shown as chips: recorded ones, then the derived age marks.
 * @param {{resident: Object}} props
 */
export function TagChips({ resident }) {
  const chips = (resident.tags || []).map((t) => html`<span class="chip amber">${TAGS[t] || t}</span>`);
  if (resident.birth_date) {
    const age = ageOn(resident.birth_date, today());
    if (age >= 65) chips.push(html`<span class="chip blue">${DERIVED_TAGS.elderly}</span>`);
    if (age >= 0 && age <= 6) chips.push(html`<span class="chip blue">${DERIVED_TAGS.child}</span>`);
  }
  return chips.length ? html`<span class="chips">${chips}</span>` : null;
}

/**
 * One line about a resident: sex, age, village, household.
 * @param {{resident: Object, data: any}} props
 */
export function ResidentLine({ resident, data }) {
  const age = resident.birth_date ? ageOn(resident.birth_date, today()) + '岁' : '';
  return html`<span class="row-line">${[SEX[resident.sex] || '', age, villageName(data, resident.village_code),
    resident.household_id ? '户 ' + resident.household_id : ''].filter(Boolean).join(' · ')}</span>`;
}

/**
 * A chip saying the record has not gone up yet.
 * @param {{rec: Object}} props
 */
export function PendingChip({ rec }) {
  return rec && rec._pending ? html`<span class="chip amber" data-pending-record="true">待上传</span>` : null;
}

/** @param {{text: string}} props */
export function Empty({ text }) {
  return html`<p class="muted empty">${text}</p>`;
}
