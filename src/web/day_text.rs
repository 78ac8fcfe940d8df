//! The evaluation day's part of the pages' catalogue (the ballot, the receipt, the clerk's
//! console, the board, the receipt check), in Chinese and English: one struct, so a string
//! missing in either language is a compile error. Read through [`super::i18n::Lang::day`].

use crate::domain::evaluation::policy::Grade;
use crate::domain::evaluation::session::Phase;

/// Every string of the evaluation day's pages in one language.
#[derive(Debug)]
pub struct DayText {
    /// The list of sessions: title, empty list, column heads.
    pub sessions_title: &'static str,
    /// No session yet.
    pub sessions_empty: &'static str,
    /// "Meeting".
    pub meeting: &'static str,
    /// "Date".
    pub date: &'static str,
    /// "Status".
    pub phase: &'static str,
    /// "Round".
    pub round: &'static str,
    /// Links from the list: the ballot, the console, the board.
    pub open_ballot: &'static str,
    /// The console's link.
    pub open_console: &'static str,
    /// The board's link.
    pub open_board: &'static str,
    /// The home page's link to the sessions.
    pub home_sessions: &'static str,
    /// Phase names, in [`DayText::phase_name`]'s order.
    pub phases: [&'static str; 7],
    /// Grade names, in [`DayText::grade_name`]'s order.
    pub grades: [&'static str; 3],

    /// The ballot's title and introduction.
    pub ballot_title: &'static str,
    /// How to fill it in.
    pub ballot_intro: &'static str,
    /// "Post".
    pub post: &'static str,
    /// "Organ".
    pub organ: &'static str,
    /// The button that shows the review.
    pub review_button: &'static str,
    /// The review's heading.
    pub review_title: &'static str,
    /// What the review says.
    pub review_intro: &'static str,
    /// Back from the review to the choices.
    pub change_button: &'static str,
    /// Submits the ballot.
    pub submit_button: &'static str,
    /// Submits without the review (no script).
    pub submit_without_review: &'static str,
    /// A subject left unmarked, on the review.
    pub not_marked: &'static str,
    /// Not on the roster.
    pub not_on_roster_title: &'static str,
    /// Why and what to do.
    pub not_on_roster_body: &'static str,
    /// Not recorded present.
    pub not_present_title: &'static str,
    /// Why and what to do.
    pub not_present_body: &'static str,
    /// Voting is not open.
    pub not_open_title: &'static str,
    /// What to do.
    pub not_open_body: &'static str,
    /// Already voted.
    pub voted_title: &'static str,
    /// What it means.
    pub voted_body: &'static str,
    /// The ballot is recorded: the receipt page.
    pub receipt_title: &'static str,
    /// Keep the receipt.
    pub receipt_intro: &'static str,
    /// "Receipt".
    pub receipt_label: &'static str,
    /// The QR code's label.
    pub receipt_qr_label: &'static str,
    /// Where to check it.
    pub receipt_check_link: &'static str,
    /// The receipt page opened again: the receipt is shown once.
    pub receipt_again_body: &'static str,
    /// The ballot was not accepted.
    pub ballot_failed_title: &'static str,
    /// What to do.
    pub ballot_failed_body: &'static str,
    /// "Reason".
    pub reason: &'static str,
    /// Back to the ballot.
    pub back_to_ballot: &'static str,
    /// The live part's label (counts, the board's result).
    pub live: &'static str,
}

impl DayText {
    /// The name of `phase`.
    pub fn phase_name(&self, phase: Phase) -> &'static str {
        let index = match phase {
            Phase::Unscheduled => 0,
            Phase::Scheduled => 1,
            Phase::RollCalled => 2,
            Phase::VotingOpen => 3,
            Phase::VotingClosed => 4,
            Phase::Tallied => 5,
            Phase::Announced => 6,
        };
        self.phases[index]
    }

    /// The name of `grade`.
    pub fn grade_name(&self, grade: Grade) -> &'static str {
        match grade {
            Grade::Satisfied => self.grades[0],
            Grade::BasicallySatisfied => self.grades[1],
            Grade::Dissatisfied => self.grades[2],
        }
    }
}

/// 简体中文.
pub static ZH: DayText = DayText {
    sessions_title: "测评会议",
    sessions_empty: "暂无测评会议。",
    meeting: "会议",
    date: "日期",
    phase: "状态",
    round: "轮次",
    open_ballot: "投票",
    open_console: "会议控制台",
    open_board: "结果公告",
    home_sessions: "测评会议",
    phases: [
        "未安排",
        "已安排",
        "已点名",
        "正在投票",
        "投票已结束",
        "已计票",
        "已公布",
    ],
    grades: ["满意", "基本满意", "不满意"],
    ballot_title: "测评票",
    ballot_intro: "请对每位被测评人选择一项评价。提交前可以核对；提交后不能更改。",
    post: "职务",
    organ: "机关",
    review_button: "核对我的选择",
    review_title: "请核对您的选择",
    review_intro: "确认无误后提交。选票提交后不能更改。",
    change_button: "返回修改",
    submit_button: "提交选票",
    submit_without_review: "提交选票（不经核对）",
    not_marked: "未选择",
    not_on_roster_title: "您不在本次测评的名单上",
    not_on_roster_body: "只有安排会议时名单上的人员可以投票。如有疑问，请联系常委会办事机构。",
    not_present_title: "您未被登记为出席",
    not_present_body: "投票前须经点名登记出席。请告知会议工作人员为您登记。",
    not_open_title: "现在不能投票",
    not_open_body: "本轮投票尚未开始或已经结束。投票开始后，刷新本页即可投票。",
    voted_title: "您已投票",
    voted_body: "您在本轮的选票已经记录。每人每轮只能投一票，服务器不会接受第二张选票。",
    receipt_title: "选票已记录",
    receipt_intro: "请抄下回执编码或拍下二维码。结果公布后，可以用它核对您的选票是否计入。回执只显示这一次。",
    receipt_label: "回执编码",
    receipt_qr_label: "回执的二维码",
    receipt_check_link: "核对回执",
    receipt_again_body: "回执只在提交后显示一次，不能再次显示。您的选票已计入本轮，无需重新投票。",
    ballot_failed_title: "选票未被接受",
    ballot_failed_body: "您的选票没有被记录。请返回投票页面重试；如果仍然不行，请告知会议工作人员。",
    reason: "原因",
    back_to_ballot: "返回投票页面",
    live: "实时",
};

/// English.
pub static EN: DayText = DayText {
    sessions_title: "Evaluation sessions",
    sessions_empty: "No sessions yet.",
    meeting: "Meeting",
    date: "Date",
    phase: "Status",
    round: "Round",
    open_ballot: "Vote",
    open_console: "Console",
    open_board: "Announcement",
    home_sessions: "Evaluation sessions",
    phases: [
        "not scheduled",
        "scheduled",
        "roll called",
        "voting open",
        "voting closed",
        "tallied",
        "announced",
    ],
    grades: ["satisfied", "basically satisfied", "dissatisfied"],
    ballot_title: "Ballot",
    ballot_intro: "Choose one rating for each person. You can review your choices before \
                   submitting; a submitted ballot cannot be changed.",
    post: "Post",
    organ: "Organ",
    review_button: "Review my choices",
    review_title: "Check your choices",
    review_intro: "Submit when they are right. A submitted ballot cannot be changed.",
    change_button: "Change",
    submit_button: "Submit my ballot",
    submit_without_review: "Submit my ballot (without review)",
    not_marked: "not marked",
    not_on_roster_title: "You are not on this session's roster",
    not_on_roster_body: "Only those on the roster when the session was scheduled vote. Ask the \
                         committee's office if you think you should be.",
    not_present_title: "You are not recorded as present",
    not_present_body: "Voters are recorded present at the roll call before voting. Ask the \
                       clerk to record you.",
    not_open_title: "Voting is not open",
    not_open_body: "This round has not opened yet, or has closed. Reload this page once voting \
                    opens.",
    voted_title: "You have voted",
    voted_body: "Your ballot for this round is recorded. Everyone votes once per round; the \
                 server refuses a second ballot.",
    receipt_title: "Your ballot is recorded",
    receipt_intro: "Write down the receipt or photograph its QR code. Once the result is \
                    announced, it checks that your ballot was counted. It is shown only now.",
    receipt_label: "Receipt",
    receipt_qr_label: "The receipt as a QR code",
    receipt_check_link: "Check a receipt",
    receipt_again_body: "The receipt is shown once, right after submitting, and cannot be shown \
                         again. Your ballot counts in this round; there is nothing more to do.",
    ballot_failed_title: "The ballot was not accepted",
    ballot_failed_body: "Your ballot was not recorded. Go back to the ballot and try again; if \
                         it still fails, tell the clerk.",
    reason: "Reason",
    back_to_ballot: "Back to the ballot",
    live: "live",
};
