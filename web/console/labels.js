// Chinese words for the API's codes (docs/domain.md, docs/review.md): the wire carries
// codes, supervisors and administrators read these.

/** Roles. */
export const ROLES = { admin: '县级管理员', supervisor: '乡镇督导', team_lead: '团队长', doctor: '家庭医生' };

/** Review item kinds (docs/review.md, "What lands in the queue"). */
export const KINDS = {
  field_clash: '字段冲突',
  double_signing: '重复签约',
  duplicate_resident: '重复档案',
  divergent_append: '记录分歧',
  quarantine: '隔离记录',
  pending_contract: '待审核签约',
};

/** Decisions, with what each does (docs/review.md, "The decisions"). */
export const DECISIONS = {
  keep_server: '以服务器为准',
  keep_client: '以平板为准',
  accept: '采纳',
  void: '作废',
  merge: '合并',
  dismiss: '驳回',
};

/**
 * Decision words that depend on the kind (the same code reads differently per kind).
 * @param {string} kind
 * @param {string} decision
 * @returns {string}
 */
export function decisionLabel(kind, decision) {
  if (kind === 'quarantine') {
    if (decision === 'accept') return '重新受理';
    if (decision === 'void') return '关闭';
  }
  if ((kind === 'double_signing' || kind === 'pending_contract') && decision === 'keep_server') return '保留原签约';
  if (kind === 'divergent_append' && decision === 'keep_server') return '保留已存记录';
  return DECISIONS[decision] || decision;
}

/**
 * What a decision will do, in one sentence, shown under its button.
 * @param {string} kind
 * @param {string} decision
 * @returns {string}
 */
export function decisionHelp(kind, decision) {
  const key = kind + '/' + decision;
  const help = {
    'field_clash/keep_server': '服务器上的值成为档案的值；已被平板覆盖的值会写回为新版本。',
    'field_clash/keep_client': '平板上未被采用的值写入档案（新版本），平板下次同步时收到。',
    'double_signing/accept': '待审核的签约生效；原来在约的协议今日解约。',
    'double_signing/void': '待审核的签约作废（虚假或被强迫的签约）。',
    'double_signing/keep_server': '原来在约的协议继续有效；待审核的签约作废。',
    'pending_contract/accept': '待审核的签约生效。',
    'pending_contract/void': '待审核的签约作废（虚假或被强迫的签约）。',
    'pending_contract/keep_server': '保留在约的协议；待审核的签约作废。',
    'duplicate_resident/merge': '两份档案合并为一份：签约、随访、调查全部转到保留的档案，另一份成为已合并的档案。',
    'duplicate_resident/dismiss': '仅当两份档案的身份证号已不相同（其中一份已更正）时可驳回。',
    'divergent_append/keep_server': '已存的记录不变；另一份内容留在事项中备查，如需采用请团队录入更正。',
    'quarantine/accept': '以原发送人的身份重新受理这条记录；若仍被拒绝，事项保持待处理。',
    'quarantine/void': '关闭事项，原记录留存备查。',
  };
  return help[key] || '';
}

/** Entities. */
export const ENTITIES = {
  resident: '居民档案',
  contract: '签约协议',
  visit: '服务记录',
  survey: '满意度调查',
  not_signed: '未签约登记',
  referral: '转诊',
  user: '用户',
  team: '家医团队',
  region: '区划',
  device: '设备',
  blob: '签名/照片',
  conflict: '冲突事项',
  quarantine: '隔离记录',
  service_package: '服务包',
  questionnaire: '问卷',
};

/** Op actions. */
export const ACTIONS = { create: '新建', update: '修改', transition: '状态变更', amend: '更正', delete: '删除' };

/** Resident fields (a field clash names them). */
export const FIELDS = {
  name: '姓名',
  sex: '性别',
  birth_date: '出生日期',
  id_number: '身份证号',
  phone: '电话',
  village_code: '村（社区）',
  household_id: '户号',
  tags: '重点人群',
};

/** Recorded key-population tags (重点人群). */
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
  elderly: '65岁及以上',
  child: '0–6岁儿童',
};

export const SEX = { M: '男', F: '女' };

/** Contract states. */
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

/** Termination reasons. */
export const END_REASONS = {
  moved_away: '迁出',
  unreachable_1y: '失访满一年',
  refused_1y: '连续一年拒绝服务',
  resident_request: '居民主动解约',
  death: '死亡',
  other: '其他',
};

/** Service packages (the default catalog, docs/domain.md §2). */
export const PACKAGES = {
  BASIC: '基础公共卫生服务包',
  HTN: '高血压管理包',
  DM: '糖尿病管理包',
  ELDERLY: '老年人健康管理包',
  MCH: '母婴健康包',
};

/** Visit kinds. */
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

/** Measurements. */
export const MEASUREMENTS = {
  systolic: '收缩压 mmHg',
  diastolic: '舒张压 mmHg',
  fasting_glucose: '空腹血糖 mmol/L',
  weight_kg: '体重 kg',
  height_cm: '身高 cm',
  heart_rate: '心率 次/分',
  waist_cm: '腰围 cm',
};

/** Referral directions (双向转诊). */
export const REFERRAL_DIRECTIONS = { up: '上转', down: '下转' };

/** Referral states. */
export const REFERRAL_STATUS = {
  SENT: '已转出',
  RECEIVED: '已接收',
  RETURNED: '已转回',
  CLOSED: '已结束',
  CANCELLED: '已取消',
};

/** Referral reason codes. */
export const REFERRAL_REASONS = {
  htn_uncontrolled: '高血压控制不佳',
  dm_uncontrolled: '糖尿病控制不佳',
  diagnosis: '明确诊断',
  emergency: '急症',
  specialist: '专科诊治',
  rehabilitation: '康复',
  chronic_followup: '慢病随访管理',
  other: '其他',
};

/** Audit log actions. */
export const AUDIT_ACTIONS = {
  login: '登录',
  login_failed: '登录失败',
  refresh_token_reused: '刷新令牌被重复使用',
  device_revoked: '停用设备',
  password_changed: '修改密码',
  password_reset: '重置密码',
  signed_out_everywhere: '退出所有设备',
  user_created: '新建用户',
  user_updated: '修改用户',
  user_deactivated: '停用用户',
  team_created: '新建团队',
  team_villages_set: '设置团队服务村',
  village_moved: '村调整到其他团队',
  region_created: '新建区划',
  population_set: '导入人口数',
  csv_import: 'CSV 导入',
  questionnaire_created: '新增问卷版本',
  resident_created: '登记居民',
  resident_updated: '修改居民档案',
  resident_deleted: '删除居民档案',
  resident_moved: '居民迁村',
  resident_viewed: '查看居民档案',
  residents_searched: '查询居民',
  residents_merged: '合并重复档案',
  contract_created: '签约',
  contract_transition: '协议状态变更',
  contract_deleted: '删除协议草稿',
  visit_recorded: '录入服务记录',
  visit_amended: '更正服务记录',
  survey_recorded: '录入满意度调查',
  survey_amended: '更正满意度调查',
  not_signed_recorded: '未签约登记',
  referral_recorded: '登记转诊',
  referral_amended: '更正转诊',
  referral_transition: '转诊状态变更',
  record_deleted: '删除记录',
  blob_uploaded: '上传签名/照片',
  review_decision: '审核处理',
};

/**
 * Chinese for the API's error codes, where the console has something better to say than
 * the server's English message. The message is still shown beside it, small.
 */
export const ERRORS = {
  network: '无法连接服务器，请检查网络后重试。',
  invalid_credentials: '用户名或密码错误。',
  too_many_attempts: '登录失败次数过多，请稍后再试。',
  not_found: '未找到：该记录不存在，或不在您的管辖范围内。',
  forbidden: '您的账号无权进行此操作。',
  outside_scope: '其中一份档案不在本乡镇，请县卫健局处理。',
  already_resolved: '该事项已由其他人处理。',
  decision_not_allowed: '这类事项不能做这个决定。',
  invalid_decision: '未知的处理决定。',
  still_duplicate: '两份档案的身份证号仍然相同：同一个人只能合并。',
  not_pending: '该协议已不再待审核。',
  reapply_failed: '重新受理仍被拒绝，事项保持待处理。',
  sender_unavailable: '发送这条记录的设备已停用或账号已停用，无法重新受理，只能关闭。',
  id_number_not_restorable: '身份证号只保存了遮盖形式，无法在此采用：请在平板上对照身份证更正。',
  resident_merged: '该档案已被合并：请在保留的档案上由平板修改。',
  resident_deleted: '其中一份档案已被删除。',
  op_not_kept: '这条记录太大，服务器只保存了摘要：只能关闭。',
  invalid_keep: '请选择要保留的档案。',
  missing_field: '请填写必填项。',
  invalid_field: '填写的内容格式不对。',
  invalid_time: '时间格式不对。',
  invalid_limit: '每页条数超出范围。',
  invalid_region: '地区不对。',
  invalid_cursor: '分页位置已失效，请从第一页重新查询。',
  password_change_required: '管理员已重置您的密码：请先设置新密码。',
  wrong_password: '原密码不正确。',
  weak_password: '新密码不符合规则：至少 10 个字符，不能与用户名相同，不能全是同一个字符。',
  own_account: '不能停用自己的账号、重置自己的密码或修改自己的角色。',
  username_taken: '该用户名已被使用。',
  invalid_username: '用户名只能用 3–32 个小写字母、数字和 _ . -。',
  invalid_role: '角色不对。',
  team_required: '家庭医生和团队长必须属于一个团队。',
  team_not_allowed: '督导和管理员不属于团队。',
  unknown_team: '没有这个团队。',
  unknown_user: '本县没有这个用户。',
  team_exists: '该团队编码已存在。',
  invalid_team_code: '团队编码只能用 2–32 个字母、数字和 - _。',
  no_villages: '团队至少要服务一个村（社区）。',
  unknown_region: '没有这个区划。',
  device_revoked: '该设备已被停用。',
  database_unavailable: '数据库暂时无法访问，请稍后重试（未保存任何内容）。',
  write_clash: '与其他操作同时写入，未保存任何内容，请重试。',
  server_busy: '服务器正忙，请稍后重试。',
  internal_error: '服务器内部错误，请稍后重试。',
  invalid_query: '查询条件不对。',
  invalid_period: '统计期不对。',
};

/**
 * An API error for people: the Chinese sentence for its code, else the server's message.
 * @param {any} e an ApiError (or anything thrown)
 * @returns {string}
 */
export function errorText(e) {
  const code = e && e.code;
  if (code && ERRORS[code]) return ERRORS[code];
  if (code && /^http_404$/.test(code)) return ERRORS.not_found;
  return '操作失败：' + ((e && e.message) || String(e));
}

/** Why the server refused a tablet's op (quarantine), docs/sync-protocol.md §8. */
export const PUSH_ERRORS = {
  unknown_entity: '未知的记录类型',
  unsupported_action: '不支持的操作',
  malformed_op: '记录格式不完整',
  unknown_resident: '服务器上没有该居民（或不在发送团队的范围内）',
  unknown_contract: '服务器上没有该协议',
  unknown_visit: '服务器上没有该服务记录',
  unknown_survey: '服务器上没有该调查',
  unknown_record: '服务器上没有该记录',
  unknown_region: '没有这个村（社区）',
  unknown_version: '档案版本不对',
  out_of_scope: '不在发送团队负责的村（社区）',
  out_of_range: '测量值超出合理范围',
  missing_field: '缺少必填项',
  invalid_field: '字段格式不对',
  invalid_id: '记录编号不是 UUID',
  invalid_id_number: '身份证号格式不对',
  id_number_checksum: '身份证号校验位不对',
  id_number_birth_date: '身份证号中的出生日期不存在',
  id_number_birth_date_mismatch: '身份证号与出生日期不一致',
  id_number_sex_mismatch: '身份证号与性别不一致',
  id_number_required: '缺少身份证号',
  invalid_phone: '电话号码格式不对',
  derived_tag: '“65岁及以上”“0–6岁儿童”由出生日期推算，不能录入',
  unknown_tag: '未知的重点人群标记',
  future_timestamp: '记录时间晚于服务器时间 10 分钟以上（平板时钟不准）',
  future_date: '日期在今天之后',
  illegal_transition: '协议当前状态不允许这样变更',
  transition_not_allowed: '该角色不能做这个状态变更',
  contract_immutable: '已签约的协议不能修改',
  has_signed_contract: '居民有已签约的协议，不能删除',
  basic_package_required: '签约必须包含基础服务包',
  unknown_package: '未知的服务包',
  duplicate_package: '服务包重复',
  already_exists: '该记录已存在',
  already_renewed: '该协议已续约过',
  id_taken: '记录编号已被其他记录使用',
  use_amend: '服务记录不能修改，应录入更正',
  resident_merged: '居民档案已被合并',
  unknown_questionnaire: '问卷版本不存在',
  unknown_item: '问卷中没有这一题',
  invalid_option: '该题没有这个选项',
  not_yet_effective: '协议尚未到生效日期',
  not_yet_expired: '协议尚未到期',
  invalid_reason: '原因不对',
  invalid_date: '日期格式不对',
  invalid_timestamp: '时间格式不对',
  invalid_sex: '性别只能是男或女',
  invalid_kind: '未知的服务记录类型',
  invalid_status: '未知的协议状态',
  invalid_period: '协议期限不对',
  invalid_text: '文字内容不合规',
  invalid_character: '含有不允许的字符',
  op_id_reused: '操作编号被重复使用',
};
