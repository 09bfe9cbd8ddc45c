//! The protocol's closed vocabularies as types: record kinds and op actions
//! (docs/sync-protocol.md, "Entities and actions"), contract states ("Contract
//! transitions"), and the review queue's conflict kinds, item kinds, item states and
//! decisions (docs/review.md). Each has `ALL`, `parse` and `as_str`, whose text is what
//! is stored and sent. A pushed op keeps its `entity` and `action` as sent, and a request
//! its decision or state, so an unknown one is refused with its own code rather than
//! failing to deserialise; the code that acts on them parses them into these and matches
//! exhaustively.

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

/// A contract's state: what `contracts.status` stores, a pulled contract's `status` and a
/// transition's `to`. `ACTIVE` and `EXPIRED` also follow from the dates, so a stored
/// `SIGNED` reads as either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContractStatus {
    /// Being prepared, not signed.
    Draft,
    /// Signed; active or expired by date.
    Signed,
    /// In effect.
    Active,
    /// Term over.
    Expired,
    /// Ended early with a reason.
    Terminated,
    /// Replaced by a successor contract.
    Renewed,
    /// Draft abandoned.
    Cancelled,
    /// Declared void by a supervisor (fake or coerced signing).
    Voided,
    /// Second signing held for a supervisor's decision.
    PendingReview,
}

impl ContractStatus {
    /// Every state, in the order docs/sync-protocol.md lists them.
    pub const ALL: [ContractStatus; 9] = [
        ContractStatus::Draft,
        ContractStatus::Signed,
        ContractStatus::Active,
        ContractStatus::Expired,
        ContractStatus::Terminated,
        ContractStatus::Renewed,
        ContractStatus::Cancelled,
        ContractStatus::Voided,
        ContractStatus::PendingReview,
    ];

    /// The state named, if the protocol knows it.
    pub fn parse(s: &str) -> Option<ContractStatus> {
        ContractStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ContractStatus::Draft => "DRAFT",
            ContractStatus::Signed => "SIGNED",
            ContractStatus::Active => "ACTIVE",
            ContractStatus::Expired => "EXPIRED",
            ContractStatus::Terminated => "TERMINATED",
            ContractStatus::Renewed => "RENEWED",
            ContractStatus::Cancelled => "CANCELLED",
            ContractStatus::Voided => "VOIDED",
            ContractStatus::PendingReview => "PENDING_REVIEW",
        }
    }
}

/// What a sync conflict record is about (`conflicts.kind`; docs/review.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictKind {
    /// The same resident field changed on two tablets; the later clinical time won.
    FieldClash,
    /// Two contracts in effect for one resident; the later one is held for review.
    DoubleSigning,
    /// An append-only record arrived again under its id with other content, or two
    /// amendments of the same record arrived.
    DivergentAppend,
    /// The same ID number registered twice.
    DuplicateResident,
}

impl ConflictKind {
    /// Every conflict kind.
    pub const ALL: [ConflictKind; 4] = [
        ConflictKind::FieldClash,
        ConflictKind::DoubleSigning,
        ConflictKind::DivergentAppend,
        ConflictKind::DuplicateResident,
    ];

    /// The kind named, if it is one.
    pub fn parse(s: &str) -> Option<ConflictKind> {
        ConflictKind::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConflictKind::FieldClash => "field_clash",
            ConflictKind::DoubleSigning => "double_signing",
            ConflictKind::DivergentAppend => "divergent_append",
            ConflictKind::DuplicateResident => "duplicate_resident",
        }
    }
}

/// The kind of a review queue item: a conflict's kind, or one of the two sources that are
/// not conflict records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// A sync conflict record of its kind.
    Conflict(ConflictKind),
    /// An op the push refused; its raw payload is kept.
    Quarantine,
    /// A contract held `PENDING_REVIEW` that no open conflict names.
    PendingContract,
}

impl ItemKind {
    /// Every item kind, the conflict kinds first.
    pub const ALL: [ItemKind; 6] = [
        ItemKind::Conflict(ConflictKind::FieldClash),
        ItemKind::Conflict(ConflictKind::DoubleSigning),
        ItemKind::Conflict(ConflictKind::DivergentAppend),
        ItemKind::Conflict(ConflictKind::DuplicateResident),
        ItemKind::Quarantine,
        ItemKind::PendingContract,
    ];

    /// The kind named, if it is one.
    pub fn parse(s: &str) -> Option<ItemKind> {
        ItemKind::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The wire name (a conflict's is its kind's).
    pub const fn as_str(self) -> &'static str {
        match self {
            ItemKind::Conflict(k) => k.as_str(),
            ItemKind::Quarantine => "quarantine",
            ItemKind::PendingContract => "pending_contract",
        }
    }
}

impl From<ConflictKind> for ItemKind {
    fn from(k: ConflictKind) -> ItemKind {
        ItemKind::Conflict(k)
    }
}

/// Where a review item stands (conflicts and quarantined ops alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemStatus {
    /// Waiting for a reviewer's decision.
    Open,
    /// Decided.
    Resolved,
}

impl ItemStatus {
    /// Both states.
    pub const ALL: [ItemStatus; 2] = [ItemStatus::Open, ItemStatus::Resolved];

    /// The status named, if it is one.
    pub fn parse(s: &str) -> Option<ItemStatus> {
        ItemStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Open => "open",
            ItemStatus::Resolved => "resolved",
        }
    }
}

/// A supervisor's decision on a review item (docs/review.md): which ones an item takes
/// depends on its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Keep what the server holds (a field clash: the server side's values stand).
    KeepServer,
    /// Apply the tablet's side of a field clash.
    KeepClient,
    /// Take the held contract into effect, or re-apply a quarantined op.
    Accept,
    /// Void the held contract, or close a quarantined op (its payload is kept).
    Void,
    /// Merge duplicate residents into one record.
    Merge,
    /// Close a duplicate candidate whose records no longer share an ID number.
    Dismiss,
}

impl Decision {
    /// Every decision.
    pub const ALL: [Decision; 6] = [
        Decision::KeepServer,
        Decision::KeepClient,
        Decision::Accept,
        Decision::Void,
        Decision::Merge,
        Decision::Dismiss,
    ];

    /// The decision named, if it is one.
    pub fn parse(s: &str) -> Option<Decision> {
        Decision::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::KeepServer => "keep_server",
            Decision::KeepClient => "keep_client",
            Decision::Accept => "accept",
            Decision::Void => "void",
            Decision::Merge => "merge",
            Decision::Dismiss => "dismiss",
        }
    }
}

/// Display and serde for a vocabulary that appears on the wire, both through its `as_str`
/// and `parse`, so the wire name is written in one place per value.
macro_rules! wire_name {
    ($($t:ident: $what:literal),* $(,)?) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                $t::parse(&s).ok_or_else(|| serde::de::Error::custom(format!(concat!("unknown ", $what, " `{}`"), s)))
            }
        }
    )*};
}

wire_name!(
    ContractStatus: "contract status",
    ConflictKind: "conflict kind",
    ItemKind: "review item kind",
    ItemStatus: "review item status",
    Decision: "decision",
);

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            ContractStatus::parse("PENDING_REVIEW"),
            Some(ContractStatus::PendingReview)
        );
        assert_eq!(ContractStatus::parse("signed"), None);
        assert_eq!(
            ItemKind::parse("field_clash"),
            Some(ItemKind::Conflict(ConflictKind::FieldClash))
        );
        assert_eq!(ConflictKind::parse("quarantine"), None);
        assert_eq!(Decision::parse("keep_server"), Some(Decision::KeepServer));
        assert_eq!(Decision::parse("keep"), None);
    }

    /// Each value goes through serde as its wire name and comes back; an unknown name is
    /// refused.
    fn serde_round_trip<T>(all: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + serde::Serialize + serde::de::DeserializeOwned,
    {
        for x in all {
            let text = serde_json::to_string(x).unwrap();
            assert_eq!(text, format!("\"{x}\""));
            assert_eq!(serde_json::from_str::<T>(&text).unwrap(), *x);
            let owned = serde_json::Value::String(x.to_string());
            assert_eq!(serde_json::from_value::<T>(owned).unwrap(), *x);
        }
        assert!(serde_json::from_str::<T>("\"nope\"").is_err());
    }

    #[test]
    fn wire_vocabularies_serialise_as_their_names() {
        serde_round_trip(&ContractStatus::ALL);
        serde_round_trip(&ConflictKind::ALL);
        serde_round_trip(&ItemKind::ALL);
        serde_round_trip(&ItemStatus::ALL);
        serde_round_trip(&Decision::ALL);
        for k in ConflictKind::ALL {
            assert_eq!(ItemKind::from(k).as_str(), k.as_str());
        }
    }
}
