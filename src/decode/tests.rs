//! Each decoder on crafted bytes.

use super::*;
use crate::model::{ErrorKind, Packet};
use etherparse::PacketBuilder;

/// Every protocol, as natcorr reads by default.
fn decode(link: LinkLayer, data: &[u8]) -> (Option<u32>, Outcome) {
    super::decode(link, data, Protocols::ALL)
}

const PAYLOAD: &[u8] = b"0123456789abcdefPAYLOAD-PAYLOAD-PAYLOAD-PAYLOAD-";

fn v4_request(id: u16, seq: u16) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4([192, 168, 65, 125], [203, 0, 113, 234], 64)
        .icmpv4_echo_request(id, seq)
        .write(&mut out, PAYLOAD)
        .unwrap();
    out
}

fn v6_reply(id: u16, seq: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let b = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    PacketBuilder::ipv6(a, b, 61)
        .icmpv6_echo_reply(id, seq)
        .write(&mut out, PAYLOAD)
        .unwrap();
    out
}

fn ether(ethertype: u16, tags: &[(u16, u16)], ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0x52, 0x54, 0, 0, 0, 1, 0x52, 0x54, 0, 0, 0, 2];
    for &(tpid, vid) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

fn echo(link: u32, frame: &[u8]) -> (Option<u32>, Packet) {
    match decode(LinkLayer::from_linktype(link), frame) {
        (ifx, Outcome::Packet(e)) => (ifx, e),
        other => panic!("expected an echo, got {other:?}"),
    }
}

fn check_v4(e: &Packet) {
    assert_eq!(e.dir, Direction::Request);
    assert_eq!(e.src.to_string(), "192.168.65.125");
    assert_eq!(e.dst.to_string(), "203.0.113.234");
    assert_eq!((e.icmp_id, e.seq, e.ttl), (4242, 7, 64));
    assert_eq!(e.icmp_len, 8 + PAYLOAD.len() as u16);
    assert_eq!(&e.prefix[..], &PAYLOAD[..16]);
    assert_eq!(e.digest.get(), digest(PAYLOAD));
}

#[test]
fn ethernet_ipv4_request() {
    let (ifx, e) = echo(1, &ether(0x0800, &[], &v4_request(4242, 7)));
    assert_eq!(ifx, None);
    check_v4(&e);
}

#[test]
fn vlan_and_qinq_tags() {
    let (_, e) = echo(1, &ether(0x0800, &[(0x8100, 106)], &v4_request(4242, 7)));
    check_v4(&e);
    let (_, e) = echo(
        1,
        &ether(0x0800, &[(0x88a8, 10), (0x8100, 106)], &v4_request(4242, 7)),
    );
    check_v4(&e);
}

#[test]
fn linux_sll_and_sll2() {
    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
    sll.extend(v4_request(4242, 7));
    let (ifx, e) = echo(113, &sll);
    assert_eq!(ifx, None);
    check_v4(&e);

    // protocol, reserved, ifindex 2182122, ARPHRD_ETHER, packet type, addr len, address.
    let mut sll2 = vec![0x08, 0x00, 0, 0];
    sll2.extend(2_182_122u32.to_be_bytes());
    sll2.extend([0, 1, 4, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
    sll2.extend(v4_request(4242, 7));
    let (ifx, e) = echo(276, &sll2);
    assert_eq!(ifx, Some(2_182_122));
    check_v4(&e);
}

#[test]
fn raw_ip_both_versions() {
    let (_, e) = echo(101, &v4_request(4242, 7));
    check_v4(&e);
    let (_, e) = echo(229, &v6_reply(9, 300));
    assert_eq!(e.dir, Direction::Reply);
    assert_eq!((e.icmp_id, e.seq, e.ttl), (9, 300, 61));
    assert_eq!(e.src.to_string(), "2001:db8::1");
}

#[test]
fn bsd_loopback_both_byte_orders() {
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend(v4_request(4242, 7));
    check_v4(&echo(0, &null).1);
    let mut lo = 30u32.to_be_bytes().to_vec();
    lo.extend(v6_reply(1, 1));
    assert_eq!(echo(108, &lo).1.dir, Direction::Reply);
}

#[test]
fn wan_link_types() {
    let ip = v4_request(4242, 7);
    let with = |head: &[u8]| [head, &ip[..]].concat();
    check_v4(&echo(9, &with(&[0xff, 0x03, 0x00, 0x21])).1);
    check_v4(&echo(104, &with(&[0x0f, 0x00, 0x08, 0x00])).1);
    check_v4(&echo(107, &with(&[0x18, 0x61, 0x03, 0xcc])).1);
    check_v4(&echo(107, &with(&[0x18, 0x61, 0x08, 0x00])).1);
    let mut ipnet = vec![0u8; 24];
    ipnet[1] = 2;
    check_v4(&echo(226, &with(&ipnet)).1);
    let mut ipoib = vec![0u8; 44];
    ipoib[40..42].copy_from_slice(&[0x08, 0x00]);
    check_v4(&echo(242, &with(&ipoib)).1);
}

#[test]
fn ip_in_ip_is_followed() {
    let inner = v4_request(4242, 7);
    let mut outer = Vec::new();
    PacketBuilder::ipv4([198, 51, 100, 1], [198, 51, 100, 2], 30)
        .write(&mut outer, IpNumber::IPV4, &inner)
        .unwrap();
    check_v4(&echo(101, &outer).1);
}

#[test]
fn snaplen_cut_payload_still_counts() {
    let frame = ether(0x0800, &[], &v4_request(4242, 7));
    let cut = &frame[..14 + 20 + 8 + 4];
    let (_, e) = echo(1, cut);
    assert_eq!(
        e.icmp_len,
        8 + PAYLOAD.len() as u16,
        "length comes from the IP header"
    );
    assert_eq!(e.prefix_len, 4);
    assert_eq!(e.digest_len, 4);
}

#[test]
fn snaplen_cut_header_keeps_what_it_can() {
    let frame = ether(0x0800, &[], &v4_request(4242, 7));
    // Cut after the identifier: all but the sequence number and payload, to be matched later.
    match decode(LinkLayer::Ethernet, &frame[..14 + 20 + 6]).1 {
        Outcome::CutEcho(e) => {
            assert_eq!(
                (e.icmp_id, e.seq, e.prefix_len, e.digest_len),
                (4242, 0, 0, 0)
            );
            assert_eq!(e.icmp_len, 8 + PAYLOAD.len() as u16);
            assert_eq!(e.src.to_string(), "192.168.65.125");
        }
        other => panic!("expected a cut echo, got {other:?}"),
    }
    // Cut inside the identifier: unusable.
    let (_, out) = decode(LinkLayer::Ethernet, &frame[..14 + 20 + 5]);
    assert_eq!(out, Outcome::TruncatedEcho);
}

#[test]
fn fragments() {
    let mut ip = v4_request(4242, 7);
    // More-fragments on the first fragment: still an echo.
    ip[4..6].copy_from_slice(&777u16.to_be_bytes());
    ip[6] = 0x20;
    match decode(LinkLayer::RawIp, &ip).1 {
        Outcome::Packet(e) => assert!(e.fragmented && e.ip_id == 777),
        other => panic!("{other:?}"),
    }
    // A later fragment carries no ICMP header: it is counted with its datagram.
    ip[6] = 0x00;
    ip[7] = 0x10;
    let key = FragmentKey {
        src: "192.168.65.125".parse().unwrap(),
        dst: "203.0.113.234".parse().unwrap(),
        id: 777,
    };
    assert_eq!(decode(LinkLayer::RawIp, &ip).1, Outcome::Fragment(key));
    // Later fragments of UDP are counted too when UDP is read, else they are other traffic.
    ip[9] = 17;
    assert_eq!(decode(LinkLayer::RawIp, &ip).1, Outcome::Fragment(key));
    let icmp_only = Protocols::of(&[Protocol::Icmp]);
    assert_eq!(
        super::decode(LinkLayer::RawIp, &ip, icmp_only).1,
        Outcome::Other
    );
    ip[9] = 50;
    assert_eq!(decode(LinkLayer::RawIp, &ip).1, Outcome::Other);
}

#[test]
fn other_traffic_is_skipped() {
    let mut ns = Vec::new();
    PacketBuilder::ipv6(
        [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 1],
        255,
    )
    .icmpv6(etherparse::Icmpv6Type::Unknown {
        type_u8: 135,
        code_u8: 0,
        bytes5to8: [0; 4],
    })
    .write(&mut ns, &[0; 16])
    .unwrap();
    assert_eq!(decode(LinkLayer::RawIp, &ns).1, Outcome::Other);
    let arp = ether(0x0806, &[], &[0; 28]);
    assert_eq!(decode(LinkLayer::Ethernet, &arp).1, Outcome::Other);
    let mut unreachable = Vec::new();
    PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 9)
        .icmpv4(etherparse::Icmpv4Type::Unknown {
            type_u8: 3,
            code_u8: 1,
            bytes5to8: [0; 4],
        })
        .write(&mut unreachable, &[0; 28])
        .unwrap();
    assert_eq!(decode(LinkLayer::RawIp, &unreachable).1, Outcome::Other);
}

#[test]
fn unknown_link_type_and_short_headers() {
    assert_eq!(
        decode(LinkLayer::from_linktype(147), &[1, 2, 3]).1,
        Outcome::Unusable(Unusable::UnsupportedLinkType)
    );
    assert_eq!(
        decode(LinkLayer::LinuxSll2, &[0; 10]).1,
        Outcome::Unusable(Unusable::HeaderCut("Linux SLL2"))
    );
    assert!(matches!(
        decode(LinkLayer::Ethernet, &[0; 5]).1,
        Outcome::Unusable(_)
    ));
}

#[test]
fn gre_vxlan_geneve_are_opened() {
    let frame = ether(0x0800, &[(0x8100, 5)], &v4_request(4242, 7));
    let outer = |proto: IpNumber, body: &[u8]| {
        let mut out = Vec::new();
        PacketBuilder::ipv4([198, 51, 100, 1], [198, 51, 100, 2], 30)
            .write(&mut out, proto, body)
            .unwrap();
        out
    };
    // GRE with key and sequence number, carrying an Ethernet frame (gretap).
    let mut gre = vec![0x30, 0x00, 0x65, 0x58, 0, 0, 0, 1, 0, 0, 0, 2];
    gre.extend(&frame);
    check_v4(&echo(101, &outer(IpNumber::GRE, &gre)).1);
    // Plain GRE carrying IPv4.
    let mut gre = vec![0x00, 0x00, 0x08, 0x00];
    gre.extend(v4_request(4242, 7));
    check_v4(&echo(101, &outer(IpNumber::GRE, &gre)).1);
    // VXLAN: UDP to 4789, 8-byte header with the I flag and VNI 106.
    let mut udp = vec![
        0xc0, 0x00, 0x12, 0xb5, 0, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 106, 0,
    ];
    udp.extend(&frame);
    check_v4(&echo(101, &outer(IpNumber::UDP, &udp)).1);
    // Geneve: UDP to 6081, one 4-byte option, Ethernet payload.
    let mut udp = vec![
        0xc0, 0x00, 0x17, 0xc1, 0, 0, 0, 0, 0x01, 0, 0x65, 0x58, 0, 0, 106, 0, 1, 2, 3, 4,
    ];
    udp.extend(&frame);
    check_v4(&echo(101, &outer(IpNumber::UDP, &udp)).1);
    // Other UDP is not a tunnel: a datagram of its own (other traffic when UDP is not read).
    let udp = vec![0xc0, 0x00, 0x00, 0x35, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    match decode(LinkLayer::RawIp, &outer(IpNumber::UDP, &udp)).1 {
        Outcome::Packet(p) => assert_eq!((p.proto, p.sport, p.dport), (Protocol::Udp, 49152, 53)),
        other => panic!("expected a datagram, got {other:?}"),
    }
    assert_eq!(
        super::decode(
            LinkLayer::RawIp,
            &outer(IpNumber::UDP, &udp),
            Protocols::of(&[Protocol::Icmp])
        )
        .1,
        Outcome::Other
    );
}

#[test]
fn ipv6_fragment_headers_after_other_extensions() {
    // Hop-by-hop (8 bytes), then a fragment header at offset 185 with id 0x01020304.
    let mut exts = vec![44, 0, 0, 0, 0, 0, 0, 0];
    exts.extend([58, 0, 0x05, 0xc9, 1, 2, 3, 4]);
    assert_eq!(ipv6_fragment(0, &exts), Some((185, 0x0102_0304)));
    assert_eq!(ipv6_fragment(0, &exts[..12]), None, "cut short");
    assert_eq!(ipv6_fragment(6, &exts), None, "no extension header");
}

/// Every input the fuzzers ever crashed on, under every link type: no panic, no out-of-bounds read.
#[test]
fn fuzz_regressions() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut n = 0;
    for target in std::fs::read_dir(&dir).unwrap() {
        for file in std::fs::read_dir(target.unwrap().path()).unwrap() {
            let data = std::fs::read(file.unwrap().path()).unwrap();
            for lt in [
                0, 1, 9, 12, 101, 104, 107, 108, 113, 226, 228, 229, 242, 276,
            ] {
                let _ = decode(LinkLayer::from_linktype(lt), &data);
                let _ = decode(LinkLayer::from_linktype(lt), data.get(1..).unwrap_or(&[]));
            }
            let _ = crate::decode::read_reader(
                &crate::model::Input {
                    path: "fuzz".into(),
                    name: None,
                },
                &data[..],
            );
            n += 1;
        }
    }
    assert!(n >= 1);
}

fn v6_request(id: u16, seq: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let a = [0xfd, 0, 0, 0x65, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x25];
    let b = [
        0x20, 0x01, 0x0d, 0xb8, 0xfe, 0xed, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x34,
    ];
    PacketBuilder::ipv6(a, b, 1)
        .icmpv6_echo_request(id, seq)
        .write(&mut out, PAYLOAD)
        .unwrap();
    out
}

/// An ICMP error from `reporter` quoting `quote` (type, code, 4 bytes, then the quote).
fn icmp_error(v6: bool, kind: u8, code: u8, quote: &[u8]) -> Vec<u8> {
    let mut body = vec![kind, code, 0, 0, 0, 0, 0, 0];
    body.extend_from_slice(quote);
    let mut out = Vec::new();
    if v6 {
        let r = [
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99,
        ];
        let d = [0xfd, 0, 0, 0x65, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x25];
        PacketBuilder::ipv6(r, d, 64)
            .write(&mut out, IpNumber::IPV6_ICMP, &body)
            .unwrap();
    } else {
        PacketBuilder::ipv4([198, 51, 100, 1], [192, 168, 65, 125], 64)
            .write(&mut out, IpNumber::ICMP, &body)
            .unwrap();
    }
    out
}

#[test]
fn icmp_errors_quote_the_echo() {
    let request = v4_request(4242, 7);
    match decode(LinkLayer::RawIp, &icmp_error(false, 11, 0, &request)).1 {
        Outcome::Error(e) => {
            assert_eq!(e.kind, ErrorKind::TimeExceeded);
            assert_eq!(e.reporter.to_string(), "198.51.100.1");
            assert_eq!(
                (e.quoted.id, e.quoted.seq, e.quoted.icmp_len),
                (4242, 7, 8 + PAYLOAD.len() as u16)
            );
            assert_eq!(e.quoted.src.to_string(), "192.168.65.125");
            assert_eq!(&e.quoted.prefix[..], &PAYLOAD[..16]);
        }
        other => panic!("{other:?}"),
    }
    // Fragmentation needed, quoting only the IP header and the 8-byte echo header (RFC 792).
    match decode(LinkLayer::RawIp, &icmp_error(false, 3, 4, &request[..28])).1 {
        Outcome::Error(e) => {
            assert_eq!(
                (e.kind, e.code, e.quoted.seq, e.quoted.prefix_len),
                (ErrorKind::Unreachable, 4, 7, 0)
            );
        }
        other => panic!("{other:?}"),
    }
    for (kind, want) in [
        (3, ErrorKind::TimeExceeded),
        (2, ErrorKind::PacketTooBig),
        (1, ErrorKind::Unreachable),
    ] {
        match decode(
            LinkLayer::RawIp,
            &icmp_error(true, kind, 0, &v6_request(9, 3)),
        )
        .1
        {
            Outcome::Error(e) => assert_eq!((e.kind, e.quoted.id, e.quoted.seq), (want, 9, 3)),
            other => panic!("{other:?}"),
        }
    }
    // An error quoting a UDP datagram is tied by its ports (and payload, when quoted).
    let mut udp = Vec::new();
    PacketBuilder::ipv4([192, 168, 65, 125], [203, 0, 113, 234], 1)
        .udp(5000, 33434)
        .write(&mut udp, b"probe-01")
        .unwrap();
    match decode(LinkLayer::RawIp, &icmp_error(false, 3, 3, &udp)).1 {
        Outcome::Error(e) => {
            let q = e.quoted;
            assert_eq!((e.kind, e.code), (ErrorKind::Unreachable, 3));
            assert_eq!(
                (q.proto, q.sport, q.dport, q.word),
                (Protocol::Udp, 5000, 33434, 0)
            );
            assert_eq!((q.icmp_len, &q.prefix[..8]), (16, &b"probe-01"[..]));
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // Errors about other traffic, and errors quoting a reply, are not ours.
    let mut other = udp.clone();
    other[9] = 50;
    assert_eq!(
        decode(LinkLayer::RawIp, &icmp_error(false, 11, 0, &other)).1,
        Outcome::Other
    );
    let mut reply = Vec::new();
    PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 1)
        .icmpv4_echo_reply(1, 1)
        .write(&mut reply, &[])
        .unwrap();
    assert_eq!(
        decode(LinkLayer::RawIp, &icmp_error(false, 11, 0, &reply)).1,
        Outcome::Other
    );
    assert_eq!(
        decode(LinkLayer::RawIp, &icmp_error(false, 11, 0, &request[..10])).1,
        Outcome::Other
    );
}

/// A classic µs pcap of Ethernet frames at the given (seconds, µs).
fn pcap_of(frames: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let mut out = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    out.extend([0; 8]);
    out.extend(65535u32.to_le_bytes());
    out.extend(1u32.to_le_bytes());
    for (sec, usec, f) in frames {
        for v in [*sec, *usec, f.len() as u32, f.len() as u32] {
            out.extend(v.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    out
}

/// The frames as a little-endian pcapng: one section, one Ethernet interface, one enhanced
/// packet block each (microseconds); a second interface is declared before frame `idb_at`,
/// and that frame and the later ones are its packets; the blocks of frames `unaligned` state
/// their length unpadded (as early writers did; such frames should be of odd length).
fn pcapng_with(
    frames: &[(u32, u32, &[u8])],
    idb_at: Option<usize>,
    unaligned: &[usize],
    two_in_head: bool,
) -> Vec<u8> {
    let block = |out: &mut Vec<u8>, btype: u32, body: &[u8], unpadded: bool| {
        let len = if unpadded {
            12 + body.len()
        } else {
            12 + body.len().next_multiple_of(4)
        } as u32;
        out.extend(btype.to_le_bytes());
        out.extend(len.to_le_bytes());
        out.extend_from_slice(body);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend(len.to_le_bytes());
    };
    let mut out = Vec::new();
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend([1, 0, 0, 0]);
    shb.extend([0xff; 8]);
    block(&mut out, 0x0a0d_0d0a, &shb, false);
    let idb = [1, 0, 0, 0, 0xff, 0xff, 0, 0];
    block(&mut out, 1, &idb, false);
    if two_in_head {
        block(&mut out, 1, &idb, false);
    }
    for (i, (sec, usec, f)) in frames.iter().enumerate() {
        if idb_at == Some(i) {
            block(&mut out, 1, &idb, false);
        }
        let ts = u64::from(*sec) * 1_000_000 + u64::from(*usec);
        let interface = if two_in_head {
            (i % 2) as u32
        } else {
            u32::from(idb_at.is_some_and(|at| i >= at))
        };
        let mut epb = interface.to_le_bytes().to_vec();
        for v in [(ts >> 32) as u32, ts as u32, f.len() as u32, f.len() as u32] {
            epb.extend(v.to_le_bytes());
        }
        epb.extend_from_slice(f);
        block(&mut out, 6, &epb, unaligned.contains(&i));
    }
    out
}

#[test]
fn duplicates_are_found_also_when_the_file_goes_back_in_time() {
    let (a, b) = (
        ether(0x0800, &[], &v4_request(4242, 1)),
        ether(0x0800, &[], &v4_request(4242, 2)),
    );
    // A capture appended to itself: a, b, then a and b again from the start (1 s back), and a
    // copy of b 0.4 ms after it (in the window), and a repeat of a 2 s later (not a copy).
    let file = pcap_of(&[
        (100, 0, &a),
        (101, 0, &b),
        (100, 0, &a),
        (101, 0, &b),
        (101, 400, &b),
        (102, 0, &a),
    ]);
    let scan = crate::decode::read_reader(
        &crate::model::Input {
            path: "appended.pcap".into(),
            name: None,
        },
        &file[..],
    );
    let p = &scan.points[0];
    assert_eq!((p.packets, p.echo_packets, p.duplicates), (6, 3, 3));
    let kept: Vec<(i64, u16)> = scan.observations.iter().map(|o| (o.ts_ns, o.seq)).collect();
    assert_eq!(
        kept,
        [
            (100_000_000_000, 1),
            (101_000_000_000, 2),
            (102_000_000_000, 1)
        ]
    );
}

#[test]
fn a_copy_with_another_link_header_is_the_same_packet() {
    let ip = v4_request(4242, 1);
    let (plain, tagged) = (
        ether(0x0800, &[], &ip),
        ether(0x0800, &[(0x8100, 106)], &ip),
    );
    let other = ether(0x0800, &[], &v4_request(4242, 2));
    let file = pcap_of(&[(100, 0, &plain), (100, 1, &tagged), (100, 2, &other)]);
    let scan = crate::decode::read_reader(
        &crate::model::Input {
            path: "mirror.pcap".into(),
            name: None,
        },
        &file[..],
    );
    let p = &scan.points[0];
    assert_eq!((p.packets, p.echo_packets, p.duplicates), (3, 2, 1));
}

#[test]
fn tcp_segments_and_udp_datagrams() {
    let mut seg = Vec::new();
    PacketBuilder::ipv4([192, 168, 65, 125], [203, 0, 113, 234], 64)
        .tcp(41001, 80, 4_196_884_658, 64240)
        .syn()
        .write(&mut seg, &[])
        .unwrap();
    match decode(LinkLayer::RawIp, &seg).1 {
        Outcome::Packet(p) => {
            assert_eq!(p.proto, Protocol::Tcp);
            assert_eq!(
                (p.sport, p.dport, p.tcp_seq, p.tcp_window),
                (41001, 80, 4_196_884_658, 64240)
            );
            assert!(p.is_syn());
            assert_eq!((p.icmp_len, p.header_len, p.seq_space()), (20, 20, 1));
            assert_eq!((p.prefix_len, p.digest_len), (0, 0));
        }
        other => panic!("expected a segment, got {other:?}"),
    }
    let mut data = Vec::new();
    PacketBuilder::ipv4([192, 168, 65, 125], [203, 0, 113, 234], 64)
        .tcp(41001, 80, 1000, 502)
        .ack(77)
        .psh()
        .write(&mut data, b"GET /tcp/1 HTTP/1.0\r\n")
        .unwrap();
    match decode(LinkLayer::RawIp, &data).1 {
        Outcome::Packet(p) => {
            assert_eq!(
                (p.tcp_ack, p.tcp_flags & 0x18, p.seq_space()),
                (77, 0x18, 21)
            );
            assert_eq!(&p.prefix[..], &b"GET /tcp/1 HTTP/"[..]);
            assert_eq!(p.digest.get(), digest(b"GET /tcp/1 HTTP/1.0\r\n"));
        }
        other => panic!("expected a segment, got {other:?}"),
    }
    // Cut before the window: cannot be matched, and said so.
    assert_eq!(
        decode(LinkLayer::RawIp, &data[..20 + 13]).1,
        Outcome::Unusable(Unusable::TransportHeaderCut(Protocol::Tcp))
    );
    // Cut inside the payload: the header's fields, and the payload bytes that were kept.
    match decode(LinkLayer::RawIp, &data[..20 + 20 + 4]).1 {
        Outcome::Packet(p) => assert_eq!((p.prefix_len, p.payload_len()), (4, 21)),
        other => panic!("expected a segment, got {other:?}"),
    }
    let mut dgram = Vec::new();
    PacketBuilder::ipv6(
        [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        64,
    )
    .udp(40053, 9999)
    .write(&mut dgram, b"01")
    .unwrap();
    match decode(LinkLayer::RawIp, &dgram).1 {
        Outcome::Packet(p) => {
            assert_eq!(
                (p.proto, p.sport, p.dport, p.icmp_len),
                (Protocol::Udp, 40053, 9999, 10)
            );
            assert_eq!(p.payload_len(), 2);
        }
        other => panic!("expected a datagram, got {other:?}"),
    }
    assert_eq!(
        decode(LinkLayer::RawIp, &dgram[..40 + 6]).1,
        Outcome::Unusable(Unusable::TransportHeaderCut(Protocol::Udp))
    );
    // Not asked for: other traffic.
    let icmp = Protocols::of(&[Protocol::Icmp]);
    assert_eq!(
        super::decode(LinkLayer::RawIp, &seg, icmp).1,
        Outcome::Other
    );
}

#[test]
fn digest_is_fnv1a_up_to_64_bytes_and_tells_every_byte_of_a_long_payload() {
    let payload: Vec<u8> = (0..1500u32).map(|i| (i * 7 + 3) as u8).collect();
    for n in [0, 1, 8, 56, DIGEST_BYTEWISE] {
        assert_eq!(digest(&payload[..n]), fnv1a(&payload[..n]), "{n} bytes");
    }
    // Persisted in Parquet files (schema 3): a change to it raises the schema version.
    // The values of an independent implementation (Python, from the definition in `digest`).
    assert_eq!(digest(&payload), 0xd270_2677_cc08_0a59);
    assert_eq!(digest(&payload[..65]), 0xd542_bfcb_b537_7236);
    for len in [65, 71, 72, 73, 1500] {
        let whole = digest(&payload[..len]);
        for i in 0..len {
            let mut changed = payload[..len].to_vec();
            changed[i] ^= 0x01;
            assert_ne!(digest(&changed), whole, "byte {i} of {len}");
        }
    }
}

/// One file read in parts on several cores, against the same file read front to back.
mod in_parts {
    use super::*;
    use crate::decode::split::{self, Split};
    use crate::model::Input;
    use std::path::Path;

    /// The file read front to back, and in parts of at least `min_part` bytes on four threads
    /// (`None`: not read in parts), as debug text.
    fn both(path: &Path, min_part: u64) -> (String, Option<(String, Split)>) {
        let input = Input {
            path: path.into(),
            name: None,
        };
        let whole = read_reader(&input, std::fs::File::open(path).unwrap());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let parts = pool.install(|| {
            split::read(
                &input,
                &|_| {},
                &Budget::unlimited(),
                Protocols::ALL,
                min_part,
            )
        });
        (
            format!("{whole:?}"),
            parts.map(|(scan, s)| (format!("{scan:?}"), s)),
        )
    }

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
        f
    }

    #[test]
    fn every_lab_capture_reads_the_same_in_parts() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut files: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .flat_map(|d| std::fs::read_dir(d.unwrap().path()).into_iter().flatten())
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
            .collect();
        files.sort();
        let (mut joined, mut alone) = (0, Vec::new());
        for path in &files {
            let len = std::fs::metadata(path).unwrap().len();
            for min_part in [len / 2, len / 4] {
                let (whole, parts) = both(path, min_part);
                let Some((parts, split)) = parts else {
                    alone.push(format!("{} (not cut)", path.display()));
                    continue;
                };
                assert_eq!(whole, parts, "{} in parts of {min_part}", path.display());
                if split.joined == split.parts {
                    joined += 1;
                } else {
                    alone.push(format!("{} ({split:?})", path.display()));
                }
            }
        }
        eprintln!("{joined} joined; read alone: {alone:#?}");
        assert!(
            joined > files.len(),
            "{joined} of {} cuts joined",
            2 * files.len()
        );
    }

    /// `2n` echo requests 1 ms apart, all of one size: cut in two halves, the second part
    /// begins exactly at request `n` (index). `edit` changes the frames first.
    fn halves(n: usize, edit: impl Fn(&mut Vec<(u32, u32, Vec<u8>)>)) -> Vec<u8> {
        let mut frames = requests(2 * n);
        edit(&mut frames);
        pcap_of(&as_refs(&frames))
    }

    /// `n` echo requests 1 ms apart, all of one size, as (seconds, microseconds, frame).
    fn requests(n: usize) -> Vec<(u32, u32, Vec<u8>)> {
        (0..n)
            .map(|i| {
                let ms = i as u32;
                (
                    100 + ms / 1000,
                    (ms % 1000) * 1000,
                    ether(0x0800, &[], &v4_request(7, i as u16)),
                )
            })
            .collect()
    }

    fn as_refs(frames: &[(u32, u32, Vec<u8>)]) -> Vec<(u32, u32, &[u8])> {
        frames.iter().map(|(s, u, f)| (*s, *u, &f[..])).collect()
    }

    /// The file read in two halves, checked to read as it does whole: how many parts made the
    /// result, and the scan.
    fn in_halves(bytes: &[u8]) -> (usize, FileScan) {
        let f = write(bytes);
        let (whole, parts) = both(f.path(), bytes.len() as u64 / 2);
        let (parts, split) = parts.expect("cut in two");
        assert_eq!(whole, parts);
        assert_eq!(split.parts, 2);
        let scan = read_reader(
            &Input {
                path: f.path().into(),
                name: None,
            },
            bytes,
        );
        (split.joined, scan)
    }

    #[test]
    fn a_budget_met_in_parts_stops_reading_where_one_reading_does() {
        // 200,000 requests, one reading's budget met in the second half: the parts read ahead
        // must not make the first part meet it sooner (they used to share one account).
        let bytes = halves(100_000, |_| {});
        let f = write(&bytes);
        let input = Input {
            path: f.path().into(),
            name: None,
        };
        let limit = 150_000 * crate::decode::file::BYTES_PER_OBSERVATION;
        let read = |budget: &Budget| {
            crate::decode::file::read_file(&input, &|_| {}, budget, Protocols::ALL)
        };
        let whole = read(&Budget::new(limit));
        let stopped = |scan: &FileScan| {
            scan.diagnostics
                .iter()
                .any(|d| d.message.contains("memory budget"))
        };
        assert!(stopped(&whole), "{:?}", whole.diagnostics);
        let n = whole.observations.len();
        assert!(
            (100_001..200_000).contains(&n),
            "stopped in the second half: {n}"
        );
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        // The parts race for the budget: a few readings, each the same as one reading.
        for _ in 0..4 {
            let budget = Budget::new(limit);
            let (parts, split) = pool
                .install(|| {
                    split::read(
                        &input,
                        &|_| {},
                        &budget,
                        Protocols::ALL,
                        bytes.len() as u64 / 2,
                    )
                })
                .expect("cut in two");
            assert_eq!(
                split,
                Split {
                    parts: 2,
                    joined: 1
                }
            );
            assert_eq!(format!("{whole:?}"), format!("{parts:?}"));
        }
        // Read again with room for the whole file: the parts join.
        let roomy = Budget::new(u64::MAX / 2);
        let (all, split) = pool
            .install(|| {
                split::read(
                    &input,
                    &|_| {},
                    &roomy,
                    Protocols::ALL,
                    bytes.len() as u64 / 2,
                )
            })
            .expect("cut in two");
        assert_eq!(split.joined, 2);
        assert_eq!(all.observations.len(), 200_000);
    }

    /// `halves(n)`'s frames as pcapng, with a second interface declared before frame
    /// `idb_at`.
    fn halves_ng(n: usize, idb_at: Option<usize>) -> Vec<u8> {
        halves_ng_with(n, idb_at, &[], false)
    }

    /// [`halves_ng`], frames `unaligned` one byte longer in blocks stating their length
    /// unpadded; with `two_in_head`, the head declares two interfaces and frames alternate
    /// between them.
    fn halves_ng_with(
        n: usize,
        idb_at: Option<usize>,
        unaligned: &[usize],
        two_in_head: bool,
    ) -> Vec<u8> {
        let mut frames = requests(2 * n);
        for &i in unaligned {
            frames[i].2.push(0);
        }
        pcapng_with(&as_refs(&frames), idb_at, unaligned, two_in_head)
    }

    #[test]
    fn pcapng_halves_join_and_read_as_one_reading() {
        let (joined, scan) = in_halves(&halves_ng(50, None));
        assert_eq!(joined, 2);
        assert_eq!(scan.observations.len(), 100);
        // Blocks are records: the section header and the interface come first.
        assert_eq!(scan.observations[50].record, 53);
    }

    #[test]
    fn a_warning_given_once_per_file_in_both_halves_is_given_once() {
        let (joined, scan) = in_halves(&halves_ng_with(50, None, &[10, 80], false));
        assert_eq!(joined, 1);
        let warned = scan
            .diagnostics
            .iter()
            .filter(|d| d.message.contains("not a multiple of 4"))
            .count();
        assert_eq!(warned, 1, "{:?}", scan.diagnostics);
        assert_eq!(scan.observations.len(), 100);
    }

    #[test]
    fn a_pcapng_head_with_two_interfaces_joins_its_halves_as_one_reading() {
        let (joined, scan) = in_halves(&halves_ng_with(50, None, &[], true));
        assert_eq!(joined, 2);
        assert_eq!(scan.points.len(), 2, "{:?}", scan.diagnostics);
        assert_eq!(scan.observations.len(), 100);
        assert!(scan.points.iter().all(|p| p.echo_packets == 50));
        // The section header and both interfaces come first.
        assert_eq!(scan.observations[50].record, 54);
        // A third interface declared after packets (none on it): the first part reads on alone.
        let (joined, scan) = in_halves(&halves_ng_with(50, Some(70), &[], true));
        assert_eq!(joined, 1);
        assert_eq!(scan.observations.len(), 100);
    }

    #[test]
    fn a_pcapng_interface_declared_in_either_half_is_found_by_reading_on_alone() {
        for at in [20, 70] {
            let (joined, scan) = in_halves(&halves_ng(50, Some(at)));
            assert_eq!(joined, 1, "interface declared before frame {at}");
            assert_eq!(scan.observations.len(), 100);
            assert_eq!(scan.points.len(), 2, "{:?}", scan.diagnostics);
        }
    }

    #[test]
    fn halves_join_when_nothing_crosses_the_cut() {
        let (joined, scan) = in_halves(&halves(50, |_| {}));
        assert_eq!(joined, 2);
        assert_eq!(scan.observations.len(), 100);
        assert_eq!(scan.observations[50].record, 51);
    }

    #[test]
    fn a_copy_across_the_cut_is_found_by_reading_on_alone() {
        // Request 50 is a copy of request 49, 0.1 ms later: the first frame of the second part.
        let (joined, scan) = in_halves(&halves(50, |f| {
            f[50] = (f[49].0, f[49].1 + 100, f[49].2.clone());
        }));
        assert_eq!(joined, 1);
        assert_eq!(scan.points[0].duplicates, 1);
    }

    #[test]
    fn time_going_back_across_the_cut_is_found_by_reading_on_alone() {
        let (joined, scan) = in_halves(&halves(50, |f| f[50].0 -= 1));
        assert_eq!(joined, 1);
        assert!(scan
            .diagnostics
            .iter()
            .any(|d| d.message.contains("goes backwards")));
    }

    #[test]
    fn time_going_back_inside_each_part_is_summed_where_they_join() {
        // Requests 20 and 21 swap their times, and 70 and 71: one record out of order in each
        // half, none across the cut.
        let (joined, scan) = in_halves(&halves(50, |f| {
            for i in [20, 70] {
                let (a, b) = ((f[i].0, f[i].1), (f[i + 1].0, f[i + 1].1));
                (f[i].0, f[i].1, f[i + 1].0, f[i + 1].1) = (b.0, b.1, a.0, a.1);
            }
        }));
        assert_eq!(joined, 2);
        let warned: Vec<_> = scan
            .diagnostics
            .iter()
            .filter(|d| d.message.contains("goes backwards"))
            .collect();
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert_eq!(warned[0].record, Some(22));
        assert!(warned[0].message.contains("2 record(s) out of time order"));
    }

    #[test]
    fn a_late_copy_in_the_second_part_of_a_frame_in_the_first_is_found_where_they_join() {
        // Request 70 is a copy of request 30, 0.1 ms after it: out of time order, in the other
        // half, and far from the cut.
        let (joined, scan) = in_halves(&halves(50, |f| {
            f[70] = (f[30].0, f[30].1 + 100, f[30].2.clone());
        }));
        assert_eq!(joined, 2);
        assert_eq!(scan.points[0].duplicates, 1);
        assert_eq!(scan.observations.len(), 99);
    }

    #[test]
    fn damage_inside_the_second_part_stops_reading_there() {
        let mut bytes = halves(50, |_| {});
        // Request 70's captured length (each record: 16-byte header and the frame).
        let size = (bytes.len() - 24) / 100;
        let at = 24 + 70 * size + 8;
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let (joined, scan) = in_halves(&bytes);
        assert_eq!(joined, 2);
        assert_eq!(scan.observations.len(), 70);
        assert!(scan
            .diagnostics
            .iter()
            .any(|d| d.record == Some(71) && d.message.contains("corrupt")));
    }
}
