//! Test support: given (events) / when (command) / then (events or rejection), with a fixed clock
//! and principal so that expected events can be written out literally.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::{Aggregate, Context, Rejection};

/// The fixed "now" of the tests: the day the seed article was published.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2017, 12, 23, 10, 0, 0).unwrap()
}

/// A calendar date.
pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A moment at noon UTC on a calendar date.
pub fn noon(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
}

/// The default context: the clerk acting at [`now`].
pub fn ctx() -> Context {
    Context {
        now: now(),
        actor: "clerk-1".into(),
        role: crate::domain::Role::Clerk,
    }
}

/// Starts a scenario from the events already in the stream.
pub fn given<A: Aggregate>(events: Vec<A::Event>) -> Given<A> {
    Given {
        state: A::replay(events.iter()),
        ctx: ctx(),
    }
}

/// A state and the context the next command will be decided in.
pub struct Given<A: Aggregate> {
    state: A,
    ctx: Context,
}

impl<A: Aggregate> Given<A> {
    /// Acts as someone else.
    pub fn by(mut self, actor: &str) -> Self {
        self.ctx.actor = actor.into();
        self
    }

    /// Decides at another moment.
    pub fn at(mut self, now: DateTime<Utc>) -> Self {
        self.ctx.now = now;
        self
    }

    /// Decides a command.
    pub fn when(self, command: A::Command) -> Then<A> {
        let result = self.state.decide(&command, &self.ctx);
        Then {
            state: self.state,
            result,
        }
    }
}

/// The outcome of a decision.
pub struct Then<A: Aggregate> {
    state: A,
    result: Result<Vec<A::Event>, Rejection>,
}

impl<A: Aggregate> Then<A>
where
    A::Event: PartialEq,
{
    /// Expects exactly these events; returns the state after applying them.
    pub fn then_events(self, expected: Vec<A::Event>) -> A {
        match self.result {
            Ok(events) => {
                assert_eq!(events, expected);
                let mut state = self.state;
                for event in &events {
                    state.apply(event);
                }
                state
            }
            Err(rejection) => panic!("expected events, got rejection: {rejection:?}"),
        }
    }

    /// Expects events and returns them (for when only some of their fields matter).
    pub fn then_ok(self) -> Vec<A::Event> {
        match self.result {
            Ok(events) => events,
            Err(rejection) => panic!("expected events, got rejection: {rejection:?}"),
        }
    }

    /// Expects exactly this rejection.
    pub fn then_rejects(self, expected: Rejection) {
        match self.result {
            Ok(events) => panic!("expected {expected:?}, got events: {events:?}"),
            Err(rejection) => assert_eq!(rejection, expected),
        }
    }

    /// Expects a malformed-input rejection naming `field`.
    pub fn then_invalid(self, field: &str) {
        match self.result {
            Err(Rejection::Invalid { field: f, rule }) => {
                assert_eq!(f, field, "rule was: {rule}");
                assert_eq!(rule, rule.to_lowercase(), "rules are lowercase");
            }
            other => panic!("expected invalid {field}, got {other:?}"),
        }
    }

    /// Expects a broken-rule rejection whose message contains `needle`.
    pub fn then_precondition(self, needle: &str) {
        match self.result {
            Err(Rejection::Precondition(message)) => {
                assert!(message.contains(needle), "{message:?} lacks {needle:?}");
                assert_eq!(message, message.to_lowercase(), "messages are lowercase");
            }
            other => panic!("expected precondition {needle:?}, got {other:?}"),
        }
    }

    /// Expects a not-found rejection whose message contains `needle`.
    pub fn then_not_found(self, needle: &str) {
        match self.result {
            Err(Rejection::NotFound(message)) => {
                assert!(message.contains(needle), "{message:?} lacks {needle:?}");
            }
            other => panic!("expected not found {needle:?}, got {other:?}"),
        }
    }
}

/// `json` (an object written by serde, tag first) without its top-level member `name`, the other
/// members left in their order.
pub fn without_member(json: &str, name: &str) -> String {
    let opening = format!(r#""{name}":"#);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut start = None;
    for (i, c) in json.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' if depth == 1 && start.is_none() && json[i..].starts_with(&opening) => {
                start = Some(i);
                in_string = true;
            }
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth -= 1;
                if depth == 0
                    && let Some(start) = start
                {
                    // The last member: drop the comma before it.
                    let before = json[..start].trim_end_matches(',');
                    return format!("{before}{}", &json[i..]);
                }
            }
            ',' if depth == 1 => {
                if let Some(start) = start {
                    return format!("{}{}", &json[..start], &json[i + 1..]);
                }
            }
            _ => {}
        }
    }
    panic!("no member {name:?} in {json}");
}
