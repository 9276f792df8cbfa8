//! The Chinese text of the service's error messages: every JSON error answer carries
//! `error` (English, as before) and `error_zh` (Chinese), and the pages show the one of
//! the reader's language. One approach for every route and client: no content
//! negotiation, so a cached or logged answer reads the same for everyone.
//!
//! The messages people meet on the pages (signing in, the case workflow in the
//! console, reporting on the inspector's phone, photos, the viewer's queries) have
//! their own Chinese text, exact or by pattern (`{}` holds a variable part: a role,
//! action or state is put into Chinese too, a value is kept as it is). Any other
//! message gets a Chinese phrase for its status followed by the English text, so a
//! Chinese reader always sees what kind of refusal it is.
//!
//! ```
//! use citygrid_spatial_api::error_zh::translate;
//! assert_eq!(translate(401, "sign in first"), "请先登录");
//! assert_eq!(
//!     translate(409, "cannot dispatch a case that is closed"),
//!     "案卷当前为“已结案”，不能执行“派遣”"
//! );
//! assert_eq!(translate(400, "zoom 99 is out of range"), "请求有误：zoom 99 is out of range");
//! ```

/// Messages translated whole.
const EXACT: &[(&str, &str)] = &[
    ("sign in first", "请先登录"),
    ("not signed in", "尚未登录"),
    (
        "sign in first: send `Authorization: Bearer <token>` from POST /api/auth/login",
        "请先登录",
    ),
    ("wrong user name or password", "用户名或密码错误"),
    ("user name or password too long", "用户名或密码过长"),
    (
        "the token is unknown, expired or revoked: sign in again",
        "登录已失效，请重新登录",
    ),
    ("malformed Authorization header", "Authorization 请求头格式错误"),
    ("this department account has no department", "该部门账号未关联部门"),
    ("no such case (or not yours to see)", "案卷不存在（或无权查看）"),
    (
        "there is no pending extension request",
        "没有待审批的延期申请",
    ),
    ("an extension request is already pending", "已有待审批的延期申请"),
    ("the requested deadline is required", "请填写申请的期限"),
    (
        "the requested deadline must be after the current one",
        "申请的期限必须晚于当前期限",
    ),
    ("the new deadline must be after the current one", "新期限必须晚于当前期限"),
    ("the target department is required", "请选择处置部门"),
    ("a comment needs a note or an attachment", "备注需要填写内容或附件"),
    ("note must be at most 4000 characters", "备注最多 4000 字"),
    ("at most 20 photos per step", "每个环节最多 20 张照片"),
    ("photo_ids must be photos uploaded to this case", "照片必须是上传到本案卷的照片"),
    (
        "no department given and routing found none: send \"department\"",
        "未指定部门且无法自动匹配：请选择部门",
    ),
    ("the photo is empty", "照片为空"),
    ("the multipart body has no file part", "请求中没有照片文件"),
    (
        "the photo's header cannot be read (a truncated or damaged image)",
        "无法读取照片（图片不完整或已损坏）",
    ),
    ("photos are added by signed-in users", "登录后才能添加照片"),
    (
        "inspectors report with the current time; reported_at is for the supervision centre",
        "监督员只能按当前时间上报；上报时间仅由监督中心填写",
    ),
    (
        "this Idempotency-Key was already used for a different request: use a new key for a new request",
        "该幂等键已用于另一请求：新的请求请使用新的键",
    ),
    (
        "this Idempotency-Key is in use by a request that has not finished: try again",
        "该幂等键的请求尚未完成：请稍后重试",
    ),
    ("send one Idempotency-Key header, not several", "只能发送一个 Idempotency-Key 请求头"),
    ("the body must be a JSON object", "请求内容必须是 JSON 对象"),
    ("lon and lat must both be numbers", "经度和纬度必须都是数字"),
    ("from must be before to", "开始日期必须早于结束日期"),
    ("q may not contain control characters", "搜索内容不能包含控制字符"),
    ("geometry is required (GeoJSON)", "缺少几何图形（GeoJSON）"),
    ("geometry is empty", "几何图形为空"),
    ("the geometry is empty", "几何图形为空"),
    ("the database is unavailable; retry later", "数据库暂不可用，请稍后重试"),
    ("the request took too long; retry later", "请求超时，请稍后重试"),
    ("request body too large", "请求内容过大"),
    ("internal error", "服务器内部错误"),
    (
        "map layers are not public here: sign in or send an API key",
        "地图图层未公开：请登录或使用 API 密钥",
    ),
    ("the API key is unknown or revoked", "API 密钥无效或已吊销"),
    ("mine=true needs a signed-in user", "请先登录"),
    (
        "department=mine needs an account with a department",
        "“本部门”筛选需要关联部门的账号",
    ),
    (
        "the period cannot be expressed in the city's time zone",
        "该时段无法用本市时区表示",
    ),
];

/// Messages with variable parts: `{}` matches any text (the shortest that lets the
/// rest match); `{0}`, `{1}`… in the Chinese text are the parts, put into Chinese
/// when they are a role, action, case state or known phrase.
const PATTERNS: &[(&str, &str)] = &[
    // A workflow step's own refusal: "<action>: <reason>".
    ("{}: {}", "{0}：{1}"),
    (
        "forbidden: {} may not {} this case ({})",
        "无权操作：{0}不能对本案卷执行“{1}”（{2}）",
    ),
    (
        "cannot {} a case that is {}",
        "案卷当前为“{1}”，不能执行“{0}”",
    ),
    ("unknown action {}", "未知操作 {0}"),
    (
        "the point ({}, {}) lies outside every unit grid: this installation manages no area there",
        "位置（{0}, {1}）不在任何单元网格内：本系统不管理该区域",
    ),
    (
        "too many failed sign-ins for this account: retry after {} s",
        "该账号登录失败次数过多：请 {0} 秒后重试",
    ),
    (
        "a photo may be at most {} bytes; the upload was larger or broke off",
        "照片最大 {0} 字节；上传的文件过大或上传中断",
    ),
    (
        "the photo declares {} pixels: not a picture",
        "照片声明的尺寸为 {0} 像素：不是有效图片",
    ),
    (
        "{} photos are added while the case is {}; it is {}",
        "{0}照片只能在案卷为“{1}”时添加；当前为“{2}”",
    ),
    (
        "component {} is not in the component inventory",
        "部件 {0} 不在部件清单中",
    ),
    (
        "department {} does not exist or is not active",
        "部门 {0} 不存在或已停用",
    ),
    ("cannot compute the deadline: {}", "无法计算期限：{0}"),
    ("{} is in the future", "{0} 晚于当前时间"),
    ("{} is more than 366 days ago", "{0} 早于 366 天前"),
    (
        "{} is before the previous step of this case",
        "{0} 早于本案卷的上一环节",
    ),
    (
        "{} must be at most {} characters, got {}",
        "{0} 最多 {1} 个字符，实际 {2} 个",
    ),
    ("{} is required", "缺少 {0}"),
    ("no photo {}", "照片 {0} 不存在"),
    (
        "this API key may not read layer {}",
        "该 API 密钥无权读取图层 {0}",
    ),
    (
        "this API key may not be used from {}",
        "该 API 密钥不能在 {0} 使用",
    ),
];

/// Words the patterns' parts are put into Chinese with: roles, actions, case states,
/// photo stages and the workflow's reasons.
const TERMS: &[(&str, &str)] = &[
    ("inspector", "监督员"),
    ("acceptor", "受理员"),
    ("shift_leader", "值班长"),
    ("dispatcher", "派遣员"),
    ("department", "专业部门"),
    ("admin", "管理员"),
    ("public", "公众"),
    ("report", "上报"),
    ("request_verification", "请求核实"),
    ("verify", "核实"),
    ("register", "立案"),
    ("void", "作废"),
    ("self_handle", "自行处置"),
    ("dispatch", "派遣"),
    ("return", "退回"),
    ("accept", "签收"),
    ("feedback", "反馈"),
    ("suspend", "挂账"),
    ("resume", "恢复"),
    ("request_extension", "申请延期"),
    ("approve_extension", "批准延期"),
    ("reject_extension", "驳回延期"),
    ("request_check", "请求核查"),
    ("check_pass", "核查通过"),
    ("check_fail", "核查不通过"),
    ("close", "结案"),
    ("comment", "备注"),
    ("reported", "已上报"),
    ("verifying", "核实中"),
    ("verified", "已核实"),
    ("registered", "已立案"),
    ("voided", "已作废"),
    ("dispatched", "已派遣"),
    ("handling", "处置中"),
    ("suspended", "挂账"),
    ("handled", "已处置"),
    ("checking", "核查中"),
    ("checked", "已核查"),
    ("returned", "已退回"),
    ("closed", "已结案"),
    ("check", "核查"),
    ("the role may not take this step", "该角色不能执行此环节"),
    (
        "the case is not assigned to the actor's department",
        "案卷未派遣给本部门",
    ),
];

/// The Chinese phrase of an HTTP status, for messages without their own text.
fn status_phrase(status: u16) -> &'static str {
    match status {
        400 => "请求有误",
        401 => "请先登录",
        403 => "无权执行此操作",
        404 => "未找到",
        405 => "不支持该操作",
        409 => "与当前状态冲突",
        412 => "数据已被修改，请刷新后重试",
        413 => "内容过大",
        415 => "不支持的内容类型",
        422 => "无法受理",
        428 => "缺少前提条件",
        429 => "请求过于频繁，请稍后重试",
        503 => "服务暂不可用，请稍后重试",
        s if s >= 500 => "服务器错误",
        _ => "请求失败",
    }
}

/// A part of a message in Chinese when it is a known word (a list like
/// `reported, verified` word by word), else as it is.
fn term(part: &str) -> String {
    let lookup = |w: &str| {
        TERMS
            .iter()
            .find(|(en, _)| *en == w)
            .map(|(_, zh)| (*zh).to_string())
            .or_else(|| {
                EXACT
                    .iter()
                    .find(|(en, _)| *en == w)
                    .map(|(_, zh)| (*zh).to_string())
            })
    };
    if let Some(zh) = lookup(part) {
        return zh;
    }
    if part.contains(", ") || part.contains(" or ") {
        let words: Vec<&str> = part
            .split([',', ' '])
            .filter(|w| !w.is_empty() && *w != "or")
            .collect();
        if words.iter().all(|w| lookup(w).is_some()) {
            return words
                .iter()
                .filter_map(|w| lookup(w))
                .collect::<Vec<_>>()
                .join("、");
        }
    }
    part.trim_matches('"').to_string()
}

/// Matches `message` against `pattern` (`{}` = any non-empty text); the parts.
fn captures<'m>(pattern: &str, message: &'m str) -> Option<Vec<&'m str>> {
    let pieces: Vec<&str> = pattern.split("{}").collect();
    let first = pieces.first()?;
    let mut rest = message.strip_prefix(first)?;
    let mut parts = Vec::new();
    for (i, piece) in pieces.iter().enumerate().skip(1) {
        let last = i == pieces.len() - 1;
        let at = if last {
            if piece.is_empty() {
                Some(rest.len())
            } else {
                rest.ends_with(piece).then(|| rest.len() - piece.len())
            }
        } else if piece.is_empty() {
            None
        } else {
            rest.find(piece)
        }?;
        if at == 0 {
            return None;
        }
        parts.push(&rest[..at]);
        rest = &rest[at + piece.len()..];
    }
    rest.is_empty().then_some(parts)
}

/// The Chinese text of error `message` answered with HTTP `status`.
pub fn translate(status: u16, message: &str) -> String {
    let message = message.trim();
    if let Some((_, zh)) = EXACT.iter().find(|(en, _)| *en == message) {
        return (*zh).to_string();
    }
    for (pattern, zh) in PATTERNS {
        let Some(parts) = captures(pattern, message) else {
            continue;
        };
        // "{}: {}" only for an action or known reason before the colon.
        if *pattern == "{}: {}" && TERMS.iter().all(|(en, _)| *en != parts[0]) {
            continue;
        }
        let mut out = (*zh).to_string();
        for (i, part) in parts.iter().enumerate() {
            out = out.replace(&format!("{{{i}}}"), &term(part));
        }
        return out;
    }
    format!("{}：{message}", status_phrase(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_refusals_read_in_chinese() {
        assert_eq!(
            translate(
                403,
                "forbidden: inspector may not close this case (the role may not take this step)"
            ),
            "无权操作：监督员不能对本案卷执行“结案”（该角色不能执行此环节）"
        );
        assert_eq!(
            translate(409, "cannot approve_extension a case that is handling"),
            "案卷当前为“处置中”，不能执行“批准延期”"
        );
        assert_eq!(
            translate(400, "request_extension: the requested deadline is required"),
            "申请延期：请填写申请的期限"
        );
        assert_eq!(
            translate(400, "there is no pending extension request"),
            "没有待审批的延期申请"
        );
        assert_eq!(
            translate(
                409,
                "check photos are added while the case is checking; it is closed"
            ),
            "核查照片只能在案卷为“核查中”时添加；当前为“已结案”"
        );
        assert_eq!(
            translate(
                409,
                "report photos are added while the case is reported, verified; it is closed"
            ),
            "上报照片只能在案卷为“已上报、已核实”时添加；当前为“已结案”"
        );
    }

    #[test]
    fn values_are_kept_and_unknown_messages_get_their_status() {
        assert_eq!(
            translate(422, "the point (120.1, 30.2) lies outside every unit grid: this installation manages no area there"),
            "位置（120.1, 30.2）不在任何单元网格内：本系统不管理该区域"
        );
        assert_eq!(
            translate(
                429,
                "too many failed sign-ins for this account: retry after 30 s"
            ),
            "该账号登录失败次数过多：请 30 秒后重试"
        );
        assert_eq!(
            translate(400, "description is required"),
            "缺少 description"
        );
        assert_eq!(
            translate(404, "no such layer \"x\""),
            "未找到：no such layer \"x\""
        );
        assert_eq!(translate(503, ""), "服务暂不可用，请稍后重试：");
        // A colon alone does not make a workflow message.
        assert_eq!(
            translate(400, "bbox: four numbers"),
            "请求有误：bbox: four numbers"
        );
    }

    #[test]
    fn captures_need_every_piece() {
        assert_eq!(captures("a {} b {}", "a x b y"), Some(vec!["x", "y"]));
        assert_eq!(captures("a {} b", "a x c"), None);
        assert_eq!(captures("a {} b", "a  x b"), Some(vec![" x"]));
        assert_eq!(captures("a {} b", "a b"), None);
    }
}
