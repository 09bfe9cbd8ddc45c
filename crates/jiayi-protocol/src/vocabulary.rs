//! The protocol's record kinds, op actions and review-item states as types (docs/sync-protocol.md, "Entities
//! and actions"). A pushed op keeps its `entity` and `action` as sent, so an unknown one
//! is refused and quarantined like any other bad op rather than failing the batch; the
//! code that acts on an op parses them into these and matches exhaustively.

/// A kind of record a tablet syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    /// 居民: a resident's record.
    Resident,
    /// 签约: a service contract.
    Contract,
    /// 随访: a follow-up or other visit.
    Visit,
    /// 满意度调查: a survey response.
    Survey,
    /// 未签约: why a resident did not sign.
    NotSigned,
    /// 转诊: a referral up to a hospital or down to the team.
    Referral,
}

impl Entity {
    /// Every kind, in the order bootstrap sends them (parents before children).
    pub const ALL: [Entity; 6] = [
        Entity::Resident,
        Entity::Contract,
        Entity::Visit,
        Entity::Survey,
        Entity::NotSigned,
        Entity::Referral,
    ];

    /// The kind named on the wire, if the protocol knows it.
    pub fn parse(s: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Entity::Resident => "resident",
            Entity::Contract => "contract",
            Entity::Visit => "visit",
            Entity::Survey => "survey",
            Entity::NotSigned => "not_signed",
            Entity::Referral => "referral",
        }
    }
}

/// What an op does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new record.
    Create,
    /// Changed fields of a resident.
    Update,
    /// A contract's or referral's change of state.
    Transition,
    /// A correcting visit, survey or referral that replaces another.
    Amend,
    /// A tombstone.
    Delete,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 5] = [
        Action::Create,
        Action::Update,
        Action::Transition,
        Action::Amend,
        Action::Delete,
    ];

    /// The action named on the wire, if the protocol knows it.
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Transition => "transition",
            Action::Amend => "amend",
            Action::Delete => "delete",
        }
    }
}

/// Where a review item stands (conflicts and quarantined ops alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    /// Waiting for a reviewer's decision.
    Open,
    /// Decided.
    Resolved,
}

impl ItemStatus {
    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Open => "open",
            ItemStatus::Resolved => "resolved",
        }
    }

    /// The status named, if it is one.
    pub fn parse(s: &str) -> Option<ItemStatus> {
        [ItemStatus::Open, ItemStatus::Resolved]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::{Action, Entity, ItemStatus};

    #[test]
    fn wire_names_round_trip_and_unknown_ones_parse_to_nothing() {
        for e in Entity::ALL {
            assert_eq!(Entity::parse(e.as_str()), Some(e));
        }
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(ItemStatus::parse("open"), Some(ItemStatus::Open));
        assert_eq!(ItemStatus::parse("resolved"), Some(ItemStatus::Resolved));
        assert_eq!(Entity::parse("Resident"), None);
        assert_eq!(Action::parse("merge"), None);
    }
}
