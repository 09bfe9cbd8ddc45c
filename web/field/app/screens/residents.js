// 居民: the residents of the team's villages, searched by name, household or phone.
// The match runs over a prepared index (app/search.js) and only the first rows are drawn;
// the list carries how long the last search took (`data-search-ms`) for the tests.

import { html, useState, useMemo } from '../html.js';
import { Frame, ResidentLine, TagChips, PendingChip, Empty } from '../ui.js';
import { href } from '../routes.js';
import { search, MAX_ROWS } from '../search.js';
import { CONTRACT_STATUS } from '../labels.js';
import { villageName } from '../data.js';

// Kept across visits to the screen: the doctor comes back to the same search.
let lastQuery = '';
let lastVillage = '';

/** @param {{state: import('../state.js').AppState}} props */
export function ResidentsScreen({ state }) {
  const data = state.data;
  const [query, setQuery] = useState(lastQuery);
  const [village, setVillage] = useState(lastVillage);
  const result = useMemo(() => {
    if (!data) return null;
    const t0 = performance.now();
    const r = search(data.index(), query, { village });
    return { ...r, ms: performance.now() - t0 };
  }, [data, query, village]);

  const onQuery = (e) => { lastQuery = e.currentTarget.value; setQuery(lastQuery); };
  const onVillage = (v) => { lastVillage = v; setVillage(v); };

  return html`
    <${Frame} title="居民" route="residents" state=${state}>
      <input type="search" id="resident-search" placeholder="输入姓名、户号或电话查找" value=${query}
        onInput=${onQuery} aria-label="查找居民" autocomplete="off" />
      ${data && data.villages.length > 1 ? html`
        <div class="chips" role="group" aria-label="按村筛选" style="margin:10px 0">
          <button type="button" class=${'btn' + (village ? '' : ' primary')} onClick=${() => onVillage('')}>全部村</button>
          ${data.villages.map((v) => html`
            <button type="button" data-village=${v} class=${'btn' + (village === v ? ' primary' : '')}
              onClick=${() => onVillage(v)}>${villageName(data, v)}</button>`)}
        </div>` : null}
      ${!result ? html`<p class="muted">正在读取…</p>` : html`
        <p class="muted" id="resident-count" data-total=${String(result.total)}>
          找到 ${result.total} 人${result.total > result.rows.length ? '，显示前 ' + MAX_ROWS + ' 人，请输入更多字缩小范围' : ''}</p>
        ${result.total === 0 ? html`<${Empty} text=${data.residents.length ? '没有找到，换个字试试，或去“登记”新建档案。' : '平板上还没有居民资料：请联网后同步。'} />` : null}
        <ul class="rows" id="resident-list" data-search-ms=${result.ms.toFixed(1)} data-query=${query}>
          ${result.rows.map((r) => {
            const c = data.contractInEffect(r.id);
            return html`
              <li data-id=${r.id} key=${r.id}>
                <a href=${href('resident', r.id)}>
                  <div class="row-title">${r.name}
                    ${c ? html` <span class="chip green">${CONTRACT_STATUS[c.status] || c.status}</span>` : html` <span class="chip">未签约</span>`}
                    <${PendingChip} rec=${r} /></div>
                  <${ResidentLine} resident=${r} data=${data} />
                  <${TagChips} resident=${r} />
                </a>
              </li>`;
          })}
        </ul>`}
    <//>`;
}
