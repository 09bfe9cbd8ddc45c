// Chinese labels for the protocol's closed lists (docs/sync-protocol.md §7, docs/domain.md).
// The wire carries codes; the doctor reads these.

/** Recorded key-population tags (重点人群), in the order the register screen offers them. */
export const TAGS = {
  hypertension: '高血压',
  diabetes: '2型糖尿病',
  pregnant: '孕产妇',
  severe_mental: '严重精神障碍',
  tuberculosis: '肺结核',
  disability: '残疾人',
  poverty: '脱贫/建档立卡',
  dibao: '低保',
  tekun: '特困/五保',
  family_planning_special: '计生特殊家庭',
};

/** Derived marks, worked out from the birth date, never sent. */
export const DERIVED_TAGS = { elderly: '65岁及以上', child: '0–6岁儿童' };

export const SEX = { M: '男', F: '女' };

/** Referral directions (双向转诊). */
export const REFERRAL_DIRECTIONS = { up: '上转（转往上级医院）', down: '下转（医院转回社区）' };

/** Referral states. */
export const REFERRAL_STATUS = { SENT: '已转出', RECEIVED: '已接收', RETURNED: '已转回', CLOSED: '已结束', CANCELLED: '已取消' };

/** Referral reason codes. */
export const REFERRAL_REASONS = {
  htn_uncontrolled: '高血压控制不佳',
  dm_uncontrolled: '糖尿病控制不佳',
  diagnosis: '明确诊断',
  emergency: '急症',
  specialist: '专科诊治',
  rehabilitation: '康复',
  chronic_followup: '慢病随访管理',
  other: '其他（请写明）',
};

/** Contract states (pulled `status`). */
export const CONTRACT_STATUS = {
  DRAFT: '草稿',
  SIGNED: '已签约',
  ACTIVE: '生效中',
  EXPIRED: '已到期',
  TERMINATED: '已解约',
  RENEWED: '已续约',
  CANCELLED: '已取消',
  VOIDED: '作废',
  PENDING_REVIEW: '待审核',
};

/** Visit kinds; the first two are the work list's follow-ups. */
export const VISIT_KINDS = {
  htn_followup: '高血压随访',
  dm_followup: '糖尿病随访',
  elderly_check: '老年人健康体检',
  smi_followup: '严重精神障碍随访',
  tb_followup: '肺结核随访',
  maternal: '孕产妇',
  child_health: '儿童健康',
  home_visit: '入户',
  consultation: '咨询',
  health_education: '健康教育',
};

export const CONDITIONS = { hypertension: '高血压', diabetes: '糖尿病' };

/**
 * Money in fen as yuan: 12000 → ¥120.00. Whole fen only, never floats in arithmetic.
 * @param {number} fen
 * @returns {string}
 */
export function yuan(fen) {
  const f = Math.round(fen);
  return '¥' + Math.floor(f / 100) + '.' + String(f % 100).padStart(2, '0');
}

/**
 * What a rejected op's error code means for the doctor, and what to do about it. Codes
 * from docs/sync-protocol.md §8; anything not listed falls back to the server's message.
 * @type {Object<string, string>}
 */
export const ERROR_ADVICE = {
  already_exists: '这条记录服务器上已有，无需再传。同步后查看服务器上的记录。',
  basic_package_required: '签约必须包含基础公共卫生服务包，请重新签约。',
  derived_tag: '“65岁以上”“0–6岁儿童”由出生日期自动判断，不需要勾选。',
  future_timestamp: '记录时间比服务器晚了10分钟以上：请检查平板的日期和时间设置，然后重新录入。',
  future_date: '日期在今天之后，请核对后重新录入。',
  has_signed_contract: '居民有已签约的协议，不能删除。',
  id_number_checksum: '身份证号校验位不对：请对照身份证重新登记。',
  id_number_birth_date: '身份证号中的出生日期不存在：请对照身份证重新登记。',
  id_number_birth_date_mismatch: '身份证号与出生日期不一致：请对照身份证重新登记。',
  id_number_sex_mismatch: '身份证号与性别不一致：请对照身份证重新登记。',
  invalid_id_number: '身份证号格式不对：请对照身份证重新登记。',
  invalid_phone: '电话号码应为7–20位数字，请改正后重新录入。',
  out_of_range: '测量值超出合理范围，请复测后重新录入。',
  missing_field: '缺少必填项，请补全后重新录入。',
  out_of_scope: '该居民已不在本团队的村（社区），此记录已交乡镇督导处理。',
  unknown_resident: '服务器上找不到该居民（可能已被删除或合并），记录已交乡镇督导处理。',
  unknown_questionnaire: '问卷版本服务器不认识：同步后用新版本问卷重新调查。',
  illegal_transition: '协议当前状态不允许这样操作，同步后查看协议状态。',
  op_id_reused: '记录编号重复（应用程序故障），请重新录入并告知技术支持。',
  resident_merged: '该居民档案已被督导合并，记录会转到保留的档案上。',
};
