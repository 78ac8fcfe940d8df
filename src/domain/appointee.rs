//! The appointee (任命人员): an official appointed by a committee, their post in an organ, and the
//! end of their term. Supervision after appointment addresses these people, so every visit,
//! finding and report may point here.
//!
//! Stream: `appointee-<appointee id>`.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::ids::{AppointeeId, CommitteeId};
use super::lookup::{AppointeeFacts, CommitteeRef};
use super::{Aggregate, Context, DomainEvent, Rejection, validate};

/// The kind of state organ an appointee works in (一府两院 and the supervisory commission).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganKind {
    /// 人民政府 and its departments.
    Government,
    /// 人民法院.
    Court,
    /// 人民检察院.
    Procuratorate,
    /// 监察委员会.
    SupervisoryCommission,
}

/// How a term ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TermEndKind {
    /// 免职 / 撤职.
    Removal,
    /// 辞职.
    Resignation,
    /// 调任.
    Transfer,
    /// 任期届满.
    TermEnd,
}

/// What can be asked about an appointee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppointeeCommand {
    /// Records an appointment made by the committee.
    Register {
        /// The appointee's id.
        id: AppointeeId,
        /// The appointing committee, looked up by the handler.
        committee: CommitteeRef,
        /// Full name.
        name: String,
        /// Post, e.g. 区法院副院长.
        post: String,
        /// Kind of organ.
        organ_kind: OrganKind,
        /// Name of the organ, e.g. 香坊区人民法院.
        organ_name: String,
        /// Day the appointment took effect.
        appointed_on: NaiveDate,
        /// The meeting that appointed them, e.g. 区十六届人大常委会第五次会议.
        appointing_meeting: String,
    },
    /// Records a new post within the same term of supervision.
    ChangePost {
        /// The new post.
        post: String,
        /// The organ, when it changes too.
        organ_name: Option<String>,
        /// Day the change took effect.
        on: NaiveDate,
        /// The meeting that decided it.
        appointing_meeting: String,
    },
    /// Ends the term.
    EndTerm {
        /// How it ended.
        kind: TermEndKind,
        /// Last day in office.
        on: NaiveDate,
        /// Why (the decision or letter).
        reason: String,
    },
}

/// What happened to an appointee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AppointeeEvent {
    /// An appointment was recorded.
    #[serde(rename = "AppointeeRegistered.v1")]
    Registered {
        /// The appointee.
        appointee: AppointeeId,
        /// The appointing committee.
        committee: CommitteeId,
        /// Full name.
        name: String,
        /// Post.
        post: String,
        /// Kind of organ.
        organ_kind: OrganKind,
        /// Name of the organ.
        organ_name: String,
        /// Day the appointment took effect.
        appointed_on: NaiveDate,
        /// The appointing meeting.
        appointing_meeting: String,
    },
    /// The appointee moved to another post.
    #[serde(rename = "AppointeePostChanged.v1")]
    PostChanged {
        /// The appointee.
        appointee: AppointeeId,
        /// The committee.
        committee: CommitteeId,
        /// The post held until now.
        previous_post: String,
        /// The new post.
        post: String,
        /// The organ after the change (unchanged or new).
        organ_name: String,
        /// Day the change took effect.
        on: NaiveDate,
        /// The meeting that decided it.
        appointing_meeting: String,
    },
    /// The term ended.
    #[serde(rename = "AppointeeTermEnded.v1")]
    TermEnded {
        /// The appointee.
        appointee: AppointeeId,
        /// The committee.
        committee: CommitteeId,
        /// How it ended.
        kind: TermEndKind,
        /// Last day in office.
        on: NaiveDate,
        /// Why.
        reason: String,
    },
}

impl DomainEvent for AppointeeEvent {
    fn event_type(&self) -> &'static str {
        match self {
            AppointeeEvent::Registered { .. } => "AppointeeRegistered.v1",
            AppointeeEvent::PostChanged { .. } => "AppointeePostChanged.v1",
            AppointeeEvent::TermEnded { .. } => "AppointeeTermEnded.v1",
        }
    }
}

/// The registered appointment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    /// The appointee.
    pub id: AppointeeId,
    /// The committee.
    pub committee: CommitteeId,
    /// Current post.
    pub post: String,
    /// Current organ.
    pub organ_name: String,
    /// Start of the term.
    pub appointed_on: NaiveDate,
    /// Day of the latest post change (a later change or the end cannot predate it).
    pub last_change_on: NaiveDate,
    /// How and when the term ended, if it has.
    pub ended: Option<(TermEndKind, NaiveDate)>,
}

/// An appointee as far as deciding needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Appointee {
    /// The appointment, once registered.
    pub appointment: Option<Appointment>,
}

impl Appointee {
    /// What other commands need to know; `None` before registration.
    pub fn facts(&self) -> Option<AppointeeFacts> {
        self.appointment.as_ref().map(|a| AppointeeFacts {
            committee: a.committee.clone(),
            in_office: a.ended.is_none(),
        })
    }

    /// The running appointment, or why there is none.
    fn in_office(&self) -> Result<&Appointment, Rejection> {
        let appointment = self
            .appointment
            .as_ref()
            .ok_or_else(|| Rejection::NotFound("appointee does not exist".into()))?;
        if let Some((kind, on)) = appointment.ended {
            return Err(Rejection::precondition(format!(
                "appointee {}'s term ended on {on} ({})",
                appointment.id,
                term_end_name(kind)
            )));
        }
        Ok(appointment)
    }
}

fn term_end_name(kind: TermEndKind) -> &'static str {
    match kind {
        TermEndKind::Removal => "removal",
        TermEndKind::Resignation => "resignation",
        TermEndKind::Transfer => "transfer",
        TermEndKind::TermEnd => "term end",
    }
}

impl Aggregate for Appointee {
    type Command = AppointeeCommand;
    type Event = AppointeeEvent;

    fn decide(
        &self,
        command: &AppointeeCommand,
        _ctx: &Context,
    ) -> Result<Vec<AppointeeEvent>, Rejection> {
        match command {
            AppointeeCommand::Register {
                id,
                committee,
                name,
                post,
                organ_kind,
                organ_name,
                appointed_on,
                appointing_meeting,
            } => {
                validate::name("name", name)?;
                validate::name("post", post)?;
                validate::name("organ_name", organ_name)?;
                validate::name("appointing_meeting", appointing_meeting)?;
                if let Some(existing) = &self.appointment {
                    return Err(Rejection::precondition(format!(
                        "appointee {} is already registered",
                        existing.id
                    )));
                }
                committee.require("committee")?;
                Ok(vec![AppointeeEvent::Registered {
                    appointee: id.clone(),
                    committee: committee.id.clone(),
                    name: name.clone(),
                    post: post.clone(),
                    organ_kind: *organ_kind,
                    organ_name: organ_name.clone(),
                    appointed_on: *appointed_on,
                    appointing_meeting: appointing_meeting.clone(),
                }])
            }
            AppointeeCommand::ChangePost {
                post,
                organ_name,
                on,
                appointing_meeting,
            } => {
                validate::name("post", post)?;
                if let Some(organ_name) = organ_name {
                    validate::name("organ_name", organ_name)?;
                }
                validate::name("appointing_meeting", appointing_meeting)?;
                let current = self.in_office()?;
                if *on < current.last_change_on {
                    return Err(Rejection::invalid(
                        "on",
                        format!("must not be before {}", current.last_change_on),
                    ));
                }
                let organ_name = organ_name
                    .clone()
                    .unwrap_or_else(|| current.organ_name.clone());
                if *post == current.post && organ_name == current.organ_name {
                    return Err(Rejection::precondition("the post is unchanged"));
                }
                Ok(vec![AppointeeEvent::PostChanged {
                    appointee: current.id.clone(),
                    committee: current.committee.clone(),
                    previous_post: current.post.clone(),
                    post: post.clone(),
                    organ_name,
                    on: *on,
                    appointing_meeting: appointing_meeting.clone(),
                }])
            }
            AppointeeCommand::EndTerm { kind, on, reason } => {
                validate::text("reason", reason)?;
                let current = self.in_office()?;
                if *on < current.appointed_on {
                    return Err(Rejection::invalid(
                        "on",
                        format!(
                            "must not be before the appointment on {}",
                            current.appointed_on
                        ),
                    ));
                }
                if *on < current.last_change_on {
                    return Err(Rejection::invalid(
                        "on",
                        format!(
                            "must not be before the last post change on {}",
                            current.last_change_on
                        ),
                    ));
                }
                Ok(vec![AppointeeEvent::TermEnded {
                    appointee: current.id.clone(),
                    committee: current.committee.clone(),
                    kind: *kind,
                    on: *on,
                    reason: reason.clone(),
                }])
            }
        }
    }

    fn apply(&mut self, event: &AppointeeEvent) {
        match event {
            AppointeeEvent::Registered {
                appointee,
                committee,
                post,
                organ_name,
                appointed_on,
                ..
            } => {
                self.appointment = Some(Appointment {
                    id: appointee.clone(),
                    committee: committee.clone(),
                    post: post.clone(),
                    organ_name: organ_name.clone(),
                    appointed_on: *appointed_on,
                    last_change_on: *appointed_on,
                    ended: None,
                });
            }
            AppointeeEvent::PostChanged {
                post,
                organ_name,
                on,
                ..
            } => {
                if let Some(a) = &mut self.appointment {
                    a.post = post.clone();
                    a.organ_name = organ_name.clone();
                    a.last_change_on = *on;
                }
            }
            AppointeeEvent::TermEnded { kind, on, .. } => {
                if let Some(a) = &mut self.appointment {
                    a.ended = Some((*kind, *on));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::committee::CommitteeLevel;
    use crate::domain::lookup::CommitteeFacts;
    use crate::domain::testing::{day, given, noon};

    fn cid() -> CommitteeId {
        CommitteeId::parse("xiangfang").unwrap()
    }

    fn aid() -> AppointeeId {
        AppointeeId::parse("a1").unwrap()
    }

    fn committee() -> CommitteeRef {
        CommitteeRef::found(
            cid(),
            CommitteeFacts {
                level: CommitteeLevel::District,
            },
        )
    }

    fn register(committee: CommitteeRef) -> AppointeeCommand {
        AppointeeCommand::Register {
            id: aid(),
            committee,
            name: "李四".into(),
            post: "区法院副院长".into(),
            organ_kind: OrganKind::Court,
            organ_name: "香坊区人民法院".into(),
            appointed_on: day(2017, 1, 10),
            appointing_meeting: "第五次会议".into(),
        }
    }

    fn registered() -> AppointeeEvent {
        AppointeeEvent::Registered {
            appointee: aid(),
            committee: cid(),
            name: "李四".into(),
            post: "区法院副院长".into(),
            organ_kind: OrganKind::Court,
            organ_name: "香坊区人民法院".into(),
            appointed_on: day(2017, 1, 10),
            appointing_meeting: "第五次会议".into(),
        }
    }

    fn change(post: &str, on: NaiveDate) -> AppointeeCommand {
        AppointeeCommand::ChangePost {
            post: post.into(),
            organ_name: None,
            on,
            appointing_meeting: "第七次会议".into(),
        }
    }

    fn end(on: NaiveDate) -> AppointeeCommand {
        AppointeeCommand::EndTerm {
            kind: TermEndKind::Transfer,
            on,
            reason: "调任市法院".into(),
        }
    }

    fn ended() -> AppointeeEvent {
        AppointeeEvent::TermEnded {
            appointee: aid(),
            committee: cid(),
            kind: TermEndKind::Transfer,
            on: day(2017, 11, 30),
            reason: "调任市法院".into(),
        }
    }

    #[test]
    fn an_appointment_is_registered() {
        let state = given::<Appointee>(vec![])
            .when(register(committee()))
            .then_events(vec![registered()]);
        assert_eq!(
            state.facts(),
            Some(AppointeeFacts {
                committee: cid(),
                in_office: true
            })
        );
    }

    #[test]
    fn a_duplicate_registration_is_refused() {
        given::<Appointee>(vec![registered()])
            .when(register(committee()))
            .then_precondition("already registered");
    }

    #[test]
    fn an_unknown_committee_is_refused() {
        given::<Appointee>(vec![])
            .when(register(CommitteeRef::missing(cid())))
            .then_not_found("committee xiangfang does not exist");
    }

    #[test]
    fn a_registration_without_a_post_is_refused() {
        let mut command = register(committee());
        if let AppointeeCommand::Register { post, .. } = &mut command {
            post.clear();
        }
        given::<Appointee>(vec![])
            .when(command)
            .then_invalid("post");
    }

    #[test]
    fn a_post_is_changed_and_the_event_keeps_the_previous_one() {
        given::<Appointee>(vec![registered()])
            .when(change("区法院院长", day(2017, 6, 1)))
            .then_events(vec![AppointeeEvent::PostChanged {
                appointee: aid(),
                committee: cid(),
                previous_post: "区法院副院长".into(),
                post: "区法院院长".into(),
                organ_name: "香坊区人民法院".into(),
                on: day(2017, 6, 1),
                appointing_meeting: "第七次会议".into(),
            }]);
    }

    #[test]
    fn an_unchanged_post_is_refused() {
        given::<Appointee>(vec![registered()])
            .when(change("区法院副院长", day(2017, 6, 1)))
            .then_precondition("unchanged");
    }

    #[test]
    fn a_post_change_before_the_appointment_is_refused() {
        given::<Appointee>(vec![registered()])
            .when(change("区法院院长", day(2016, 6, 1)))
            .then_invalid("on");
    }

    #[test]
    fn a_post_change_of_an_unknown_appointee_is_refused() {
        given::<Appointee>(vec![])
            .when(change("区法院院长", day(2017, 6, 1)))
            .then_not_found("appointee");
    }

    #[test]
    fn a_term_is_ended() {
        // Who records it and when does not change the event: the log's metadata carries both.
        let state = given::<Appointee>(vec![registered()])
            .by("clerk-2")
            .at(noon(2017, 12, 1))
            .when(end(day(2017, 11, 30)))
            .then_events(vec![ended()]);
        assert_eq!(state.facts().map(|f| f.in_office), Some(false));
    }

    #[test]
    fn a_term_ending_before_it_starts_is_refused() {
        given::<Appointee>(vec![registered()])
            .when(end(day(2016, 12, 31)))
            .then_invalid("on");
    }

    #[test]
    fn a_term_ending_before_the_last_post_change_is_refused() {
        let changed = AppointeeEvent::PostChanged {
            appointee: aid(),
            committee: cid(),
            previous_post: "区法院副院长".into(),
            post: "区法院院长".into(),
            organ_name: "香坊区人民法院".into(),
            on: day(2017, 6, 1),
            appointing_meeting: "第七次会议".into(),
        };
        given::<Appointee>(vec![registered(), changed])
            .when(end(day(2017, 5, 1)))
            .then_invalid("on");
    }

    #[test]
    fn ending_a_term_without_a_reason_is_refused() {
        given::<Appointee>(vec![registered()])
            .when(AppointeeCommand::EndTerm {
                kind: TermEndKind::Resignation,
                on: day(2017, 11, 30),
                reason: "".into(),
            })
            .then_invalid("reason");
    }

    #[test]
    fn an_ended_term_cannot_end_again() {
        given::<Appointee>(vec![registered(), ended()])
            .when(end(day(2017, 12, 1)))
            .then_precondition("term ended on 2017-11-30 (transfer)");
    }

    #[test]
    fn an_ended_term_cannot_change_post() {
        given::<Appointee>(vec![registered(), ended()])
            .when(change("区法院院长", day(2017, 12, 1)))
            .then_precondition("term ended");
    }

    #[test]
    fn ending_the_term_of_an_unknown_appointee_is_refused() {
        given::<Appointee>(vec![])
            .when(end(day(2017, 12, 1)))
            .then_not_found("appointee");
    }

    #[test]
    fn every_required_text_of_a_registration_is_checked() {
        let blank = |field: &str| {
            let mut command = register(committee());
            if let AppointeeCommand::Register {
                name,
                post,
                organ_name,
                appointing_meeting,
                ..
            } = &mut command
            {
                match field {
                    "name" => name.clear(),
                    "post" => post.clear(),
                    "organ_name" => organ_name.clear(),
                    _ => appointing_meeting.clear(),
                }
            }
            command
        };
        for field in ["name", "post", "organ_name", "appointing_meeting"] {
            given::<Appointee>(vec![])
                .when(blank(field))
                .then_invalid(field);
        }
    }

    #[test]
    fn every_required_text_of_a_post_change_is_checked() {
        given::<Appointee>(vec![registered()])
            .when(change("", day(2017, 6, 1)))
            .then_invalid("post");
        given::<Appointee>(vec![registered()])
            .when(AppointeeCommand::ChangePost {
                post: "区法院院长".into(),
                organ_name: Some(" ".into()),
                on: day(2017, 6, 1),
                appointing_meeting: "第七次会议".into(),
            })
            .then_invalid("organ_name");
        given::<Appointee>(vec![registered()])
            .when(AppointeeCommand::ChangePost {
                post: "区法院院长".into(),
                organ_name: None,
                on: day(2017, 6, 1),
                appointing_meeting: "".into(),
            })
            .then_invalid("appointing_meeting");
    }

    #[test]
    fn a_move_to_another_organ_in_the_same_post_title_is_a_change() {
        given::<Appointee>(vec![registered()])
            .when(AppointeeCommand::ChangePost {
                post: "区法院副院长".into(),
                organ_name: Some("道外区人民法院".into()),
                on: day(2017, 6, 1),
                appointing_meeting: "第七次会议".into(),
            })
            .then_ok();
    }
}
