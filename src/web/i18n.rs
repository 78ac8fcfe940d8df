//! The pages' message catalogue: every string a page shows, in Chinese (the default) and
//! English. A page never holds text of its own; it reads [`Text`]. Both languages are values of
//! the one struct, so a string missing in either is a compile error, not a blank on a page.

use crate::auth::Role;
use crate::web::day_text::{self, DayText};

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// 简体中文, the default.
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// Every language, in the order the switch shows them.
    pub const ALL: [Lang; 2] = [Lang::Zh, Lang::En];

    /// The code used in the switch's URL and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The language of `code`, if the pages have it.
    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|lang| lang.code() == code)
    }

    /// The catalogue of this language.
    pub fn text(self) -> &'static Text {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }

    /// The evaluation day's catalogue of this language.
    pub fn day(self) -> &'static DayText {
        match self {
            Lang::Zh => &day_text::ZH,
            Lang::En => &day_text::EN,
        }
    }

    /// Whether this is English (labels that come in both languages, such as a policy's scale,
    /// pick theirs by it).
    pub fn is_english(self) -> bool {
        self == Lang::En
    }
}

/// Every string of the pages in one language.
#[derive(Debug)]
pub struct Text {
    /// The `lang` attribute of `<html>`.
    pub html_lang: &'static str,
    /// The language's own name, shown in the switch.
    pub own_name: &'static str,
    /// The service's name in the page header and titles.
    pub site_name: &'static str,
    /// The skip link to the main content.
    pub skip_to_content: &'static str,
    /// The label of the language switch.
    pub language: &'static str,
    /// The label of the signed-in principal's box.
    pub signed_in_as: &'static str,
    /// "Name" (the token's subject).
    pub subject: &'static str,
    /// "Role".
    pub role: &'static str,
    /// "Committee".
    pub committee: &'static str,
    /// "Deputy group".
    pub deputy_group: &'static str,
    /// The sign-out button.
    pub sign_out: &'static str,
    /// The footer line.
    pub footer: &'static str,
    /// The home page's title.
    pub home_title: &'static str,
    /// The home page's introduction.
    pub home_intro: &'static str,
    /// The sign-in page's title.
    pub signin_title: &'static str,
    /// What the sign-in page explains before the button.
    pub signin_intro: &'static str,
    /// The advice about shared devices.
    pub signin_device: &'static str,
    /// "Link valid until".
    pub signin_valid_until: &'static str,
    /// The sign-in button.
    pub signin_button: &'static str,
    /// A link that is not one of ours (or damaged).
    pub link_invalid_title: &'static str,
    /// What to do about it.
    pub link_invalid_body: &'static str,
    /// A link past its expiry.
    pub link_expired_title: &'static str,
    /// What to do about it.
    pub link_expired_body: &'static str,
    /// A link used before.
    pub link_spent_title: &'static str,
    /// Why it is refused.
    pub link_spent_body: &'static str,
    /// "Used at".
    pub link_spent_at: &'static str,
    /// What to do if it was not you.
    pub link_spent_advice: &'static str,
    /// The token behind a link or session is revoked, expired or unknown.
    pub withdrawn_title: &'static str,
    /// What to do about it.
    pub withdrawn_body: &'static str,
    /// A page that needs signing in.
    pub signin_required_title: &'static str,
    /// How to sign in.
    pub signin_required_body: &'static str,
    /// A page the role may not open.
    pub forbidden_title: &'static str,
    /// Why.
    pub forbidden_body: &'static str,
    /// No such page.
    pub not_found_title: &'static str,
    /// What to do.
    pub not_found_body: &'static str,
    /// A form without a valid CSRF token, or sent from another site.
    pub csrf_title: &'static str,
    /// What to do.
    pub csrf_body: &'static str,
    /// After signing out.
    pub signed_out_title: &'static str,
    /// How to come back.
    pub signed_out_body: &'static str,
    /// The server failed.
    pub error_title: &'static str,
    /// What to do.
    pub error_body: &'static str,
    /// The link back to the home page.
    pub back_home: &'static str,
    /// Role names, in [`Text::role_name`]'s order.
    pub roles: RoleNames,
}

/// The name of each role in one language.
#[derive(Debug)]
pub struct RoleNames {
    /// [`Role::Admin`].
    pub admin: &'static str,
    /// [`Role::Clerk`].
    pub clerk: &'static str,
    /// [`Role::Chair`].
    pub chair: &'static str,
    /// [`Role::CommitteeMember`].
    pub committee_member: &'static str,
    /// [`Role::Deputy`].
    pub deputy: &'static str,
    /// [`Role::Appointee`].
    pub appointee: &'static str,
    /// [`Role::Reporter`].
    pub reporter: &'static str,
    /// [`Role::Auditor`].
    pub auditor: &'static str,
}

impl Text {
    /// The name of `role` in this language.
    pub fn role_name(&self, role: &Role) -> &'static str {
        let names = &self.roles;
        match role {
            Role::Admin => names.admin,
            Role::Clerk => names.clerk,
            Role::Chair => names.chair,
            Role::CommitteeMember => names.committee_member,
            Role::Deputy => names.deputy,
            Role::Appointee => names.appointee,
            Role::Reporter => names.reporter,
            Role::Auditor => names.auditor,
        }
    }
}

/// 简体中文.
pub static ZH: Text = Text {
    html_lang: "zh-CN",
    own_name: "中文",
    site_name: "人大常委会任后监督",
    skip_to_content: "跳到正文",
    language: "语言",
    signed_in_as: "当前登录",
    subject: "用户",
    role: "角色",
    committee: "常委会",
    deputy_group: "代表小组",
    sign_out: "退出登录",
    footer: "本页面不从其他网站加载任何内容。",
    home_title: "首页",
    home_intro: "您已登录。与您的角色有关的页面将列在这里。",
    signin_title: "登录",
    signin_intro: "此链接将以下面的身份为您登录。链接只能使用一次。",
    signin_device: "请不要在他人的设备上登录；用完请退出登录。",
    signin_valid_until: "链接有效期至",
    signin_button: "登录",
    link_invalid_title: "链接无效",
    link_invalid_body: "请检查链接是否完整复制，或向常委会办事机构索取新的登录链接。",
    link_expired_title: "链接已过期",
    link_expired_body: "登录链接在签发后只在有限时间内有效。请向常委会办事机构索取新的登录链接。",
    link_spent_title: "链接已被使用",
    link_spent_body: "每个登录链接只能使用一次，此链接已经用过。",
    link_spent_at: "使用时间",
    link_spent_advice: "如果不是您本人使用的，请立即告知常委会办事机构，由其撤销您的凭据并签发新的登录链接。",
    withdrawn_title: "访问权限已撤销",
    withdrawn_body: "此链接或登录所属的凭据已被撤销或已过期。请联系常委会办事机构。",
    signin_required_title: "需要登录",
    signin_required_body: "请打开常委会办事机构发给您的登录链接（或扫描其二维码）登录。",
    forbidden_title: "无权打开此页面",
    forbidden_body: "您当前的角色不能打开此页面。如果您认为应当可以，请联系常委会办事机构。",
    not_found_title: "页面不存在",
    not_found_body: "请检查地址是否正确。",
    csrf_title: "请求未被接受",
    csrf_body: "表单已失效，或来自其他网站。请返回上一页，刷新后重试。",
    signed_out_title: "已退出登录",
    signed_out_body: "您已退出登录。要再次登录，请向常委会办事机构索取新的登录链接。",
    error_title: "出现错误",
    error_body: "服务器未能完成请求。请稍后重试；如果问题仍然存在，请联系系统管理员。",
    back_home: "返回首页",
    roles: RoleNames {
        admin: "系统管理员",
        clerk: "办事机构工作人员",
        chair: "主任会议成员",
        committee_member: "常委会组成人员",
        deputy: "人大代表",
        appointee: "任命人员",
        reporter: "公开结果读者",
        auditor: "审计人员",
    },
};

/// English.
pub static EN: Text = Text {
    html_lang: "en",
    own_name: "English",
    site_name: "Post-appointment supervision",
    skip_to_content: "Skip to content",
    language: "Language",
    signed_in_as: "Signed in",
    subject: "User",
    role: "Role",
    committee: "Committee",
    deputy_group: "Deputy group",
    sign_out: "Sign out",
    footer: "These pages load nothing from other sites.",
    home_title: "Home",
    home_intro: "You are signed in. The pages for your role will be listed here.",
    signin_title: "Sign in",
    signin_intro: "This link signs you in as shown below. It works only once.",
    signin_device: "Do not sign in on someone else's device; sign out when you are done.",
    signin_valid_until: "Link valid until",
    signin_button: "Sign in",
    link_invalid_title: "This link is not valid",
    link_invalid_body: "Check that the whole link was copied, or ask the committee office for a new sign-in link.",
    link_expired_title: "This link has expired",
    link_expired_body: "A sign-in link is valid for a limited time after it is issued. Ask the committee office for a new one.",
    link_spent_title: "This link has already been used",
    link_spent_body: "Each sign-in link works only once, and this one has been used.",
    link_spent_at: "Used at",
    link_spent_advice: "If it was not you, tell the committee office at once: it will revoke your access and issue a new link.",
    withdrawn_title: "Access withdrawn",
    withdrawn_body: "The access behind this link or sign-in has been revoked or has expired. Contact the committee office.",
    signin_required_title: "Sign-in required",
    signin_required_body: "Open the sign-in link the committee office gave you (or scan its QR code) to sign in.",
    forbidden_title: "You may not open this page",
    forbidden_body: "Your role does not give access to this page. If you think it should, contact the committee office.",
    not_found_title: "Page not found",
    not_found_body: "Check the address.",
    csrf_title: "Request refused",
    csrf_body: "The form has expired or was sent from another site. Go back, reload the page and try again.",
    signed_out_title: "Signed out",
    signed_out_body: "You have signed out. To sign in again, ask the committee office for a new sign-in link.",
    error_title: "Something went wrong",
    error_body: "The server could not complete the request. Try again later; if it keeps happening, contact the administrator.",
    back_home: "Back to the home page",
    roles: RoleNames {
        admin: "administrator",
        clerk: "clerk (committee office)",
        chair: "chair (council of chairpersons)",
        committee_member: "committee member",
        deputy: "deputy",
        appointee: "appointee",
        reporter: "reporter",
        auditor: "auditor",
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_a_code_and_every_role_a_name() {
        for lang in Lang::ALL {
            assert_eq!(Lang::from_code(lang.code()), Some(lang));
            let text = lang.text();
            for role in [
                Role::Admin,
                Role::Clerk,
                Role::Chair,
                Role::CommitteeMember,
                Role::Deputy,
                Role::Appointee,
                Role::Reporter,
                Role::Auditor,
            ] {
                assert!(!text.role_name(&role).is_empty());
            }
        }
        assert_eq!(Lang::default(), Lang::Zh, "Chinese by default");
        assert_eq!(Lang::from_code("fr"), None);
    }
}
