//! Observations → flows and journeys, across NAT.
//!
//! A *journey* is one packet seen at several capture points. NAT may rewrite addresses, the
//! ICMP identifier and ports, so packets are matched on what it cannot change: direction,
//! length and payload, and the echo sequence number (ping puts a timestamp in the payload too)
//! or TCP's sequence and acknowledgement numbers and flags; UDP has only its length and
//! payload. A *local flow* is what one point sees of a flow (its addresses and identifier or
//! ports there); local flows whose packets keep
//! meeting in journeys are joined into one *flow*: a NAT mapping holds for a whole flow, which is
//! what resolves packets the key alone leaves ambiguous. When no packet is seen at two points
//! (captures taken one at a time), flows are matched by destination instead (`Matched::Flow`).

pub mod cut;
mod errors;
mod rows;
mod unionfind;

pub use cut::{cut_headers, CutAt};
pub use errors::ErrorJourney;
pub use rows::packet_rows;

use crate::model::{
    Addr, Digest, Direction, ErrorObservation, Matched, Observation, PointId, Protocol, PREFIX_LEN,
};
use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;
use smallvec::SmallVec;
pub use unionfind::UnionFind;

/// The same packet's observations, at most one per point (indexes into the observation list).
/// Inline up to six points: a journey per packet must not cost an allocation.
pub type Journey = SmallVec<[u32; 6]>;

/// What one point sees of a flow: protocol, addresses and identifier or ports, on the
/// initiator's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LocalFlow {
    pub point: PointId,
    pub proto: Protocol,
    pub src: Addr,
    pub dst: Addr,
    pub id: u16,
    pub sport: u16,
    pub dport: u16,
}

impl LocalFlow {
    pub fn of(o: &Observation) -> LocalFlow {
        let (src, dst) = o.initiator_side();
        let (id, sport, dport) = o.flow_ids();
        LocalFlow {
            point: o.point,
            proto: o.proto,
            src,
            dst,
            id,
            sport,
            dport,
        }
    }
}

/// One echo flow across points, with its packets.
#[derive(Clone, Debug)]
pub struct FlowObs {
    pub matched: Matched,
    pub local_flows: Vec<LocalFlow>,
    pub requests: Vec<Journey>,
    pub replies: Vec<Journey>,
    pub notes: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Correlation {
    pub flows: Vec<FlowObs>,
    /// ICMP errors tied to the request they answer.
    pub errors: Vec<ErrorJourney>,
    /// Things the data could not decide.
    pub notes: Vec<String>,
    /// Points whose snaplen cut echo payloads, with the payload bytes they kept: packets are
    /// matched on the bytes every capture has.
    pub short_snaplen: Vec<(PointId, u8)>,
}

/// A packet seen at more points than this votes only between neighbours in time (see
/// [`correlate`]).
const VOTE_ALL_PAIRS: usize = 16;

/// Packets of one (direction, seq, length, payload start) further apart than this are different packets.
const MAX_GAP_NS: i64 = 30_000_000_000;

pub fn correlate(obs: &[Observation], errs: &[ErrorObservation]) -> Correlation {
    // Local flows.
    let mut lf_index: HashMap<LocalFlow, u32> = HashMap::default();
    let mut local: Vec<LocalFlow> = Vec::new();
    // Whether each local flow holds a request (one holding replies alone is joined below).
    let mut has_requests: Vec<bool> = Vec::new();
    let obs_lf: Vec<u32> = obs
        .iter()
        .map(|o| {
            let key = LocalFlow::of(o);
            let lf = *lf_index.entry(key).or_insert_with(|| {
                local.push(key);
                has_requests.push(false);
                (local.len() - 1) as u32
            });
            has_requests[lf as usize] |= o.dir == Direction::Request;
            lf
        })
        .collect();

    let (compared, short_snaplen) = compared_prefix(obs);
    let (groups, clean) = packet_groups(obs, compared);
    let (groups, clean) = refine_by_ip_id(obs, groups, clean);

    // Votes between local flows from groups that name one packet per point.
    let mut votes: HashMap<(u32, u32), u32> = HashMap::default();
    // A packet seen at up to VOTE_ALL_PAIRS points votes for every pair of its local flows; one
    // seen at more (one per interface of a `-i any` capture) votes along its path in time
    // order, which joins the same local flows without a vote count growing with points squared.
    for (g, _) in groups.iter().zip(&clean).filter(|(_, &c)| c) {
        let mut vote = |a: u32, b: u32| {
            let (x, y) = (obs_lf[a as usize], obs_lf[b as usize]);
            *votes.entry((x.min(y), x.max(y))).or_default() += 1;
        };
        if g.len() <= VOTE_ALL_PAIRS {
            for (i, &a) in g.iter().enumerate() {
                for &b in &g[i + 1..] {
                    vote(a, b);
                }
            }
        } else {
            for w in g.windows(2) {
                vote(w[0], w[1]);
            }
        }
    }
    let unpack = |pair: u64| ((pair >> 32) as u32, pair as u32);
    // Each local flow's best partner at every other point (most votes, then the lowest index):
    // the first of its candidates sorted by (local flow, partner's point, fewest votes last,
    // partner). Sorted, not looked up in a table: with 100,000 flows every lookup missed the
    // cache (the votes above stay in a table: a few pairs take millions of votes).
    let mut candidates: Vec<(u32, PointId, u32, u32)> = Vec::with_capacity(2 * votes.len());
    for (&(x, y), &n) in &votes {
        let fewer = u32::MAX - n;
        candidates.push((x, local[y as usize].point, fewer, y));
        candidates.push((y, local[x as usize].point, fewer, x));
    }
    drop(votes);
    candidates.sort_unstable();
    // Mutual best partners are joined: such a pair is some flow's best twice.
    let mut best: Vec<u64> = candidates
        .chunk_by(|a, b| (a.0, a.1) == (b.0, b.1))
        .map(|c| {
            let (from, _, _, to) = c[0];
            u64::from(from.min(to)) << 32 | u64::from(from.max(to))
        })
        .collect();
    // A local flow of replies alone, where the same point saw the flow's requests as another
    // local flow (replies a NAT did not translate back keep the outside address): its partner
    // elsewhere is best with that other local flow, never mutually with this one. Its replies
    // are the partner's packets, so it joins its best partner at any point.
    let reply_only: Vec<(u32, u32)> = candidates
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|c| !has_requests[c[0].0 as usize])
        .filter_map(|c| c.iter().min_by_key(|k| (k.2, k.3)).map(|k| (k.0, k.3)))
        .collect();
    drop(has_requests);
    drop(candidates);
    best.sort_unstable();
    let mut uf = UnionFind::new(local.len());
    for run in best.chunk_by(|a, b| a == b).filter(|r| r.len() == 2) {
        let (x, y) = unpack(run[0]);
        uf.union(x, y);
    }
    for (x, y) in reply_only {
        uf.union(x, y);
    }

    // Flows: one per set of joined local flows.
    let mut by_root: HashMap<u32, usize> = HashMap::default();
    let flow_of_lf: Vec<usize> = (0..local.len() as u32)
        .map(|i| {
            let n = by_root.len();
            *by_root.entry(uf.find(i)).or_insert(n)
        })
        .collect();
    // Made once their number is known: grown by doubling, the spare half was part of the peak
    // of memory.
    let mut flows: Vec<FlowObs> = (0..by_root.len())
        .map(|_| FlowObs {
            matched: Matched::Packet,
            local_flows: Vec::new(),
            requests: Vec::new(),
            replies: Vec::new(),
            notes: Vec::new(),
        })
        .collect();
    for (i, lf) in local.iter().enumerate() {
        flows[flow_of_lf[i]].local_flows.push(*lf);
    }
    // Journeys: each group split by flow, then by point multiplicity.
    let flow_of = |o: u32| flow_of_lf[obs_lf[o as usize] as usize];
    let mut ambiguous = 0u64;
    let push = |flows: &mut Vec<FlowObs>, f: usize, members: &[u32], ambiguous: &mut u64| {
        let list = match obs[members[0] as usize].dir {
            Direction::Request => &mut flows[f].requests,
            Direction::Reply => &mut flows[f].replies,
        };
        split_by_point(obs, members, ambiguous, list);
    };
    // Groups in the order of their first observation: the observations are read front to back,
    // not in key order, and each flow's lists fill nearly in capture order (the sort below
    // finishes it: a split group's later parts start later).
    let mut order: Vec<(u32, u32)> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.iter().copied().min().unwrap_or(0), i as u32))
        .collect();
    order.par_sort_unstable();
    // Each flow's lists sized before they fill (grown one push at a time, their spare capacity
    // was a sixth of the peak of memory): a group of one flow that names one packet per point
    // is one journey; any other gives at most one journey per observation.
    let mut want: Vec<[usize; 2]> = vec![[0, 0]; flows.len()];
    for (g, &clean) in groups.iter().zip(&clean) {
        let d = obs[g[0] as usize].dir as usize;
        let f = flow_of(g[0]);
        if g.len() == 1 || (clean && g.iter().all(|&o| flow_of(o) == f)) {
            want[f][d] += 1;
        } else {
            for &o in g {
                want[flow_of(o)][d] += 1;
            }
        }
    }
    for (f, [requests, replies]) in flows.iter_mut().zip(want) {
        f.requests.reserve_exact(requests);
        f.replies.reserve_exact(replies);
    }
    let mut groups = groups;
    for &(_, i) in &order {
        let g = std::mem::take(&mut groups[i as usize]);
        let f = flow_of(g[0]);
        if g.iter().all(|&o| flow_of(o) == f) {
            if clean[i as usize] {
                let list = match obs[g[0] as usize].dir {
                    Direction::Request => &mut flows[f].requests,
                    Direction::Reply => &mut flows[f].replies,
                };
                list.push(g);
            } else {
                push(&mut flows, f, &g, &mut ambiguous);
            }
            continue;
        }
        let mut slot: HashMap<usize, usize> = HashMap::default();
        let mut part: Vec<(usize, Journey)> = Vec::new();
        for &o in &g {
            let f = flow_of(o);
            let k = *slot.entry(f).or_insert_with(|| {
                part.push((f, Journey::new()));
                part.len() - 1
            });
            part[k].1.push(o);
        }
        for (f, members) in part {
            push(&mut flows, f, &members, &mut ambiguous);
        }
    }
    // The groups now live on in the flows' journeys: freed before the flows are split and
    // sorted (held to the end, they were the peak of memory).
    drop((groups, clean, order, flow_of_lf, obs_lf, by_root));

    let mut notes = Vec::new();
    if ambiguous > 0 {
        notes.push(format!(
            "{ambiguous} packet(s) share their matching fields (echo sequence number or UDP length) and payload with another packet at the same point; they were paired by time order"
        ));
    }
    // In capture order: later stages then walk each file's observations front to back, which
    // keeps them in cache (random order made inference superlinear on millions of packets).
    for f in &mut flows {
        f.requests.sort_unstable_by_key(|j| j.iter().min().copied());
        f.replies.sort_unstable_by_key(|j| j.iter().min().copied());
    }
    let flows = split_connections(obs, flows);
    let mut flows = flow_fallback(obs, flows, &mut notes);
    flows.sort_by_cached_key(|f| first_seen(obs, f));
    // Held until the end of inference: without the spare capacity of vectors that grew one
    // push at a time (a third of this structure on a 1 GB capture with 130,000 flows).
    flows.shrink_to_fit();
    flows.par_iter_mut().for_each(|f| {
        f.local_flows.shrink_to_fit();
        f.requests.shrink_to_fit();
        f.replies.shrink_to_fit();
    });
    let (errors, untied) = errors::tie(obs, errs, &flows);
    if untied > 0 {
        notes.push(format!(
            "{untied} ICMP error(s) quote an echo request that no capture point saw: not tied to a flow"
        ));
    }
    Correlation {
        flows,
        errors,
        notes,
        short_snaplen,
    }
}

/// Groups of observations that may be one packet: equal direction, seq, ICMP length and payload
/// (as far as both captured it), close in time. Sorted by time inside.
/// Groups, and whether each holds one observation per point of two or more points.
fn packet_groups(obs: &[Observation], compared: usize) -> (Vec<Journey>, Vec<bool>) {
    // Sorted by the key, then time; the point and a short digest ride along (in what would be
    // padding), so the common case never touches the observations again.
    let mut keyed: Vec<Keyed> = obs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let (meta, prefix) = packet_key(o, compared);
            Keyed {
                meta,
                prefix,
                ts_ns: o.ts_ns,
                index: i as u32,
                point: o.point,
                digest_len: o.digest_len,
                digest_bits: o.digest.get() as u32,
            }
        })
        .collect();
    keyed.par_sort_unstable_by_key(|k| (k.meta, k.prefix, k.ts_ns, k.index));
    // At most one group per observation: sized once, so the list is never copied as it grows
    // (pages past the groups made are never touched).
    let mut groups = Vec::with_capacity(obs.len());
    let mut clean = Vec::with_capacity(obs.len());
    let mut run: Vec<u32> = Vec::new();
    let mut i = 0;
    while i < keyed.len() {
        let start = i;
        let (meta, prefix) = (keyed[i].meta, keyed[i].prefix);
        while i < keyed.len() && keyed[i].meta == meta && keyed[i].prefix == prefix {
            i += 1;
        }
        let members = &keyed[start..i];
        if members.len() <= 16 && simple_run(members) {
            groups.push(members.iter().map(|k| k.index).collect());
            clean.push(members.len() > 1);
            continue;
        }
        run.clear();
        run.extend(members.iter().map(|k| k.index));
        let before = groups.len();
        split_run(obs, &run, &mut groups);
        clean.extend(groups[before..].iter().map(|g| one_per_point(obs, g)));
    }
    (groups, clean)
}

/// An observation in the matching sort: its [`packet_key`], then time and index; the point and
/// a short digest ride along (in what would be padding).
#[derive(Clone, Copy)]
struct Keyed {
    meta: u64,
    prefix: u128,
    ts_ns: i64,
    index: u32,
    point: PointId,
    digest_len: u16,
    /// The digest's low 32 bits: enough to tell payloads of one run apart.
    digest_bits: u32,
}

/// One packet seen once at each point, with one payload.
fn simple_run(members: &[Keyed]) -> bool {
    let first = &members[0];
    members.iter().enumerate().all(|(i, a)| {
        members[i + 1..].iter().all(|b| a.point != b.point)
            && (a.digest_len != first.digest_len || a.digest_bits == first.digest_bits)
    })
}

/// Packets with the same payload at one point (Windows ping, busybox, `ping -p`): NAT keeps the
/// IPv4 identification, so where the unambiguous packets show it kept, it tells them apart.
fn refine_by_ip_id(
    obs: &[Observation],
    mut groups: Vec<Journey>,
    mut clean: Vec<bool>,
) -> (Vec<Journey>, Vec<bool>) {
    let (mut kept, mut changed) = (0u64, 0u64);
    for (g, _) in groups.iter().zip(&clean).filter(|(_, &c)| c) {
        let id = obs[g[0] as usize].ip_id;
        if g.iter().all(|&o| obs[o as usize].ip_id == id) {
            kept += 1;
        } else {
            changed += 1;
        }
    }
    // Some middleboxes rewrite the IP id: then it is no evidence.
    if changed * 10 > kept || clean.iter().zip(&groups).all(|(&c, g)| c || g.len() < 2) {
        return (groups, clean);
    }
    // Split in place, the further parts appended: the order of groups means nothing.
    for i in 0..groups.len() {
        if groups[i].len() < 2 || clean[i] {
            continue;
        }
        // Split by IP id, groups in order of first appearance.
        let mut slot: HashMap<u32, usize> = HashMap::default();
        let mut by_id: Vec<Journey> = Vec::new();
        for &o in &groups[i] {
            let k = *slot.entry(obs[o as usize].ip_id).or_insert_with(|| {
                by_id.push(Journey::new());
                by_id.len() - 1
            });
            by_id[k].push(o);
        }
        let mut parts = by_id.into_iter();
        if let Some(first) = parts.next() {
            clean[i] = one_per_point(obs, &first);
            groups[i] = first;
        }
        for v in parts {
            clean.push(one_per_point(obs, &v));
            groups.push(v);
        }
    }
    (groups, clean)
}

/// Splits observations with one key (in time order) into groups of compatible payloads. At one
/// point, repeats further apart than [`MAX_GAP_NS`] are different packets (constant payloads,
/// wrapped sequence numbers); the k-th such repeat at every point is taken to be the same, so a
/// clock offset between captures, however large, does not split a packet.
fn split_run(obs: &[Observation], run: &[u32], groups: &mut Vec<Journey>) {
    // The common case: one packet, seen once at each point.
    if run.len() == 1
        || (one_per_point(obs, run)
            && run
                .iter()
                .all(|&o| obs[run[0] as usize].payload_compatible(&obs[o as usize])))
    {
        groups.push(SmallVec::from_slice(run));
        return;
    }
    let mut epoch_of_point: HashMap<PointId, (i64, usize)> = HashMap::default();
    let mut epochs: Vec<Vec<u32>> = Vec::new();
    for &o in run {
        let ob = &obs[o as usize];
        let e = match epoch_of_point.get_mut(&ob.point) {
            Some((last, epoch)) => {
                if ob.ts_ns.saturating_sub(*last) > MAX_GAP_NS {
                    *epoch += 1;
                }
                *last = ob.ts_ns;
                *epoch
            }
            None => {
                epoch_of_point.insert(ob.point, (ob.ts_ns, 0));
                0
            }
        };
        if epochs.len() <= e {
            epochs.resize(e + 1, Vec::new());
        }
        epochs[e].push(o);
    }
    for members in epochs {
        let first = groups.len();
        // Each observation joins the first group whose first packet's payload is compatible
        // with it. Payloads of one length are compatible exactly when their digests are equal
        // (and their prefixes agree), so those are found by hash; only groups of other lengths
        // (payloads cut by a snaplen) are compared one by one.
        let mut by_digest: HashMap<(u16, Digest), usize> = HashMap::default();
        let mut by_len: HashMap<u16, Vec<usize>> = HashMap::default();
        for o in members {
            let ob = &obs[o as usize];
            let compatible = |k: &usize| obs[groups[*k][0] as usize].payload_compatible(ob);
            let same_len = match by_digest.get(&(ob.digest_len, ob.digest)) {
                Some(k) if compatible(k) => Some(*k),
                Some(_) => by_len
                    .get(&ob.digest_len)
                    .and_then(|ks| ks.iter().copied().find(compatible)),
                None => None,
            };
            let other_len = by_len
                .iter()
                .filter(|(&len, _)| len != ob.digest_len)
                .filter_map(|(_, ks)| ks.iter().copied().find(compatible))
                .min();
            match same_len.into_iter().chain(other_len).min() {
                Some(k) => groups[k].push(o),
                None => {
                    let k = groups.len();
                    groups.push(SmallVec::from_slice(&[o]));
                    by_digest.entry((ob.digest_len, ob.digest)).or_insert(k);
                    by_len.entry(ob.digest_len).or_default().push(k);
                }
            }
        }
        debug_assert!(groups[first..].iter().all(|g| !g.is_empty()));
    }
}

/// How many payload bytes every capture kept of the echoes it cut (16 when none was cut by its
/// snaplen), and the points that cut them, with what they kept.
fn compared_prefix(obs: &[Observation]) -> (usize, Vec<(PointId, u8)>) {
    let mut kept: HashMap<PointId, u8> = HashMap::default();
    for o in obs {
        let sent = o.payload_len().min(PREFIX_LEN as u32) as u8;
        if o.prefix_len < sent && o.fragments == 0 {
            let k = kept.entry(o.point).or_insert(o.prefix_len);
            *k = (*k).min(o.prefix_len);
        }
    }
    let compared = kept.values().copied().min().map_or(PREFIX_LEN, usize::from);
    let mut short: Vec<(PointId, u8)> = kept.into_iter().collect();
    short.sort_unstable();
    (compared, short)
}

/// What NAT cannot change about a packet, in two sortable words: (direction, family, protocol,
/// then the echo's seq and ICMP length, or a hash of TCP's sequence and acknowledgement numbers,
/// flags and length, or UDP's length) and the first `compared` payload bytes (the rest zeroed:
/// not every capture has them).
fn packet_key(o: &Observation, compared: usize) -> (u64, u128) {
    let dir = match o.dir {
        Direction::Request => 0u64,
        Direction::Reply => 1,
    };
    let v6 = u64::from(o.src.is_ipv6());
    const FIELDS: u64 = (1 << 60) - 1;
    let fields = match o.proto {
        Protocol::Icmp => (u64::from(o.seq) << 32) | u64::from(o.icmp_len),
        Protocol::Tcp => {
            use std::hash::{Hash, Hasher};
            let mut h = rustc_hash::FxHasher::default();
            // The length hashed as 32 bits, as before it was held in 16: the sort's order,
            // which ties between flows fall back on, stays what it was.
            (o.tcp_seq, o.tcp_ack, o.tcp_flags, u32::from(o.icmp_len)).hash(&mut h);
            (1 << 58) | (h.finish() & ((1 << 58) - 1))
        }
        Protocol::Udp => (2 << 58) | u64::from(o.icmp_len),
    };
    let meta = (dir << 63) | (v6 << 62) | (fields & FIELDS);
    let mut prefix = o.prefix;
    prefix[compared.min(PREFIX_LEN)..].fill(0);
    (meta, u128::from_be_bytes(prefix))
}

fn one_per_point(obs: &[Observation], g: &[u32]) -> bool {
    if g.len() < 2 {
        return false;
    }
    if g.len() <= 16 {
        return g.iter().enumerate().all(|(i, &a)| {
            g[i + 1..]
                .iter()
                .all(|&b| obs[a as usize].point != obs[b as usize].point)
        });
    }
    let mut points: Vec<PointId> = g.iter().map(|&o| obs[o as usize].point).collect();
    points.sort_unstable();
    points.windows(2).all(|w| w[0] != w[1])
}

/// Splits one flow's share of a group into journeys with at most one observation per point:
/// the k-th packet at every point (in time order) is taken to be the same packet.
fn split_by_point(
    obs: &[Observation],
    members: &[u32],
    ambiguous: &mut u64,
    out: &mut Vec<Journey>,
) {
    if members.len() == 1 || one_per_point(obs, members) {
        out.push(SmallVec::from_slice(members));
        return;
    }
    if obs[members[0] as usize].proto == Protocol::Tcp {
        retransmitted(obs, members, out);
        return;
    }
    // Per point, in order of first appearance.
    let mut slot: HashMap<PointId, usize> = HashMap::default();
    let mut per_point: Vec<(PointId, Vec<u32>)> = Vec::new();
    for &o in members {
        let p = obs[o as usize].point;
        let k = *slot.entry(p).or_insert_with(|| {
            per_point.push((p, Vec::new()));
            per_point.len() - 1
        });
        per_point[k].1.push(o);
    }
    let depth = per_point.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    if depth > 1 {
        *ambiguous += (members.len() - per_point.len()) as u64;
    }
    out.extend((0..depth).map(|k| {
        per_point
            .iter()
            .filter_map(|(_, v)| v.get(k).copied())
            .collect::<Journey>()
    }));
}

/// A UDP flow idle this long ends; the next datagram with its addresses and ports begins
/// another (conntrack forgets an answered UDP conversation after 120 s).
pub const UDP_IDLE_NS: i64 = 120_000_000_000;

/// One 4-tuple, several connections: a UDP conversation that fell idle for [`UDP_IDLE_NS`] and
/// began again, or a TCP connection followed by a new one on the same ports (a SYN with
/// another initial sequence number). Each becomes a flow of its own.
fn split_connections(obs: &[Observation], flows: Vec<FlowObs>) -> Vec<FlowObs> {
    let mut out = Vec::with_capacity(flows.len());
    for f in flows {
        let proto = f.local_flows[0].proto;
        if proto == Protocol::Icmp {
            out.push(f);
            continue;
        }
        let start = |j: &Journey| j.iter().map(|&o| obs[o as usize].ts_ns).min().unwrap_or(0);
        let mut events: Vec<(i64, bool, usize)> = f
            .requests
            .iter()
            .enumerate()
            .map(|(i, j)| (start(j), false, i))
            .chain(
                f.replies
                    .iter()
                    .enumerate()
                    .map(|(i, j)| (start(j), true, i)),
            )
            .collect();
        events.sort_unstable();
        // Which part each journey falls in.
        let mut part_of_request = vec![0usize; f.requests.len()];
        let mut part_of_reply = vec![0usize; f.replies.len()];
        let (mut part, mut last, mut isn) = (0usize, None::<i64>, None::<u32>);
        for &(t, is_reply, i) in &events {
            let first = &obs[if is_reply {
                f.replies[i][0]
            } else {
                f.requests[i][0]
            } as usize];
            let new = match proto {
                Protocol::Udp => last.is_some_and(|l| t.saturating_sub(l) > UDP_IDLE_NS),
                _ => {
                    let syn = !is_reply && first.is_syn();
                    let new = syn && isn.is_some_and(|s| s != first.tcp_seq) && last.is_some();
                    if syn {
                        isn = Some(first.tcp_seq);
                    }
                    new
                }
            };
            part += usize::from(new);
            last = Some(t);
            if is_reply {
                part_of_reply[i] = part;
            } else {
                part_of_request[i] = part;
            }
        }
        if part == 0 {
            out.push(f);
            continue;
        }
        let why = match proto {
            Protocol::Udp => "idle for more than 120 s",
            _ => "a new SYN",
        };
        let mut parts: Vec<FlowObs> = (0..=part)
            .map(|k| FlowObs {
                matched: f.matched,
                local_flows: f.local_flows.clone(),
                requests: Vec::new(),
                replies: Vec::new(),
                notes: {
                    let mut n = f.notes.clone();
                    n.push(format!(
                        "connection {} of {} on these addresses and ports (a new one began after {why})",
                        k + 1,
                        part + 1
                    ));
                    n
                },
            })
            .collect();
        for (j, k) in f.requests.into_iter().zip(part_of_request) {
            parts[k].requests.push(j);
        }
        for (j, k) in f.replies.into_iter().zip(part_of_reply) {
            parts[k].replies.push(j);
        }
        out.extend(
            parts
                .into_iter()
                .filter(|p| !p.requests.is_empty() || !p.replies.is_empty()),
        );
    }
    out
}

/// One TCP segment sent again (a retransmission): in time order, each copy joins the latest
/// journey that has not yet crossed its point, so a copy lost on the way and the one sent
/// after it are two journeys, the second reaching further.
fn retransmitted(obs: &[Observation], members: &[u32], out: &mut Vec<Journey>) {
    let mut sorted: SmallVec<[u32; 8]> = SmallVec::from_slice(members);
    sorted.sort_by_key(|&o| (obs[o as usize].ts_ns, o));
    let first = out.len();
    for o in sorted {
        let p = obs[o as usize].point;
        match out[first..]
            .iter_mut()
            .rev()
            .find(|j| j.iter().all(|&x| obs[x as usize].point != p))
        {
            Some(j) => j.push(o),
            None => out.push(SmallVec::from_slice(&[o])),
        }
    }
}

/// When no packet was seen at two points (one ping run per capture, the seed's method), ties the
/// one-point flows together by destination. Only when that is safe: one flow per point, and
/// captures that do not overlap in time (if they did, their packets should have matched).
fn flow_fallback(
    obs: &[Observation],
    flows: Vec<FlowObs>,
    notes: &mut Vec<String>,
) -> Vec<FlowObs> {
    let single = |f: &FlowObs| {
        let p = f.local_flows[0].point;
        f.local_flows.iter().all(|l| l.point == p)
    };
    let (singles, mut out): (Vec<FlowObs>, Vec<FlowObs>) =
        flows.into_iter().partition(|f| single(f));
    // Grouped by destination, in order of first appearance.
    let mut slot: HashMap<Addr, usize> = HashMap::default();
    let mut by_dst: Vec<(Addr, Vec<FlowObs>)> = Vec::new();
    for f in singles {
        let dst = f.local_flows[0].dst;
        let k = *slot.entry(dst).or_insert_with(|| {
            by_dst.push((dst, Vec::new()));
            by_dst.len() - 1
        });
        by_dst[k].1.push(f);
    }
    for (dst, mut group) in by_dst {
        let mut points: Vec<PointId> = group.iter().map(|f| f.local_flows[0].point).collect();
        points.sort_unstable();
        points.dedup();
        if points.len() < 2 {
            out.extend(group);
            continue;
        }
        group.sort_by_key(|f| time_span(obs, f));
        let spans: Vec<(i64, i64)> = group.iter().map(|f| time_span(obs, f)).collect();
        let overlap = spans.windows(2).any(|w| w[1].0 <= w[0].1);
        if points.len() != group.len() || overlap {
            notes.push(format!(
                "echoes to {dst} were seen at {} points at overlapping times, but no packet could be matched across them \
                 (identical payloads and rewritten IP ids?): their flows are listed apart",
                points.len()
            ));
            out.extend(group);
            continue;
        }
        let mut merged = FlowObs {
            matched: Matched::Flow,
            local_flows: Vec::new(),
            requests: Vec::new(),
            replies: Vec::new(),
            notes: vec![
                "no packet was seen at two points (captures taken at different times): points matched by destination, ordered by TTL"
                    .to_string(),
            ],
        };
        for f in group {
            merged.local_flows.extend(f.local_flows);
            merged.requests.extend(f.requests);
            merged.replies.extend(f.replies);
        }
        out.push(merged);
    }
    out
}

/// Numbers the packets of each TCP and UDP flow, per direction, in the order first seen: the
/// number every point's copy of a packet carries as its `seq` (the label reports use, as an
/// echo's sequence number). Echoes keep theirs.
pub fn number(obs: &mut [Observation], corr: &Correlation) {
    for f in corr
        .flows
        .iter()
        .filter(|f| f.local_flows[0].proto != Protocol::Icmp)
    {
        for journeys in [&f.requests, &f.replies] {
            let mut order: Vec<(i64, &Journey)> = journeys
                .iter()
                .map(|j| {
                    (
                        j.iter().map(|&o| obs[o as usize].ts_ns).min().unwrap_or(0),
                        j,
                    )
                })
                .collect();
            order.sort_by_key(|&(t, j)| (t, j[0]));
            for (k, (_, j)) in order.into_iter().enumerate() {
                for &o in j.iter() {
                    obs[o as usize].packet.seq = (k + 1) as u16;
                }
            }
        }
    }
}

/// First and last time a flow's packets were seen.
fn time_span(obs: &[Observation], f: &FlowObs) -> (i64, i64) {
    let ts = f
        .requests
        .iter()
        .chain(&f.replies)
        .flat_map(|j| j.iter().map(|&o| obs[o as usize].ts_ns));
    ts.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)))
}

fn first_seen(obs: &[Observation], f: &FlowObs) -> i64 {
    f.requests
        .iter()
        .chain(&f.replies)
        .flat_map(|j| j.iter().map(|&o| obs[o as usize].ts_ns))
        .min()
        .unwrap_or(i64::MAX)
}

#[cfg(test)]
pub(crate) mod tests;
