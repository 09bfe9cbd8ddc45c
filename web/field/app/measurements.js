// Measurement ranges of a visit (docs/domain.md §3), checked on the tablet so an
// impossible reading is caught while the resident is still there, not refused by the
// server days later. The same limits as the server's `Measurements::check`.

/**
 * @typedef {Object} MeasureSpec
 * @property {string} key the field in `measurements`
 * @property {string} label Chinese label
 * @property {string} unit
 * @property {number} min inclusive
 * @property {number} max inclusive
 * @property {boolean} integer the server takes whole numbers only
 */

/** @type {MeasureSpec[]} */
export const MEASUREMENTS = [
  { key: 'systolic', label: '收缩压', unit: 'mmHg', min: 50, max: 300, integer: true },
  { key: 'diastolic', label: '舒张压', unit: 'mmHg', min: 30, max: 200, integer: true },
  { key: 'fasting_glucose', label: '空腹血糖', unit: 'mmol/L', min: 1, max: 35, integer: false },
  { key: 'heart_rate', label: '心率', unit: '次/分', min: 20, max: 250, integer: true },
  { key: 'weight_kg', label: '体重', unit: 'kg', min: 1, max: 300, integer: false },
  { key: 'height_cm', label: '身高', unit: 'cm', min: 30, max: 250, integer: false },
  { key: 'waist_cm', label: '腰围', unit: 'cm', min: 30, max: 200, integer: false },
];

/** What each visit kind must record (`missing_field` on the server otherwise). */
export const REQUIRED_BY_KIND = {
  htn_followup: ['systolic', 'diastolic'],
  dm_followup: ['fasting_glucose'],
};

/**
 * @typedef {Object} MeasureResult
 * @property {boolean} ok
 * @property {Object<string, number>} measurements the values to push (only those entered)
 * @property {Object<string, string>} errors field → Chinese message
 */

/**
 * Checks what was typed into the measurement fields for a visit kind.
 * @param {string} kind visit kind
 * @param {Object<string, string>} typed field → text as typed (empty: not measured)
 * @returns {MeasureResult}
 */
export function checkMeasurements(kind, typed) {
  /** @type {Object<string, number>} */
  const measurements = {};
  /** @type {Object<string, string>} */
  const errors = {};
  for (const m of MEASUREMENTS) {
    const text = String(typed[m.key] ?? '').trim();
    if (text === '') continue;
    if (!/^\d+(\.\d+)?$/.test(text)) {
      errors[m.key] = m.label + '请填写数字';
      continue;
    }
    const v = Number(text);
    if (m.integer && !Number.isInteger(v)) {
      errors[m.key] = m.label + '请填写整数';
      continue;
    }
    if (v < m.min || v > m.max) {
      errors[m.key] = m.label + '应在 ' + m.min + '–' + m.max + ' ' + m.unit + ' 之间';
      continue;
    }
    measurements[m.key] = v;
  }
  if (measurements.systolic !== undefined && measurements.diastolic !== undefined &&
      measurements.diastolic >= measurements.systolic) {
    errors.diastolic = '舒张压应低于收缩压';
  }
  for (const key of REQUIRED_BY_KIND[kind] || []) {
    if (measurements[key] === undefined && !errors[key]) {
      const spec = MEASUREMENTS.find((m) => m.key === key);
      errors[key] = '此类随访必须填写' + (spec ? spec.label : key);
    }
  }
  return { ok: Object.keys(errors).length === 0, measurements, errors };
}
