//! NAT explained by the rules: loads nat-table dumps and interface addresses per namespace and says which rule made (or contradicts) a translation seen between two capture points.

mod addr;
mod eval;
mod iptables;
mod nft;
mod read;
mod stage;
mod table;

pub use stage::{diagnostics, explain_all};

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use addr::Interface;
use table::Table;

/// Something in a rule or address file that natcorr skipped, so the user knows the rules it
/// evaluated are not all the file said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleWarning {
    pub file: PathBuf,
    /// 1-based; `None` when the warning is about the whole file.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for RuleWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// The transport of the observed packet; `Icmp` is an ICMP echo request (ICMPv6 when the
/// addresses are IPv6), the only ICMP message that opens a connection the nat table sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Proto {
    Icmp,
    Tcp,
    Udp,
    Other(u8),
}

/// Addresses and ports of the packet at one capture point. For ICMP, `sport` is the echo
/// identifier (conntrack treats it as the source port) and `dport` is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Endpoints {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
}

/// One packet seen on one hop inside one namespace: entering at `in_iface` as `before`,
/// leaving at `out_iface` as `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<'a> {
    pub in_iface: &'a str,
    pub out_iface: &'a str,
    pub proto: Proto,
    pub before: Endpoints,
    pub after: Endpoints,
    /// Whether the packet opened its conntrack entry (state NEW when the nat rules ran);
    /// `None` when natcorr cannot tell, which makes rules testing NEW/ESTABLISHED unevaluable.
    pub new_connection: Option<bool>,
}

/// Where a rule is written: a line for text dumps, the rule handle for `nft -j` JSON (which is
/// usually one line, so a line number would not find the rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    Line(usize),
    Handle(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Handle(h) => write!(f, "handle {h}"),
        }
    }
}

/// A rule (or a chain policy) named the way the user wrote it, so a report can quote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    pub namespace: String,
    pub file: String,
    pub location: Location,
    pub chain: String,
    /// The rule text as written in the dump (rendered in nft syntax for JSON dumps).
    pub rule: String,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.file, self.location, self.rule)
    }
}

/// An inclusive address range; one address when `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AddrRange {
    pub first: IpAddr,
    pub last: IpAddr,
}

impl AddrRange {
    pub fn single(addr: IpAddr) -> Self {
        AddrRange {
            first: addr,
            last: addr,
        }
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.first, self.last, addr) {
            (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(x)) => a <= x && x <= b,
            (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(x)) => a <= x && x <= b,
            _ => false,
        }
    }
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// An inclusive port (or ICMP identifier) range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn contains(&self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// What a nat rule does to the first packet of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NatAction {
    Snat,
    Masquerade,
    Dnat,
    Redirect,
    /// Not a translation: the rule or policy drops the packet, which natcorr then saw after it.
    Drop,
}

impl NatAction {
    fn label(self) -> &'static str {
        match self {
            NatAction::Snat => "SNAT",
            NatAction::Masquerade => "MASQUERADE",
            NatAction::Dnat => "DNAT",
            NatAction::Redirect => "REDIRECT",
            NatAction::Drop => "DROP",
        }
    }
}

/// The translation a rule would make, resolved against the namespace's addresses (MASQUERADE
/// and REDIRECT take theirs from an interface).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Translation {
    pub action: NatAction,
    /// Any of these is what the rule allows; empty for `Drop`.
    pub addrs: Vec<AddrRange>,
    /// `None`: the rule leaves the port alone (SNAT may still pick a free one).
    pub ports: Option<PortRange>,
    /// The interface whose address MASQUERADE or REDIRECT used.
    pub via: Option<String>,
}

impl fmt::Display for Translation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.action.label())?;
        if !self.addrs.is_empty() {
            let addrs: Vec<String> = self.addrs.iter().map(ToString::to_string).collect();
            write!(f, " to {}", addrs.join(" or "))?;
        }
        if let Some(ports) = self.ports {
            write!(f, " port {ports}")?;
        }
        if let Some(via) = &self.via {
            write!(f, " (address of {via})")?;
        }
        Ok(())
    }
}

/// An address with the port (or ICMP identifier) when there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub addr: IpAddr,
    pub port: Option<u16>,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.addr, self.port) {
            (addr, None) => write!(f, "{addr}"),
            (IpAddr::V4(a), Some(p)) => write!(f, "{a}:{p}"),
            (IpAddr::V6(a), Some(p)) => write!(f, "[{a}]:{p}"),
        }
    }
}

/// A change between `before` and `after` that natcorr asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "side", rename_all = "snake_case")]
pub enum Change {
    Source { from: Endpoint, to: Endpoint },
    Destination { from: Endpoint, to: Endpoint },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Source { from, to } => write!(f, "source {from} → {to}"),
            Change::Destination { from, to } => write!(f, "destination {from} → {to}"),
        }
    }
}

/// Why no rule accounts for what the packets show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum UnexplainedReason {
    /// No address dump lists the interface, so natcorr cannot tell its namespace.
    UnknownInterface { iface: String },
    /// The hop crosses namespaces: no one nat table sees both interfaces.
    SplitNamespaces {
        in_iface: String,
        in_namespace: String,
        out_iface: String,
        out_namespace: String,
    },
    /// Address dumps of several namespaces list both interfaces (same names in each).
    AmbiguousNamespace { namespaces: Vec<String> },
    /// The namespace has no nat chain for the packet's address family.
    NoNatRules { namespace: String, ipv6: bool },
    /// The packets show a change and no rule made it; `accepted_by` is the rule that ended
    /// the nat traversal first, if one did (neutron's `-j ACCEPT` before its SNAT rules).
    NoRuleMatched {
        namespace: String,
        change: Change,
        accepted_by: Option<RuleRef>,
    },
    /// Only the source port / ICMP identifier changed and no rule asked for it: conntrack
    /// renumbers on its own when the tuple clashes with an existing connection.
    RenumberedWithoutRule { namespace: String, change: Change },
    /// IPv4 became IPv6 or back: that is NAT64, not the nat table's work.
    FamilyChanged,
}

impl fmt::Display for UnexplainedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnexplainedReason::UnknownInterface { iface } => {
                write!(f, "no address dump lists interface {iface}")
            }
            UnexplainedReason::SplitNamespaces {
                in_iface,
                in_namespace,
                out_iface,
                out_namespace,
            } => write!(
                f,
                "{in_iface} is in namespace {in_namespace} but {out_iface} is in {out_namespace}"
            ),
            UnexplainedReason::AmbiguousNamespace { namespaces } => {
                write!(f, "both interfaces are in namespaces {}", namespaces.join(", "))
            }
            UnexplainedReason::NoNatRules { namespace, ipv6 } => write!(
                f,
                "no {} nat rules loaded for namespace {namespace}",
                if *ipv6 { "IPv6" } else { "IPv4" }
            ),
            UnexplainedReason::NoRuleMatched {
                namespace,
                change,
                accepted_by,
            } => {
                write!(f, "no nat rule of {namespace} makes the {change}")?;
                if let Some(rule) = accepted_by {
                    write!(f, "; the nat traversal stopped at {rule}")?;
                }
                Ok(())
            }
            UnexplainedReason::RenumberedWithoutRule { namespace, change } => write!(
                f,
                "no nat rule of {namespace} makes the {change}; conntrack renumbers a clashing port by itself"
            ),
            UnexplainedReason::FamilyChanged => {
                f.write_str("the address family changed (NAT64), which nat rules do not do")
            }
        }
    }
}

/// Why natcorr stopped at a rule instead of guessing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum UnevaluableReason {
    /// A match natcorr does not evaluate, as written (`-m mark --mark 0x1`).
    Match { what: String },
    /// A target or statement natcorr does not evaluate (`-j NETMAP`, an iptables-nft `xt` target).
    Target { what: String },
    /// The rule tests NEW/ESTABLISHED/… and the query does not say whether the packet was new.
    ConnectionStateUnknown { what: String },
    /// A TCP/UDP port match, and the query has no port.
    PortUnknown,
    /// MASQUERADE, REDIRECT or `addrtype` needs the namespace's addresses: no `ip addr` dump.
    NoAddressDump { namespace: String },
    /// The address dump has no usable address of the packet's family on this interface.
    NoAddress { iface: String, ipv6: bool },
    /// A jump or goto to a chain the dump does not define.
    MissingChain { chain: String },
    /// Jumps nest deeper than the kernel allows: the dump has a loop.
    TooDeep,
}

impl fmt::Display for UnevaluableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnevaluableReason::Match { what } => {
                write!(f, "natcorr cannot evaluate the match {what}")
            }
            UnevaluableReason::Target { what } => {
                write!(f, "natcorr cannot evaluate the target {what}")
            }
            UnevaluableReason::ConnectionStateUnknown { what } => {
                write!(
                    f,
                    "{what} needs to know whether the packet opened its connection"
                )
            }
            UnevaluableReason::PortUnknown => {
                f.write_str("the rule matches a port the packet does not show")
            }
            UnevaluableReason::NoAddressDump { namespace } => {
                write!(f, "no `ip addr` dump for namespace {namespace}")
            }
            UnevaluableReason::NoAddress { iface, ipv6 } => write!(
                f,
                "the address dump has no {} address on {iface}",
                if *ipv6 { "IPv6" } else { "IPv4" }
            ),
            UnevaluableReason::MissingChain { chain } => {
                write!(f, "chain {chain} is not in the dump")
            }
            UnevaluableReason::TooDeep => f.write_str("jumps nest too deep (a loop?)"),
        }
    }
}

/// The address MASQUERADE gave the packets: one of the out-interface's, as the packets show
/// it, so a report can say which address the rule stood for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Masquerade {
    pub iface: String,
    pub addr: IpAddr,
}

impl fmt::Display for Masquerade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "masquerades to {}'s address {}", self.iface, self.addr)
    }
}

/// What the rules say about one observed hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Explanation {
    /// The packets show what the rules do: the SNAT/MASQUERADE rule (POSTROUTING) and the
    /// DNAT/REDIRECT rule (PREROUTING) that made the change; both `None` means no rule
    /// translates and the packets show no change. `masquerade`: the address `snat` chose,
    /// when it is a MASQUERADE.
    Explained {
        namespace: String,
        snat: Option<RuleRef>,
        dnat: Option<RuleRef>,
        masquerade: Option<Masquerade>,
    },
    /// A rule matched but translates differently from what the packets show.
    Contradicted {
        rule: RuleRef,
        expected: Translation,
        observed: Endpoint,
    },
    /// A rule would have translated but the packets show no change.
    MissingTranslation {
        rule: RuleRef,
        expected: Translation,
    },
    /// The packets show a change no rule makes, or the rules for this hop are not known.
    Unexplained { why: UnexplainedReason },
    /// Evaluation reached a rule natcorr cannot evaluate: named, never guessed.
    Unevaluable {
        rule: RuleRef,
        why: UnevaluableReason,
    },
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Explanation::Explained {
                namespace,
                snat,
                dnat,
                masquerade,
            } => match (snat, dnat) {
                (None, None) => write!(
                    f,
                    "no nat rule of {namespace} translates, as the packets show"
                ),
                (snat, dnat) => {
                    f.write_str("explained by ")?;
                    let rules: Vec<String> =
                        dnat.iter().chain(snat).map(ToString::to_string).collect();
                    f.write_str(&rules.join(" and "))?;
                    // The SNAT side comes last, so this follows the MASQUERADE rule.
                    if let Some(m) = masquerade {
                        write!(f, " ({m})")?;
                    }
                    Ok(())
                }
            },
            Explanation::Contradicted {
                rule,
                expected,
                observed,
            } => write!(f, "{rule} says {expected}, the packets show {observed}"),
            Explanation::MissingTranslation { rule, expected } => {
                write!(f, "{rule} says {expected}, the packets show no change")
            }
            Explanation::Unexplained { why } => write!(f, "unexplained: {why}"),
            Explanation::Unevaluable { rule, why } => write!(f, "{rule}: {why}"),
        }
    }
}

/// The nat rules and interface addresses of every namespace natcorr was given. natcorr sees a
/// translation in the packets; this tells whether the namespace's own rules account for it, so
/// a wrong `--to-source` or a rule that never matched is named with its file and line instead
/// of being guessed at.
#[derive(Debug, Default)]
pub struct RuleSet {
    namespaces: BTreeMap<String, Namespace>,
    warnings: Vec<RuleWarning>,
}

/// One network namespace: files sharing the part of their name before the first dot.
#[derive(Debug, Default)]
struct Namespace {
    /// The nat tables.
    tables: Vec<Table>,
    /// The raw tables (iptables `*raw`): their NOTRACK rules keep packets out of conntrack.
    raw: Vec<Table>,
    interfaces: Vec<Interface>,
    /// An address dump was loaded (an empty one still says which interfaces are not here).
    has_addr_dump: bool,
}

/// Reads every file, recognising its kind by content. Never fails: what cannot be read or
/// understood becomes a warning and the rest is still loaded.
pub fn load(paths: &[PathBuf]) -> RuleSet {
    let mut set = RuleSet::default();
    for path in paths {
        set.load_file(path);
    }
    set.drop_nft_copies_of_iptables();
    set
}

impl RuleSet {
    /// The namespace whose address dump lists `iface`; `None` when none or several do.
    pub fn namespace_of(&self, iface: &str) -> Option<&str> {
        match self.namespaces_with(iface).as_slice() {
            [name] => Some(name),
            _ => None,
        }
    }

    /// Says which rules account for the translation (or its absence) the query shows.
    pub fn explain(&self, q: &Query) -> Explanation {
        eval::explain(self, q)
    }

    /// The raw-table rule that takes a reply out of connection tracking as it enters the
    /// namespace (`q`: the reply as it came in, `before`, and left, `after`), so no NAT undoes
    /// its translation; `None` when no rule does or the rules cannot tell.
    pub fn untracked_reply(&self, q: &Query) -> Option<RuleRef> {
        eval::untracked_reply(self, q)
    }

    pub fn warnings(&self) -> &[RuleWarning] {
        &self.warnings
    }

    /// Nothing was loaded: no nat rules and no addresses.
    pub fn is_empty(&self) -> bool {
        self.namespaces
            .values()
            .all(|ns| ns.tables.is_empty() && !ns.has_addr_dump)
    }

    /// Names of the namespaces loaded, sorted.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.namespaces.keys().map(String::as_str)
    }

    /// The interface with kernel index `index` in the namespace a capture file is named after
    /// (`qrouter-any.pcap` → `qrouter`: the stem is the namespace's name, or starts with it and
    /// `-`, `.` or `_`): how a `tcpdump -i any` point (`qrouter-any#if2`) is tied to its
    /// interface.
    pub fn interface_by_index(&self, file_stem: &str, index: u32) -> Option<&str> {
        let named = |ns: &str| {
            file_stem == ns
                || file_stem
                    .strip_prefix(ns)
                    .is_some_and(|rest| rest.starts_with(['-', '.', '_']))
        };
        let mut found = self
            .namespaces
            .iter()
            .filter(|(name, _)| named(name))
            .filter_map(|(_, ns)| ns.interfaces.iter().find(|i| i.index == Some(index)));
        match (found.next(), found.next()) {
            (Some(i), None) => Some(i.name.as_str()),
            _ => None,
        }
    }

    fn namespaces_with(&self, iface: &str) -> Vec<&str> {
        self.namespaces
            .iter()
            .filter(|(_, ns)| ns.interfaces.iter().any(|i| i.name == iface))
            .map(|(name, _)| name.as_str())
            .collect()
    }

    fn load_file(&mut self, path: &Path) {
        let (content, warnings) = read::read(path);
        self.add(path, content, warnings);
    }

    fn add(&mut self, path: &Path, content: read::Content, mut warnings: Vec<RuleWarning>) {
        let file = path.display().to_string();
        let name = namespace_name(path);
        self.warnings.append(&mut warnings);
        let ns = self.namespaces.entry(name.clone()).or_default();
        let mut warn = |line: Option<usize>, message: String| {
            self.warnings.push(RuleWarning {
                file: path.to_path_buf(),
                line,
                message,
            })
        };
        match content {
            read::Content::Nothing => {}
            read::Content::Json(text) => ns.add_tables(nft::parse(&file, &text, &mut warn)),
            read::Content::Lines(kind, lines) => match kind {
                read::TextKind::Iptables => {
                    ns.add_tables(iptables::parse(&file, &lines, &mut warn))
                }
                read::TextKind::IpAddr => {
                    ns.has_addr_dump = true;
                    for iface in addr::parse(&lines, &mut warn) {
                        addr::merge(&mut ns.interfaces, iface);
                    }
                }
            },
        }
        if ns.tables.is_empty()
            && ns.raw.is_empty()
            && !ns.has_addr_dump
            && ns.interfaces.is_empty()
        {
            self.namespaces.remove(&name);
        }
    }

    /// iptables-nft shows its tables in `nft -j list ruleset` too: when a namespace has both
    /// dumps, the nft copy (whose `xt` expressions hide the options) would count every rule twice.
    fn drop_nft_copies_of_iptables(&mut self) {
        for ns in self.namespaces.values_mut() {
            let dropped = drop_nft_copies(&mut ns.tables, "nat");
            // The raw table's copy hides NOTRACK in an `xt` expression too (dropped without a
            // warning of its own: it never took part in explaining a translation).
            drop_nft_copies(&mut ns.raw, "raw");
            for (file, family) in dropped {
                self.warnings.push(RuleWarning {
                    file: PathBuf::from(file),
                    line: None,
                    message: format!(
                        "table {} nat ignored: it is the iptables-nft copy of the iptables dump of the same namespace",
                        family.nft_name()
                    ),
                });
            }
        }
    }
}

/// Drops the nft tables named `name` of a family that an iptables dump of the same namespace
/// also holds (iptables-nft's copies), and says which (file, family) were dropped.
fn drop_nft_copies(tables: &mut Vec<Table>, name: &str) -> Vec<(String, table::Family)> {
    let iptables: Vec<table::Family> = tables
        .iter()
        .filter(|t| t.source == table::Source::Iptables)
        .map(|t| t.family)
        .collect();
    let mut dropped = Vec::new();
    tables.retain(|t| {
        let copy = t.source == table::Source::Nft && t.name == name && iptables.contains(&t.family);
        if copy {
            dropped.push((t.file.clone(), t.family));
        }
        !copy
    });
    dropped
}

impl Namespace {
    /// Nat tables to `tables`, raw tables to `raw`.
    fn add_tables(&mut self, tables: Vec<Table>) {
        for t in tables {
            match t.kind {
                table::TableKind::Nat => self.tables.push(t),
                table::TableKind::Raw => self.raw.push(t),
            }
        }
    }
}

/// `qrouter.ip-addr.txt` and `qrouter.iptables-save` both describe namespace `qrouter`.
fn namespace_name(path: &Path) -> String {
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match base.split_once('.') {
        Some((head, _)) if !head.is_empty() => head.to_string(),
        _ => base,
    }
}

#[cfg(test)]
mod tests;
