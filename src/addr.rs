//! [`Addr`]: an IP address in four bytes, the way every observation holds its source and
//! destination. Part of the vocabulary ([`crate::model`] re-exports it); imports nothing of
//! the crate.

use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Mutex, OnceLock};

/// An address as a packet carries it, in four bytes: an IPv4 address below 240.0.0.0 in place,
/// any other (IPv6, and IPv4 in 240.0.0.0/4, the limited broadcast among them) as the index of
/// its one copy in a table shared by the whole process, which only grows. Two `Addr`s are equal
/// exactly when their addresses are, and order as their addresses do. Every observation holds
/// two: as `IpAddr`s (17 bytes each) they were a fifth of an observation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Addr(u32);

/// `Addr`s from here on index the IPv6 addresses, and from [`HIGH_V4`] on the IPv4 addresses in
/// 240.0.0.0/4: 2^27 of each.
const V6: u32 = 0xF000_0000;
const HIGH_V4: u32 = 0xF800_0000;
const PER_KIND: u32 = HIGH_V4 - V6;

/// Addresses of each kind kept free for the packets read between two checks of
/// [`Addr::has_room`] (a reader checks every 4 MB of input: at most two new addresses a packet).
const ROOM: u32 = 1 << 21;

/// Slots per chunk of the table: a chunk is allocated when its first address is stored.
const CHUNK_BITS: u32 = 14;
const CHUNKS: usize = (PER_KIND >> CHUNK_BITS) as usize;

/// One kind's stored addresses, read without a lock: a slot is written once, before the `Addr`
/// that names it exists, so whoever holds an `Addr` finds its slot set.
struct Slots<T> {
    chunks: Box<[OnceLock<Chunk<T>>]>,
}

type Chunk<T> = Box<[OnceLock<T>]>;

impl<T> Slots<T> {
    fn new() -> Slots<T> {
        Slots {
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
        }
    }

    fn get(&self, i: u32) -> &T {
        self.chunks[(i >> CHUNK_BITS) as usize]
            .get()
            .and_then(|c| c[(i & ((1 << CHUNK_BITS) - 1)) as usize].get())
            .expect("an Addr is made only after its address is stored")
    }

    fn set(&self, i: u32, value: T) {
        let chunk = self.chunks[(i >> CHUNK_BITS) as usize]
            .get_or_init(|| (0..1 << CHUNK_BITS).map(|_| OnceLock::new()).collect());
        let _ = chunk[(i & ((1 << CHUNK_BITS) - 1)) as usize].set(value);
    }
}

/// Each address's `Addr` (under the lock, only to intern), and the addresses by `Addr`.
#[derive(Default)]
struct Index {
    v6: FxHashMap<u128, u32>,
    high_v4: FxHashMap<u32, u32>,
}

struct Table {
    index: Mutex<Index>,
    v6: Slots<Ipv6Addr>,
    high_v4: Slots<Ipv4Addr>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| Table {
        index: Mutex::default(),
        v6: Slots::new(),
        high_v4: Slots::new(),
    })
}

thread_local! {
    /// The `Addr`s this thread made before: decoding threads would otherwise meet at the
    /// table's lock for every IPv6 packet. Keyed by the address bits and whether they are IPv6.
    static MADE: RefCell<FxHashMap<(u128, bool), Addr>> = RefCell::default();
}

impl Addr {
    pub fn ip(self) -> IpAddr {
        if self.0 < V6 {
            IpAddr::V4(self.0.into())
        } else if self.0 < HIGH_V4 {
            IpAddr::V6(*table().v6.get(self.0 - V6))
        } else {
            IpAddr::V4(*table().high_v4.get(self.0 - HIGH_V4))
        }
    }

    pub fn is_ipv6(self) -> bool {
        (V6..HIGH_V4).contains(&self.0)
    }

    /// False once the table is within [`ROOM`] of holding as many addresses of one kind as an
    /// `Addr` can name: readers stop there, with an error, rather than fail on the next one.
    pub fn has_room() -> bool {
        let index = table().index.lock().unwrap_or_else(|e| e.into_inner());
        index.v6.len().max(index.high_v4.len()) < (PER_KIND - ROOM) as usize
    }

    /// The `Addr` of an address some packet carried, without storing a new one: `None` when no
    /// packet read so far has it.
    pub fn find(ip: IpAddr) -> Option<Addr> {
        let index = match ip {
            IpAddr::V4(v4) if u32::from(v4) < V6 => return Some(Addr(u32::from(v4))),
            _ => table().index.lock().unwrap_or_else(|e| e.into_inner()),
        };
        match ip {
            IpAddr::V6(v6) => index.v6.get(&u128::from(v6)).map(|&i| Addr(V6 + i)),
            IpAddr::V4(v4) => index
                .high_v4
                .get(&u32::from(v4))
                .map(|&i| Addr(HIGH_V4 + i)),
        }
    }

    /// The stored address's `Addr`, stored first if it is new.
    fn intern(ip: IpAddr) -> Addr {
        let table = table();
        let mut index = table.index.lock().unwrap_or_else(|e| e.into_inner());
        let index = &mut *index;
        match ip {
            IpAddr::V6(v6) => Addr(V6 + store(&mut index.v6, &table.v6, u128::from(v6), v6)),
            IpAddr::V4(v4) => {
                Addr(HIGH_V4 + store(&mut index.high_v4, &table.high_v4, u32::from(v4), v4))
            }
        }
    }
}

/// The slot of `value` (found by `key`), stored in the next free one if it is new.
fn store<K: std::hash::Hash + Eq, T>(
    index: &mut FxHashMap<K, u32>,
    slots: &Slots<T>,
    key: K,
    value: T,
) -> u32 {
    let next = index.len() as u32;
    let i = *index.entry(key).or_insert(next);
    if i == next {
        // Readers stop at `Addr::has_room`, 2^21 addresses short of this.
        assert!(
            next < PER_KIND,
            "more distinct addresses than natcorr holds"
        );
        slots.set(i, value);
    }
    i
}

impl From<IpAddr> for Addr {
    fn from(ip: IpAddr) -> Addr {
        let key = match ip {
            IpAddr::V4(v4) if u32::from(v4) < V6 => return Addr(u32::from(v4)),
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), false),
            IpAddr::V6(v6) => (u128::from(v6), true),
        };
        if let Some(a) = MADE.with(|m| m.borrow().get(&key).copied()) {
            return a;
        }
        let a = Addr::intern(ip);
        MADE.with(|m| m.borrow_mut().insert(key, a));
        a
    }
}

impl std::str::FromStr for Addr {
    type Err = std::net::AddrParseError;
    fn from_str(s: &str) -> Result<Addr, Self::Err> {
        s.parse::<IpAddr>().map(Addr::from)
    }
}

impl From<Addr> for IpAddr {
    fn from(a: Addr) -> IpAddr {
        a.ip()
    }
}

impl PartialEq<IpAddr> for Addr {
    fn eq(&self, other: &IpAddr) -> bool {
        match other {
            IpAddr::V4(v4) if u32::from(*v4) < V6 => self.0 == u32::from(*v4),
            _ if self.0 < V6 => false,
            _ => self.ip() == *other,
        }
    }
}

impl PartialOrd for Addr {
    fn partial_cmp(&self, other: &Addr) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Addr {
    fn cmp(&self, other: &Addr) -> Ordering {
        if self.0 < V6 && other.0 < V6 || self == other {
            return self.0.cmp(&other.0);
        }
        self.ip().cmp(&other.ip())
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ip().fmt(f)
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ip().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_kind_of_address_comes_back_whole() {
        for s in [
            "0.0.0.0",
            "10.0.0.1",
            "239.255.255.255",
            "240.0.0.0",
            "255.255.255.255",
            "::",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "fe80::1",
        ] {
            let a = Addr::from(ip(s));
            assert_eq!(a.ip(), ip(s), "{s}");
            assert_eq!(a, Addr::from(ip(s)), "{s} interned twice");
            assert!(a == ip(s), "{s}");
            assert_eq!(a.is_ipv6(), ip(s).is_ipv6(), "{s}");
            assert_eq!(a.to_string(), s);
        }
        // The same bits as IPv4 and as IPv6 are different addresses, in this thread's cache too.
        let high = Addr::from(ip("240.0.0.1"));
        let v6 = Addr::from(ip("::1:0:0:f000:1"));
        assert_ne!(high, v6);
        assert_eq!(
            (high.ip(), v6.ip()),
            (ip("240.0.0.1"), ip("::1:0:0:f000:1"))
        );
        assert_ne!(
            Addr::from(ip("255.255.255.255")),
            Addr::from(ip("::ffff:ffff"))
        );
        assert!(Addr::from(ip("10.0.0.1")) != ip("::ffff:10.0.0.1"));
        assert!(Addr::from(ip("255.255.255.255")) != ip("255.255.255.254"));
    }

    #[test]
    fn find_stores_nothing() {
        assert_eq!(
            Addr::find(ip("10.1.2.3")).map(Addr::ip),
            Some(ip("10.1.2.3"))
        );
        assert_eq!(Addr::find(ip("2001:db8::dead:beef:1")), None);
        let a = Addr::from(ip("2001:db8::dead:beef:1"));
        assert_eq!(Addr::find(ip("2001:db8::dead:beef:1")), Some(a));
        assert_eq!(Addr::find(ip("250.1.2.3")), None);
        assert!(Addr::has_room());
    }

    #[test]
    fn addrs_order_as_their_addresses() {
        let list = [
            "2001:db8::2",
            "255.255.255.255",
            "10.0.0.2",
            "::1",
            "240.0.0.1",
            "10.0.0.1",
            "2001:db8::1",
            "241.0.0.0",
        ];
        // Interned out of order: the index order is not the address order.
        let mut addrs: Vec<Addr> = list.iter().map(|s| Addr::from(ip(s))).collect();
        let mut ips: Vec<IpAddr> = list.iter().map(|s| ip(s)).collect();
        addrs.sort();
        ips.sort();
        assert_eq!(addrs.iter().map(|a| a.ip()).collect::<Vec<_>>(), ips);
    }

    #[test]
    fn threads_share_one_table() {
        let made: Vec<Vec<Addr>> = std::thread::scope(|s| {
            let run = || {
                (0..5000u128)
                    .map(|i| Addr::from(IpAddr::V6((0x2001_0db8_7777u128 << 80 | i).into())))
                    .collect()
            };
            let a = s.spawn(run);
            let b = s.spawn(run);
            vec![a.join().unwrap(), b.join().unwrap()]
        });
        assert_eq!(made[0], made[1]);
        for (i, a) in made[0].iter().enumerate() {
            assert_eq!(
                a.ip(),
                IpAddr::V6((0x2001_0db8_7777u128 << 80 | i as u128).into())
            );
        }
    }
}
