//! What a scenario judges as a whole: the requirements its steps name, those
//! the per-message and stream checks judge in its role, and so the covered
//! requirements nothing in it could judge (a scenario that would report them
//! without evidence).

use super::{reply, request, stream, wire};
use crate::scenario::model::{CloseKind, Role, Scenario, Step};

/// The requirements `step`, in a scenario where the harness plays `role`,
/// can find broken: those it names, and a server's graceful close for an
/// `expect-close` of a kind (a requestor's close is judged by the step's
/// own requirement). A step that judges none is set-up.
pub fn judged_by(role: Role, step: &Step) -> Vec<&str> {
    let mut out = step.judges();
    if let Step::ExpectClose(e) = step {
        if e.how != CloseKind::Any {
            out.extend(stream::graceful_close(role));
        }
    }
    out
}

/// Every requirement judged on each message or stream a harness playing
/// `role` receives.
pub fn judged_on_every_message_in(role: Role) -> Vec<&'static str> {
    let construction = match role {
        Role::Requestor => reply::CHECKS,
        Role::Server => request::CHECKS,
    };
    let mut all: Vec<&'static str> = construction
        .iter()
        .chain(wire::CHECKS)
        .map(|c| c.requirement)
        .chain([stream::framing(role)])
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// The covered requirements of `scenario` that no step judges and no check
/// judges on what its role receives.
pub fn unjudged(scenario: &Scenario) -> Vec<&str> {
    let every_message = judged_on_every_message_in(scenario.role);
    let by_steps: Vec<&str> = scenario
        .steps
        .iter()
        .flat_map(|step| judged_by(scenario.role, step))
        .collect();
    scenario
        .covers
        .iter()
        .map(String::as_str)
        .filter(|id| !by_steps.contains(id) && !every_message.contains(id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::load::parse_scenario;
    use std::path::Path;

    fn scenario(covers: &str, steps: &str) -> Scenario {
        let text = format!(
            "id = \"ALQ-R-13-x\"\ntitle = \"t\"\nrole = \"server\"\ncovers = {covers}\n{steps}"
        );
        parse_scenario(Path::new("x.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_covered_requirement_no_step_names_is_unjudged() {
        let s = scenario(
            r#"["ALQ-R-13", "ALQ-R-06"]"#,
            "[[step]]\naccept = {}\n[[step]]\nexpect = { type = \"DHCPTLS\", requirement = \"ALQ-R-08\" }\n",
        );
        // accept names nothing: it is set-up, and judges neither.
        assert_eq!(unjudged(&s), ["ALQ-R-13", "ALQ-R-06"]);
    }

    #[test]
    fn a_requirement_checked_on_every_message_of_the_role_is_judged() {
        let request_check = request::CHECKS[0].requirement;
        let reply_check = reply::CHECKS[0].requirement;
        let covers = format!(r#"["ALQ-R-13", "{request_check}", "WIRE-02", "{reply_check}"]"#);
        let s = scenario(
            &covers,
            "[[step]]\naccept = { requirement = \"ALQ-R-13\" }\n",
        );
        // A harness playing the server judges requests, never replies.
        assert_eq!(unjudged(&s), [reply_check]);
    }

    #[test]
    fn an_expect_close_of_a_kind_judges_a_servers_graceful_close_only() {
        let server = |close: &str| {
            let text = format!(
                "id = \"ALQ-S-38-x\"\ntitle = \"t\"\nrole = \"requestor\"\ncovers = [\"ALQ-S-38\", \"BLQ-S-38\"]\n[[step]]\nconnect = {{}}\n[[step]]\nexpect-close = {{ {close}requirement = \"ALQ-S-38\" }}\n"
            );
            parse_scenario(Path::new("x.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
        };
        assert!(unjudged(&server("how = \"fin\", ")).is_empty());
        assert_eq!(unjudged(&server("")), ["BLQ-S-38"]);
        // A requestor's close is not a server's: BLQ-S-38 stays unjudged.
        let requestor = scenario(
            r#"["ALQ-R-13", "BLQ-S-38"]"#,
            "[[step]]\naccept = { requirement = \"ALQ-R-13\" }\n[[step]]\nexpect-close = { how = \"fin\" }\n",
        );
        assert_eq!(unjudged(&requestor), ["BLQ-S-38"]);
    }
}
