// 居民身份证号 (GB 11643-1999) checked on the tablet, before anything is queued: the
// server would refuse a wrong number anyway, but only at the next sync, days later and far
// from the resident's card. Same rules and error codes as the server (docs/domain.md §1).

import { isRealDate } from './dates.js';

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = '10X98765432';

/**
 * The check character for the first 17 digits.
 * @param {string} first17
 * @returns {string}
 */
export function checkChar(first17) {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (first17.charCodeAt(i) - 48) * WEIGHTS[i];
  return CHECK[sum % 11];
}

/**
 * @typedef {Object} IdOk
 * @property {true} ok
 * @property {string} value the 18-character number, upper-case X (a 15-digit number converted)
 * @property {string} birthDate `YYYY-MM-DD`
 * @property {'M'|'F'} sex from the 17th digit: odd for men, even for women
 * @property {boolean} converted a legacy 15-digit number was converted to 18
 */
/**
 * @typedef {Object} IdError
 * @property {false} ok
 * @property {string} code the server's code for the same fault
 * @property {string} message in Chinese, for the doctor
 */

/**
 * Checks an ID number as the server does: 18 characters (17 digits and a digit or X;
 * lower-case x accepted), the check character, a real birth date from 1880 on, not in the
 * future. A 15-digit legacy number is converted (insert `19` before the year, add the
 * check character) and then checked like any other.
 * @param {string} raw what was typed
 * @param {string} [todayDate] `YYYY-MM-DD`, to refuse a birth date in the future
 * @returns {IdOk|IdError}
 */
export function checkIdNumber(raw, todayDate) {
  const s = String(raw || '').trim().toUpperCase();
  let full;
  let converted = false;
  if (s.length === 15 && /^\d{15}$/.test(s)) {
    const body = s.slice(0, 6) + '19' + s.slice(6);
    full = body + checkChar(body);
    converted = true;
  } else if (s.length === 18) {
    if (!/^\d{17}[\dX]$/.test(s)) {
      return { ok: false, code: 'invalid_id_number', message: '身份证号应为17位数字加1位数字或X' };
    }
    if (checkChar(s.slice(0, 17)) !== s[17]) {
      return { ok: false, code: 'id_number_checksum', message: '身份证号校验位不对，请对照身份证逐位核对' };
    }
    full = s;
  } else {
    return {
      ok: false,
      code: 'invalid_id_number',
      message: '身份证号应为18位（老身份证15位），现在是' + s.length + '位',
    };
  }
  const birthDate = full.slice(6, 10) + '-' + full.slice(10, 12) + '-' + full.slice(12, 14);
  if (!isRealDate(birthDate) || birthDate < '1880-01-01') {
    return { ok: false, code: 'id_number_birth_date', message: '身份证号中的出生日期不存在，请核对' };
  }
  if (todayDate && birthDate > todayDate) {
    return { ok: false, code: 'future_date', message: '身份证号中的出生日期在今天之后，请核对' };
  }
  const sex = (full.charCodeAt(16) - 48) % 2 === 1 ? 'M' : 'F';
  return { ok: true, value: full, birthDate, sex, converted };
}
