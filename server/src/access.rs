//! Who may see and write what: the authorisation rules, as pure functions.
//!
//! One rule underlies everything (domain: "an agent sees only the customers assigned to them";
//! managers see their team's; nobody sees another team's): a member **reaches** themselves
//! and, if they are a manager, every member of their own team. A customer belongs to the agent
//! on its card; a day document to the agent it names. The store turns the rule into queries
//! (which documents a device syncs); the HTTP handlers ask these functions before answering,
//! and answer `404` for an object outside the caller's reach (so that its existence does not
//! leak) and `403` for an endpoint the caller's role may not use.

use std::collections::BTreeSet;

use client_core::UserId;

use crate::accounts::Member;

/// The answer to "may this caller see that?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Yes.
    Allowed,
    /// The object is outside the caller's reach: answer as if it did not exist.
    Hidden,
    /// The caller knows the object exists but their role may not see it.
    Forbidden,
}

/// Whether `caller` reaches `other`: themselves, or a member of their own team when the
/// caller manages.
pub fn reaches(caller: &Member, other: &Member) -> bool {
    caller.user == other.user || (caller.role.is_manager() && caller.team == other.team)
}

/// The users whose records `caller` may hold, given the members of the caller's team.
pub fn reachable_users(caller: &Member, team: &[Member]) -> BTreeSet<UserId> {
    let mut out: BTreeSet<UserId> = team
        .iter()
        .filter(|m| reaches(caller, m))
        .map(|m| m.user.clone())
        .collect();
    out.insert(caller.user.clone());
    out
}

/// May `caller` read a customer assigned to `owner` (`None`: assigned to nobody we know)?
pub fn customer(caller: &Member, owner: Option<&Member>) -> Access {
    match owner {
        Some(o) if reaches(caller, o) => Access::Allowed,
        _ => Access::Hidden,
    }
}

/// May `caller` read the records (visits, days) of the member `agent`?
pub fn agent_records(caller: &Member, agent: Option<&Member>) -> Access {
    match agent {
        None => Access::Hidden,
        Some(a) if a.team != caller.team => Access::Hidden,
        Some(a) if reaches(caller, a) => Access::Allowed,
        Some(_) => Access::Forbidden,
    }
}

/// May `caller` see the team's state today (a manager's screen)?
pub fn team_dashboard(caller: &Member) -> Access {
    if caller.role.is_manager() {
        Access::Allowed
    } else {
        Access::Forbidden
    }
}

/// May `caller` put a playbook in force for their whole team? It changes every agent's
/// targets at their next sync, so it is a department manager's decision (or above); a
/// supervisor leads one group of the team and may only preview one.
pub fn set_playbook(caller: &Member) -> Access {
    if caller.role >= client_core::model::Role::DepartmentManager {
        Access::Allowed
    } else {
        Access::Forbidden
    }
}

/// May `caller` add a member with `role` to their team? A manager adds people below them: a
/// supervisor their agents, a department manager supervisors and agents.
pub fn add_member(caller: &Member, role: client_core::model::Role) -> Access {
    if caller.role.is_manager() && role < caller.role {
        Access::Allowed
    } else {
        Access::Forbidden
    }
}

/// May `caller` issue a phone for `owner` (from the dashboard)? The same rule as revoking
/// one: a manager issues phones to the members of their team below them; their own, a
/// peer's or a superior's are `Forbidden`, another team's member is hidden.
pub fn issue_device(caller: &Member, owner: Option<&Member>) -> Access {
    revoke_device(caller, owner, false)
}

/// May `caller` deactivate or reactivate `member`? The same rule again: the members of their
/// team below them.
pub fn deactivate_member(caller: &Member, member: Option<&Member>) -> Access {
    revoke_device(caller, member, false)
}

/// May `caller` revoke a device of `owner` (`desk`: a manager's desk on the server, not a
/// phone)? A manager revokes the phones of the members of their team below them (a supervisor
/// their agents'); their own, a peer's or a superior's are not theirs to revoke. Another
/// team's device, or a desk, is hidden.
pub fn revoke_device(caller: &Member, owner: Option<&Member>, desk: bool) -> Access {
    match owner {
        Some(o) if !desk && o.team == caller.team => {
            if caller.role.is_manager() && o.role < caller.role {
                Access::Allowed
            } else {
                Access::Forbidden
            }
        }
        _ => Access::Hidden,
    }
}

#[cfg(test)]
mod tests {
    use client_core::model::Role;

    use super::*;

    fn m(user: &str, role: Role, team: &str) -> Member {
        Member {
            user: user.parse().unwrap(),
            name: user.into(),
            role,
            team: team.parse().unwrap(),
            reports_to: None,
        }
    }

    #[test]
    fn the_reach_rule_in_a_table() {
        let a1 = m("a1", Role::Agent, "t1");
        let a2 = m("a2", Role::Agent, "t1");
        let s1 = m("s1", Role::Supervisor, "t1");
        let b1 = m("b1", Role::Agent, "t2");
        let d2 = m("d2", Role::DistrictManager, "t2");
        use Access::*;
        let table = [
            (&a1, &a1, Allowed, Allowed),
            (&a1, &a2, Hidden, Forbidden),
            (&a1, &b1, Hidden, Hidden),
            (&s1, &a1, Allowed, Allowed),
            (&s1, &b1, Hidden, Hidden),
            (&d2, &a1, Hidden, Hidden),
            (&d2, &b1, Allowed, Allowed),
        ];
        for (caller, owner, cust, recs) in table {
            assert_eq!(customer(caller, Some(owner)), cust, "{caller:?} {owner:?}");
            assert_eq!(
                agent_records(caller, Some(owner)),
                recs,
                "{caller:?} {owner:?}"
            );
        }
        assert_eq!(customer(&s1, None), Hidden);
        assert_eq!(team_dashboard(&a1), Forbidden);
        assert_eq!(team_dashboard(&s1), Allowed);
        assert_eq!(set_playbook(&a1), Forbidden);
        assert_eq!(set_playbook(&s1), Forbidden);
        assert_eq!(
            set_playbook(&m("d1", Role::DepartmentManager, "t1")),
            Allowed
        );
        assert_eq!(set_playbook(&d2), Allowed);
        let d1 = m("d1", Role::DepartmentManager, "t1");
        let s2 = m("s2", Role::Supervisor, "t1");
        for (caller, owner, desk, want) in [
            (&s1, &a1, false, Allowed),
            (&s1, &a1, true, Hidden),
            (&s1, &s1, false, Forbidden),
            (&s1, &s2, false, Forbidden),
            (&s1, &d1, false, Forbidden),
            (&d1, &s1, false, Allowed),
            (&a1, &a2, false, Forbidden),
            (&s1, &b1, false, Hidden),
            (&d2, &a1, false, Hidden),
        ] {
            assert_eq!(
                revoke_device(caller, Some(owner), desk),
                want,
                "{caller:?} {owner:?}"
            );
        }
        assert_eq!(revoke_device(&s1, None, false), Hidden);
        assert_eq!(add_member(&s1, Role::Agent), Allowed);
        assert_eq!(add_member(&s1, Role::Supervisor), Forbidden);
        assert_eq!(add_member(&d1, Role::Supervisor), Allowed);
        assert_eq!(add_member(&a1, Role::Agent), Forbidden);
        let team = [a1.clone(), a2.clone(), s1.clone()];
        assert_eq!(reachable_users(&a1, &team).len(), 1);
        assert_eq!(reachable_users(&s1, &team).len(), 3);
    }
}
