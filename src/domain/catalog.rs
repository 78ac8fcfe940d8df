//! The catalogue of supervision events: which aggregate a stream belongs to (by the prefixes of
//! `ids`), and decoding of a stored record back into a typed event, for handlers and projections.
//!
//! Decoding goes by stream, not by event type, because the stream prefix names the aggregate and
//! every record has one; the event's own `type` tag then selects the variant. A stream of another
//! layer (e.g. evaluation sessions) decodes to `None`, so a projection can skip what it does not
//! know.

use serde::Serialize;

use super::DomainEvent;
use super::annual_plan::AnnualPlanEvent;
use super::appointee::AppointeeEvent;
use super::committee::CommitteeEvent;
use super::deputy_group::DeputyGroupEvent;
use super::finding::FindingEvent;
use super::hearing::{DutyReportEvent, FeedbackEvent};
use super::inspection::InspectionEvent;
use super::visit::VisitEvent;

/// The aggregates of this layer, each with its stream prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateKind {
    /// `committee-`.
    Committee,
    /// `appointee-`.
    Appointee,
    /// `group-`.
    DeputyGroup,
    /// `visit-`.
    Visit,
    /// `inspection-`.
    Inspection,
    /// `plan-`.
    AnnualPlan,
    /// `finding-`.
    Finding,
    /// `duty-report-`.
    DutyReport,
    /// `feedback-`.
    Feedback,
}

impl AggregateKind {
    /// Every kind.
    pub const ALL: [AggregateKind; 9] = [
        AggregateKind::Committee,
        AggregateKind::Appointee,
        AggregateKind::DeputyGroup,
        AggregateKind::Visit,
        AggregateKind::Inspection,
        AggregateKind::AnnualPlan,
        AggregateKind::Finding,
        AggregateKind::DutyReport,
        AggregateKind::Feedback,
    ];

    /// The stream-name prefix, including the `-` separator. No prefix is a prefix of another.
    pub fn prefix(self) -> &'static str {
        match self {
            AggregateKind::Committee => "committee-",
            AggregateKind::Appointee => "appointee-",
            AggregateKind::DeputyGroup => "group-",
            AggregateKind::Visit => "visit-",
            AggregateKind::Inspection => "inspection-",
            AggregateKind::AnnualPlan => "plan-",
            AggregateKind::Finding => "finding-",
            AggregateKind::DutyReport => "duty-report-",
            AggregateKind::Feedback => "feedback-",
        }
    }

    /// The kind a stream belongs to, if it is one of this layer's.
    pub fn of_stream(stream: &str) -> Option<AggregateKind> {
        AggregateKind::ALL
            .into_iter()
            .find(|kind| stream.starts_with(kind.prefix()))
    }
}

/// Any event of this layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SupervisionEvent {
    /// Of a committee.
    Committee(CommitteeEvent),
    /// Of an appointee.
    Appointee(AppointeeEvent),
    /// Of a deputy group.
    DeputyGroup(DeputyGroupEvent),
    /// Of a site visit.
    Visit(VisitEvent),
    /// Of an inspection.
    Inspection(InspectionEvent),
    /// Of an annual plan.
    AnnualPlan(AnnualPlanEvent),
    /// Of a finding.
    Finding(FindingEvent),
    /// Of a duty report.
    DutyReport(DutyReportEvent),
    /// Of a batch of stakeholder feedback.
    Feedback(FeedbackEvent),
}

impl SupervisionEvent {
    /// Decodes a stored record: `Ok(None)` when the stream belongs to another layer, an error when
    /// the data is not an event of the stream's aggregate.
    pub fn decode(
        stream: &str,
        data: &[u8],
    ) -> Result<Option<SupervisionEvent>, serde_json::Error> {
        let Some(kind) = AggregateKind::of_stream(stream) else {
            return Ok(None);
        };
        let event = match kind {
            AggregateKind::Committee => SupervisionEvent::Committee(serde_json::from_slice(data)?),
            AggregateKind::Appointee => SupervisionEvent::Appointee(serde_json::from_slice(data)?),
            AggregateKind::DeputyGroup => {
                SupervisionEvent::DeputyGroup(serde_json::from_slice(data)?)
            }
            AggregateKind::Visit => SupervisionEvent::Visit(VisitEvent::from_json(data)?),
            AggregateKind::Inspection => {
                SupervisionEvent::Inspection(serde_json::from_slice(data)?)
            }
            AggregateKind::AnnualPlan => {
                SupervisionEvent::AnnualPlan(serde_json::from_slice(data)?)
            }
            AggregateKind::Finding => SupervisionEvent::Finding(FindingEvent::from_json(data)?),
            AggregateKind::DutyReport => {
                SupervisionEvent::DutyReport(serde_json::from_slice(data)?)
            }
            AggregateKind::Feedback => SupervisionEvent::Feedback(serde_json::from_slice(data)?),
        };
        Ok(Some(event))
    }

    /// The versioned type name, as stored in the log.
    pub fn event_type(&self) -> &'static str {
        match self {
            SupervisionEvent::Committee(e) => e.event_type(),
            SupervisionEvent::Appointee(e) => e.event_type(),
            SupervisionEvent::DeputyGroup(e) => e.event_type(),
            SupervisionEvent::Visit(e) => e.event_type(),
            SupervisionEvent::Inspection(e) => e.event_type(),
            SupervisionEvent::AnnualPlan(e) => e.event_type(),
            SupervisionEvent::Finding(e) => e.event_type(),
            SupervisionEvent::DutyReport(e) => e.event_type(),
            SupervisionEvent::Feedback(e) => e.event_type(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::committee::CommitteeLevel;
    use crate::domain::ids::{CommitteeId, committee_stream};

    #[test]
    fn no_prefix_shadows_another() {
        for a in AggregateKind::ALL {
            for b in AggregateKind::ALL {
                if a != b {
                    assert!(!a.prefix().starts_with(b.prefix()), "{a:?} / {b:?}");
                }
            }
            assert_eq!(
                AggregateKind::of_stream(&format!("{}x", a.prefix())),
                Some(a)
            );
        }
    }

    #[test]
    fn a_stored_event_decodes_by_its_stream() {
        let id = CommitteeId::parse("xiangfang").unwrap();
        let event = CommitteeEvent::Created {
            committee: id.clone(),
            name: "香坊区人大常委会".into(),
            level: CommitteeLevel::District,
            parent: None,
        };
        let data = serde_json::to_vec(&event).unwrap();
        let decoded = SupervisionEvent::decode(&committee_stream(&id), &data)
            .unwrap()
            .unwrap();
        assert_eq!(decoded, SupervisionEvent::Committee(event));
        assert_eq!(decoded.event_type(), "CommitteeCreated.v1");
        // Serialising the wrapper writes the inner event unchanged.
        assert_eq!(serde_json::to_vec(&decoded).unwrap(), data);
    }

    #[test]
    fn other_layers_streams_are_skipped_and_foreign_data_is_an_error() {
        assert_eq!(SupervisionEvent::decode("session-s1", b"{}").unwrap(), None);
        assert!(
            SupervisionEvent::decode("finding-f1", br#"{"type":"CommitteeCreated.v1"}"#).is_err()
        );
    }
}
