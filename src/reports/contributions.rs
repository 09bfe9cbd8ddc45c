//! A county-year counted resident by resident (`Detail`), as the report cache keeps it:
//! each resident's contribution (its cell, flags, follow-ups; its referrals when it has
//! any), each contract's, and the sums per cell, so that the contributions of a few
//! recounted residents can be taken out and put back in.

use std::collections::{HashMap, HashSet};

use super::detail::{ContractFacts, ResidentFacts};
use super::facts::{CodeRange, FactTable};
use super::measures::{self, Facts, M};

/// A resident's contribution: its cell, flags (bit k: `flag_measures()[k]`), follow-ups.
#[derive(Debug, Clone, Copy)]
struct Res {
    cell: u32,
    followups: u32,
    flags: u64,
}

/// A resident's referrals in the period. Few residents have one, so they are kept beside
/// `Res` only for those who do: everyone else costs nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Refs {
    cell: u32,
    up: u32,
    down: u32,
    up_received_7d: u32,
}

/// A contract's contribution (flags as in `ContractFacts`), and the resident it counted for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Con {
    pub(super) resident: u128,
    cell: u32,
    flags: u8,
}

/// A county-year counted resident by resident, exact at change-log position `version`.
pub(super) struct Detail {
    pub(super) version: i64,
    cells: Vec<(String, Option<String>)>,
    index: HashMap<(String, Option<String>), u32>,
    sums: Vec<Facts>,
    /// Rows (residents and contracts, counting or not) per cell: as in the grouped
    /// count, a cell exists while some row falls in it.
    rows: Vec<u32>,
    residents: HashMap<u128, Res>,
    referrals: HashMap<u128, Refs>,
    pub(super) contracts: HashMap<u128, Con>,
    flag_measures: Vec<M>,
}

/// A canonical UUID's number (`None` for any other text, which this cache cannot key).
pub(super) fn uuid_key(id: &str) -> Option<u128> {
    let u = uuid::Uuid::parse_str(id).ok()?;
    let mut buf = [0u8; 36];
    (u.hyphenated().encode_lower(&mut buf) == id).then(|| u.as_u128())
}

pub(super) fn uuid_text(k: u128) -> String {
    uuid::Uuid::from_u128(k).hyphenated().to_string()
}

const CONTRACT_MEASURES: [(u8, M); 4] = [
    (1, M::Contracts),
    (2, M::Personalised),
    (4, M::Expiring),
    (8, M::Renewed),
];

impl Detail {
    pub(super) fn new(version: i64) -> Detail {
        Detail {
            version,
            cells: Vec::new(),
            index: HashMap::new(),
            sums: Vec::new(),
            rows: Vec::new(),
            residents: HashMap::new(),
            referrals: HashMap::new(),
            contracts: HashMap::new(),
            flag_measures: measures::flag_measures(),
        }
    }

    fn cell(&mut self, village: String, team: Option<String>) -> u32 {
        let key = (village, team);
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let i = self.cells.len() as u32;
        self.cells.push(key.clone());
        self.index.insert(key, i);
        self.sums.push(Facts::default());
        self.rows.push(0);
        i
    }

    fn apply_res(&mut self, r: Res, sign: i64) {
        let f = &mut self.sums[r.cell as usize].0;
        f[M::Registered as usize] += sign;
        f[M::Followups as usize] += sign * i64::from(r.followups);
        for (k, m) in self.flag_measures.iter().enumerate() {
            if r.flags & (1 << k) != 0 {
                f[*m as usize] += sign;
            }
        }
        let rows = &mut self.rows[r.cell as usize];
        *rows = if sign > 0 { *rows + 1 } else { *rows - 1 };
    }

    /// Referrals are counts of the resident's row: they add no row to the cell.
    fn apply_refs(&mut self, r: Refs, sign: i64) {
        let f = &mut self.sums[r.cell as usize].0;
        f[M::ReferralsUp as usize] += sign * i64::from(r.up);
        f[M::ReferralsDown as usize] += sign * i64::from(r.down);
        f[M::UpReceived7d as usize] += sign * i64::from(r.up_received_7d);
    }

    fn apply_con(&mut self, c: Con, sign: i64) {
        let f = &mut self.sums[c.cell as usize].0;
        for (bit, m) in CONTRACT_MEASURES {
            if c.flags & bit != 0 {
                f[m as usize] += sign;
            }
        }
        let rows = &mut self.rows[c.cell as usize];
        *rows = if sign > 0 { *rows + 1 } else { *rows - 1 };
    }

    /// Adds counted rows; `None` when an id is not a canonical UUID.
    pub(super) fn add(&mut self, residents: Vec<ResidentFacts>, contracts: Vec<ContractFacts>) -> Option<()> {
        residents.into_iter().try_for_each(|r| self.add_resident(r))?;
        contracts.into_iter().try_for_each(|c| self.add_contract(c))
    }

    /// One resident's facts, replacing what it contributed before.
    pub(super) fn add_resident(&mut self, r: ResidentFacts) -> Option<()> {
        let id = uuid_key(&r.id)?;
        let cell = self.cell(r.village, r.team);
        let res = Res {
            cell,
            followups: u32::try_from(r.followups).ok()?,
            flags: r.flags as u64,
        };
        let refs = Refs {
            cell,
            up: u32::try_from(r.referrals_up).ok()?,
            down: u32::try_from(r.referrals_down).ok()?,
            up_received_7d: u32::try_from(r.up_received_7d).ok()?,
        };
        if let Some(old) = self.residents.insert(id, res) {
            self.apply_res(old, -1);
        }
        self.apply_res(res, 1);
        if let Some(old) = self.referrals.remove(&id) {
            self.apply_refs(old, -1);
        }
        if refs.up > 0 || refs.down > 0 {
            self.referrals.insert(id, refs);
            self.apply_refs(refs, 1);
        }
        Some(())
    }

    /// One contract's facts, replacing what it contributed before.
    pub(super) fn add_contract(&mut self, c: ContractFacts) -> Option<()> {
        let id = uuid_key(&c.id)?;
        let con = Con {
            resident: uuid_key(&c.resident_id)?,
            cell: self.cell(c.village, c.team),
            flags: u8::try_from(c.flags).ok()?,
        };
        if let Some(old) = self.contracts.insert(id, con) {
            self.apply_con(old, -1);
        }
        self.apply_con(con, 1);
        Some(())
    }

    /// Takes out every contribution of these residents and of their contracts.
    pub(super) fn remove(&mut self, residents: &HashSet<u128>) {
        for id in residents {
            if let Some(old) = self.residents.remove(id) {
                self.apply_res(old, -1);
            }
            if let Some(old) = self.referrals.remove(id) {
                self.apply_refs(old, -1);
            }
        }
        let mut gone = Vec::new();
        self.contracts.retain(|_, c| {
            let hit = residents.contains(&c.resident);
            if hit {
                gone.push(*c);
            }
            !hit
        });
        for c in gone {
            self.apply_con(c, -1);
        }
    }

    /// The cells of villages in `range`, as the grouped count returns them.
    pub(super) fn table(&self, range: &CodeRange) -> FactTable {
        let mut t = FactTable::new();
        for (i, (village, team)) in self.cells.iter().enumerate() {
            if self.rows[i] > 0 && *village >= range.lo && *village <= range.hi {
                t.insert((village.clone(), team.clone()), self.sums[i]);
            }
        }
        t
    }

    /// Approximate heap bytes held.
    pub(super) fn bytes(&self) -> usize {
        use std::mem::size_of;
        self.residents.capacity() * (size_of::<(u128, Res)>() + 1)
            + self.referrals.capacity() * (size_of::<(u128, Refs)>() + 1)
            + self.contracts.capacity() * (size_of::<(u128, Con)>() + 1)
            + self
                .cells
                .iter()
                .map(|(v, t)| 2 * (v.len() + t.as_ref().map_or(0, String::len) + 64))
                .sum::<usize>()
            + self.sums.capacity() * size_of::<Facts>()
    }

    /// The contributions as bytes (the cells, then residents, referrals and contracts),
    /// for a restarted server to load instead of counting again ([`Detail::decode`]).
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.residents.len() * 32 + self.contracts.len() * 37);
        out.extend_from_slice(MAGIC);
        let text = |out: &mut Vec<u8>, t: &str| {
            out.extend_from_slice(&(t.len() as u32).to_le_bytes());
            out.extend_from_slice(t.as_bytes());
        };
        out.extend_from_slice(&(self.cells.len() as u32).to_le_bytes());
        for (village, team) in &self.cells {
            text(&mut out, village);
            match team {
                Some(t) => {
                    out.push(1);
                    text(&mut out, t);
                }
                None => out.push(0),
            }
        }
        out.extend_from_slice(&(self.residents.len() as u64).to_le_bytes());
        for (id, r) in &self.residents {
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&r.cell.to_le_bytes());
            out.extend_from_slice(&r.followups.to_le_bytes());
            out.extend_from_slice(&r.flags.to_le_bytes());
        }
        out.extend_from_slice(&(self.referrals.len() as u64).to_le_bytes());
        for (id, r) in &self.referrals {
            out.extend_from_slice(&id.to_le_bytes());
            for n in [r.cell, r.up, r.down, r.up_received_7d] {
                out.extend_from_slice(&n.to_le_bytes());
            }
        }
        out.extend_from_slice(&(self.contracts.len() as u64).to_le_bytes());
        for (id, c) in &self.contracts {
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&c.resident.to_le_bytes());
            out.extend_from_slice(&c.cell.to_le_bytes());
            out.push(c.flags);
        }
        out
    }

    /// Contributions [`Detail::encode`] wrote, exact at `version`; the sums are rebuilt from
    /// them. `None` for bytes that are not such a record.
    pub(super) fn decode(version: i64, bytes: &[u8]) -> Option<Detail> {
        let mut r = Reader(bytes);
        if r.take(MAGIC.len())? != MAGIC {
            return None;
        }
        let mut d = Detail::new(version);
        for _ in 0..r.u32()? {
            let village = r.text()?;
            let team = match r.byte()? {
                0 => None,
                1 => Some(r.text()?),
                _ => return None,
            };
            d.cell(village, team);
        }
        let cells = d.cells.len() as u32;
        let cell = |n: u32| (n < cells).then_some(n);
        for _ in 0..r.u64()? {
            let id = r.u128()?;
            let res = Res {
                cell: cell(r.u32()?)?,
                followups: r.u32()?,
                flags: r.u64()?,
            };
            d.residents.insert(id, res);
            d.apply_res(res, 1);
        }
        for _ in 0..r.u64()? {
            let id = r.u128()?;
            let refs = Refs {
                cell: cell(r.u32()?)?,
                up: r.u32()?,
                down: r.u32()?,
                up_received_7d: r.u32()?,
            };
            d.referrals.insert(id, refs);
            d.apply_refs(refs, 1);
        }
        for _ in 0..r.u64()? {
            let id = r.u128()?;
            let con = Con {
                resident: r.u128()?,
                cell: cell(r.u32()?)?,
                flags: r.byte()?,
            };
            d.contracts.insert(id, con);
            d.apply_con(con, 1);
        }
        r.0.is_empty().then_some(d)
    }
}

/// The first bytes of an encoded `Detail` (its layout's version).
const MAGIC: &[u8] = b"jiayi-detail-1\n";

/// Reads an encoded `Detail` front to back.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u128(&mut self) -> Option<u128> {
        Some(u128::from_le_bytes(self.take(16)?.try_into().ok()?))
    }
    fn text(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}
