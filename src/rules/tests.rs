//! Tests on real dumps: the seed's printouts (captures/seed/) and dumps recorded in a network namespace here (tests/data/rules/, see make_fixtures.sh there).

use std::fs;
use std::net::IpAddr;
use std::path::PathBuf;

use super::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn seed(names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|n| root().join("captures/seed").join(n))
        .collect()
}

fn live(names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|n| root().join("tests/data/rules").join(n))
        .collect()
}

const SEED: &[&str] = &[
    "qrouter.ip-addr.txt",
    "qrouter.iptables-nat-S.txt",
    "l3agent.ip-addr.txt",
    "l3agent.iptables-nat-S.txt",
];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn icmp<'a>(
    in_iface: &'a str,
    out_iface: &'a str,
    before: (&str, &str, u16),
    after: (&str, &str, u16),
) -> Query<'a> {
    Query {
        in_iface,
        out_iface,
        proto: Proto::Icmp,
        before: Endpoints {
            src: ip(before.0),
            dst: ip(before.1),
            sport: Some(before.2),
            dport: None,
        },
        after: Endpoints {
            src: ip(after.0),
            dst: ip(after.1),
            sport: Some(after.2),
            dport: None,
        },
        new_connection: None,
    }
}

fn tcp<'a>(
    in_iface: &'a str,
    out_iface: &'a str,
    before: (&str, u16, &str, u16),
    after: (&str, u16, &str, u16),
) -> Query<'a> {
    Query {
        in_iface,
        out_iface,
        proto: Proto::Tcp,
        before: Endpoints {
            src: ip(before.0),
            sport: Some(before.1),
            dst: ip(before.2),
            dport: Some(before.3),
        },
        after: Endpoints {
            src: ip(after.0),
            sport: Some(after.1),
            dst: ip(after.2),
            dport: Some(after.3),
        },
        new_connection: Some(true),
    }
}

/// The seed's first SNAT hop: ids differ because each capture was its own ping run.
fn seed_router_hop() -> Query<'static> {
    icmp(
        "ha-2b8cf5e0-b1",
        "qg-0aeca8b7-8a",
        ("192.168.65.125", "2.106.123.234", 21972),
        ("169.254.43.17", "2.106.123.234", 22115),
    )
}

#[test]
fn seed_dumps_load_without_warnings() {
    let set = load(&seed(SEED));
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    assert!(!set.is_empty());
    assert_eq!(
        set.namespaces().collect::<Vec<_>>(),
        vec!["l3agent", "qrouter"]
    );
    assert_eq!(set.namespace_of("ha-2b8cf5e0-b1"), Some("qrouter"));
    assert_eq!(set.namespace_of("qg-0aeca8b7-8a"), Some("qrouter"));
    assert_eq!(set.namespace_of("ex-l3dngw"), Some("l3agent"));
    assert_eq!(
        set.namespace_of("eth2.106"),
        Some("l3agent"),
        "the @if2 suffix is stripped"
    );
    assert_eq!(set.namespace_of("lo"), None, "both namespaces have lo");
    assert_eq!(set.namespace_of("eth1"), None);
}

#[test]
fn seed_router_snat_is_explained_by_the_neutron_rule() {
    let set = load(&seed(SEED));
    let e = set.explain(&seed_router_hop());
    let Explanation::Explained {
        namespace,
        snat: Some(rule),
        dnat: None,
        masquerade: None,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(namespace, "qrouter");
    assert_eq!(rule.namespace, "qrouter");
    assert_eq!(rule.chain, "neutron-vpn-agen-snat");
    assert!(rule.file.ends_with("qrouter.iptables-nat-S.txt"));
    assert_eq!(rule.location, Location::Line(19));
    assert_eq!(
        rule.rule,
        "-A neutron-vpn-agen-snat -s 192.168.64.0/23 -j SNAT --to-source 169.254.43.17"
    );
    let text = fs::read_to_string(root().join("captures/seed/qrouter.iptables-nat-S.txt")).unwrap();
    assert_eq!(text.lines().nth(18), Some(rule.rule.as_str()));
}

#[test]
fn seed_l3agent_masquerade_takes_eth2_106_address() {
    let set = load(&seed(SEED));
    let q = icmp(
        "ex-l3dngw",
        "eth2.106",
        ("169.254.43.17", "2.106.123.234", 23916),
        ("236.115.121.34", "2.106.123.234", 24014),
    );
    let e = set.explain(&q);
    let Explanation::Explained {
        snat: Some(rule),
        dnat: None,
        masquerade: Some(chosen),
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(chosen.iface, "eth2.106");
    assert_eq!(chosen.addr, ip("236.115.121.34"));
    assert_eq!(rule.namespace, "l3agent");
    assert_eq!(rule.chain, "neutron-vpn-agen-POSTROUTING");
    assert_eq!(rule.location, Location::Line(16));
    assert_eq!(
        rule.rule,
        "-A neutron-vpn-agen-POSTROUTING -s 169.254.0.0/18 ! -o ex-l3dngw -j MASQUERADE"
    );
    // Another source address than eth2.106's contradicts the rule, naming where it came from.
    let mut wrong = q;
    wrong.after.src = ip("236.115.121.35");
    let e = set.explain(&wrong);
    let Explanation::Contradicted {
        expected, observed, ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(
        expected.to_string(),
        "MASQUERADE to 236.115.121.34 (address of eth2.106)"
    );
    assert_eq!(observed.addr, ip("236.115.121.35"));
}

#[test]
fn seed_hop_between_namespaces_is_not_one_namespace() {
    let set = load(&seed(SEED));
    assert_ne!(
        set.namespace_of("qg-0aeca8b7-8a"),
        set.namespace_of("ex-l3dngw")
    );
    let q = icmp(
        "qg-0aeca8b7-8a",
        "ex-l3dngw",
        ("169.254.43.17", "2.106.123.234", 22115),
        ("169.254.43.17", "2.106.123.234", 23916),
    );
    let e = set.explain(&q);
    assert!(
        matches!(
            &e,
            Explanation::Unexplained {
                why: UnexplainedReason::SplitNamespaces { .. }
            }
        ),
        "{e:?}"
    );
}

#[test]
fn seed_rule_edited_to_another_address_is_contradicted() {
    let dir = scratch_dir("contradicted");
    fs::copy(
        root().join("captures/seed/qrouter.ip-addr.txt"),
        dir.join("qrouter.ip-addr.txt"),
    )
    .unwrap();
    let rules =
        fs::read_to_string(root().join("captures/seed/qrouter.iptables-nat-S.txt")).unwrap();
    let edited = rules.replace("--to-source 169.254.43.17", "--to-source 169.254.43.99");
    assert_ne!(rules, edited);
    fs::write(dir.join("qrouter.iptables-nat-S.txt"), edited).unwrap();
    let set = load(&[
        dir.join("qrouter.ip-addr.txt"),
        dir.join("qrouter.iptables-nat-S.txt"),
    ]);
    let e = set.explain(&seed_router_hop());
    let Explanation::Contradicted {
        rule,
        expected,
        observed,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(rule.location, Location::Line(19));
    assert_eq!(expected.action, NatAction::Snat);
    assert_eq!(expected.addrs, vec![AddrRange::single(ip("169.254.43.99"))]);
    assert_eq!(observed.addr, ip("169.254.43.17"));
    assert_eq!(
        e.to_string(),
        format!(
            "{} line 19: -A neutron-vpn-agen-snat -s 192.168.64.0/23 -j SNAT --to-source 169.254.43.99 says SNAT to 169.254.43.99, the packets show 169.254.43.17:22115",
            dir.join("qrouter.iptables-nat-S.txt").display()
        )
    );
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn one_rules_file_without_addresses_is_taken_for_the_hop() {
    let set = load(&seed(&["qrouter.iptables-nat-S.txt"]));
    assert_eq!(set.namespace_of("ha-2b8cf5e0-b1"), None);
    let e = set.explain(&seed_router_hop());
    assert!(
        matches!(&e, Explanation::Explained { snat: Some(r), .. } if r.location == Location::Line(19)),
        "{e:?}"
    );
    // MASQUERADE needs the address dump it was not given.
    let set = load(&seed(&["l3agent.iptables-nat-S.txt"]));
    let q = icmp(
        "ex-l3dngw",
        "eth2.106",
        ("169.254.43.17", "2.106.123.234", 23916),
        ("236.115.121.34", "2.106.123.234", 24014),
    );
    let e = set.explain(&q);
    assert!(
        matches!(&e, Explanation::Unevaluable { why: UnevaluableReason::NoAddressDump { namespace }, .. } if namespace == "l3agent"),
        "{e:?}"
    );
}

#[test]
fn seed_without_the_translation_is_missing() {
    let set = load(&seed(SEED));
    let mut q = seed_router_hop();
    q.after = q.before;
    let e = set.explain(&q);
    assert!(
        matches!(&e, Explanation::MissingTranslation { rule, .. } if rule.location == Location::Line(19)),
        "{e:?}"
    );
}

#[test]
fn live_iptables_save_and_s_agree() {
    for rules in ["live.iptables-save", "live.iptables-nat-S.txt"] {
        let set = load(&live(&[rules, "live.ip-addr.txt"]));
        assert!(set.warnings().is_empty(), "{rules}: {:?}", set.warnings());
        // The neutron SNAT, through three user chains.
        let e = set.explain(&icmp(
            "ha-live",
            "qg-live",
            ("192.168.65.125", "2.106.123.234", 7),
            ("169.254.43.17", "2.106.123.234", 7),
        ));
        let Explanation::Explained { snat: Some(r), .. } = &e else {
            panic!("{rules}: {e:?}")
        };
        assert_eq!(
            r.rule,
            "-A neutron-vpn-agen-snat -s 192.168.64.0/23 -j SNAT --to-source 169.254.43.17"
        );
        // The floating IP comes first (jump to float-snat before the /23 rule).
        let e = set.explain(&icmp(
            "ha-live",
            "qg-live",
            ("192.168.65.201", "8.8.8.8", 7),
            ("169.254.43.17", "8.8.8.8", 7),
        ));
        let Explanation::Contradicted { rule, expected, .. } = &e else {
            panic!("{rules}: {e:?}")
        };
        assert_eq!(rule.chain, "neutron-vpn-agen-float-snat");
        assert_eq!(expected.to_string(), "SNAT to 169.254.43.18");
        // Metadata REDIRECT to the in-interface's primary address (from outside the /23, so no SNAT either).
        let q = tcp(
            "ha-live",
            "eth9",
            ("192.168.66.5", 40000, "169.254.169.254", 80),
            ("192.168.66.5", 40000, "192.168.65.124", 9697),
        );
        let e = set.explain(&q);
        assert!(
            matches!(&e, Explanation::Explained { dnat: Some(r), snat: None, .. } if r.rule.contains("REDIRECT")),
            "{rules}: {e:?}"
        );
        // Multiport DNAT, then no SNAT: the ACCEPT's `! --ctstate DNAT` fails, the /23 SNAT does not match 8.8.8.8.
        let q = tcp(
            "qg-live",
            "ha-live",
            ("8.8.8.8", 5555, "169.254.43.17", 8005),
            ("8.8.8.8", 5555, "192.168.65.200", 2222),
        );
        let e = set.explain(&q);
        assert!(
            matches!(&e, Explanation::Explained { dnat: Some(r), snat: None, .. } if r.rule.contains("multiport")),
            "{rules}: {e:?}"
        );
        // The mark match is named, not guessed.
        let q = tcp(
            "qg-live",
            "ha-live",
            ("8.8.8.8", 5555, "169.254.43.18", 80),
            ("8.8.8.8", 5555, "192.168.65.201", 80),
        );
        let e = set.explain(&q);
        assert!(
            matches!(&e, Explanation::Unevaluable { why: UnevaluableReason::Match { what }, .. } if what == "-m mark --mark 0x1"),
            "{rules}: {e:?}"
        );
        // Out of eth9, neutron's ACCEPT (`! -i qg-live ! -o qg-live`) ends the traversal.
        let e = set.explain(&icmp(
            "ha-live",
            "eth9",
            ("10.8.0.5", "8.8.8.8", 7),
            ("203.0.113.6", "8.8.8.8", 7),
        ));
        assert!(
            matches!(&e, Explanation::Unexplained { why: UnexplainedReason::NoRuleMatched { accepted_by: Some(r), .. } } if r.rule.ends_with("-j ACCEPT")),
            "{rules}: {e:?}"
        );
        // In from qg-live it does not match: SNAT to an address and port range.
        let q = Query {
            proto: Proto::Udp,
            ..tcp(
                "qg-live",
                "eth9",
                ("10.9.1.1", 1500, "8.8.8.8", 53),
                ("203.0.113.8", 40007, "8.8.8.8", 53),
            )
        };
        assert!(
            matches!(
                set.explain(&q),
                Explanation::Explained { snat: Some(_), .. }
            ),
            "{rules}"
        );
        let q = Query {
            proto: Proto::Udp,
            ..tcp(
                "qg-live",
                "eth9",
                ("10.9.1.1", 1500, "8.8.8.8", 53),
                ("203.0.113.8", 50000, "8.8.8.8", 53),
            )
        };
        assert!(
            matches!(set.explain(&q), Explanation::Contradicted { .. }),
            "{rules}"
        );
        // MASQUERADE picks eth9's global addresses; 2001:db8:1::1 is IPv6 and not one of them.
        let e = set.explain(&icmp(
            "qg-live",
            "eth9",
            ("10.8.0.5", "8.8.8.8", 7),
            ("203.0.113.6", "8.8.8.8", 7),
        ));
        assert!(
            matches!(&e, Explanation::Explained { snat: Some(r), .. } if r.rule.ends_with("-j MASQUERADE")),
            "{rules}: {e:?}"
        );
    }
}

#[test]
fn live_ip6tables_save_is_ipv6() {
    let set = load(&live(&["live6.ip6tables-save", "live6.ip-addr.txt"]));
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    let e = set.explain(&icmp(
        "ha-live",
        "eth9",
        ("fd00::7", "2001:db8:9::1", 7),
        ("2001:db8:1::1", "2001:db8:9::1", 7),
    ));
    assert!(
        matches!(&e, Explanation::Explained { snat: Some(r), .. } if r.location == Location::Line(7)),
        "{e:?}"
    );
    let e = set.explain(&icmp(
        "ha-live",
        "eth9",
        ("192.168.64.7", "8.8.8.8", 7),
        ("192.168.64.7", "8.8.8.8", 7),
    ));
    assert!(
        matches!(
            &e,
            Explanation::Unexplained {
                why: UnexplainedReason::NoNatRules { ipv6: false, .. }
            }
        ),
        "{e:?}"
    );
}

#[test]
fn live_nft_json() {
    let set = load(&live(&["livenft.nft.json", "livenft.ip-o-addr.txt"]));
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    // Our own inet table: DNAT with a port.
    let q = tcp(
        "eth9",
        "ha-live",
        ("198.51.100.1", 5000, "203.0.113.5", 8080),
        ("198.51.100.1", 5000, "192.168.65.210", 80),
    );
    let e = set.explain(&q);
    let Explanation::Explained { dnat: Some(r), .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(r.location, Location::Handle(5));
    assert_eq!(r.chain, "pre");
    assert_eq!(
        r.rule,
        "iifname \"eth9\" ip daddr 203.0.113.5 tcp dport 8080 counter dnat ip to 192.168.65.210:80"
    );
    // A source in the named set returns before the UDP DNAT.
    let udp = |src: &'static str| Query {
        proto: Proto::Udp,
        ..tcp(
            "eth9",
            "ha-live",
            (src, 5000, "203.0.113.6", 53),
            (src, 5000, "192.168.65.211", 53),
        )
    };
    assert!(matches!(
        set.explain(&udp("198.51.100.1")),
        Explanation::Explained { dnat: Some(_), .. }
    ));
    let e = set.explain(&udp("198.51.100.7"));
    assert!(
        matches!(
            &e,
            Explanation::Unexplained {
                why: UnexplainedReason::NoRuleMatched { .. }
            }
        ),
        "{e:?}"
    );
    // ct state new → jump masq → masquerade with eth9's address (our chain runs at priority 90,
    // before the iptables-nft POSTROUTING at 100).
    let mut q = icmp(
        "ha-live",
        "eth9",
        ("172.16.9.9", "8.8.8.8", 7),
        ("203.0.113.5", "8.8.8.8", 7),
    );
    let e = set.explain(&q);
    assert!(
        matches!(
            &e,
            Explanation::Unevaluable {
                why: UnevaluableReason::ConnectionStateUnknown { .. },
                ..
            }
        ),
        "{e:?}"
    );
    q.new_connection = Some(true);
    let e = set.explain(&q);
    assert!(
        matches!(&e, Explanation::Explained { snat: Some(r), .. } if r.location == Location::Handle(12)),
        "{e:?}"
    );
    // snat to a range with an eth9* wildcard.
    let e = set.explain(&icmp(
        "ha-live",
        "eth9",
        ("10.7.1.1", "8.8.8.8", 7),
        ("203.0.113.11", "8.8.8.8", 7),
    ));
    assert!(
        matches!(&e, Explanation::Explained { snat: Some(r), .. } if r.location == Location::Handle(10)),
        "{e:?}"
    );
}

#[test]
fn live_nft_copy_of_iptables_rules_hides_options() {
    let set = load(&live(&["live.nft.json", "live.ip-addr.txt"]));
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    // iptables-nft keeps SNAT's options in an xt target that JSON does not show.
    let e = set.explain(&icmp(
        "ha-live",
        "qg-live",
        ("192.168.65.125", "8.8.8.8", 7),
        ("169.254.43.17", "8.8.8.8", 7),
    ));
    assert!(
        matches!(&e, Explanation::Unevaluable { why: UnevaluableReason::Target { what }, rule } if what == "xt target SNAT" && rule.chain == "neutron-vpn-agen-snat"),
        "{e:?}"
    );
    // And neutron's `-m conntrack ! --ctstate DNAT` becomes an xt match.
    let e = set.explain(&icmp(
        "ha-live",
        "eth9",
        ("192.168.65.125", "8.8.8.8", 7),
        ("192.168.65.125", "8.8.8.8", 7),
    ));
    assert!(
        matches!(&e, Explanation::Unevaluable { why: UnevaluableReason::Match { what }, .. } if what == "xt match conntrack"),
        "{e:?}"
    );
}

#[test]
fn iptables_and_nft_dumps_of_one_namespace_count_rules_once() {
    let set = load(&live(&[
        "live.iptables-save",
        "live.nft.json",
        "live.ip-addr.txt",
    ]));
    assert_eq!(set.warnings().len(), 1, "{:?}", set.warnings());
    assert!(set.warnings()[0].message.contains("iptables-nft copy"));
    let e = set.explain(&icmp(
        "ha-live",
        "qg-live",
        ("192.168.65.125", "8.8.8.8", 7),
        ("169.254.43.17", "8.8.8.8", 7),
    ));
    assert!(
        matches!(&e, Explanation::Explained { snat: Some(r), .. } if r.location == Location::Line(24) && r.file.ends_with("live.iptables-save")),
        "{e:?}"
    );
    // The nft table of its own is still evaluated.
    let mut q = icmp(
        "ha-live",
        "eth9",
        ("172.16.9.9", "8.8.8.8", 7),
        ("203.0.113.5", "8.8.8.8", 7),
    );
    q.new_connection = Some(true);
    let e = set.explain(&q);
    assert!(
        matches!(&e, Explanation::Explained { snat: Some(r), .. } if r.location == Location::Handle(12)),
        "{e:?}"
    );
}

#[test]
fn unreadable_and_unknown_files_are_warnings() {
    let dir = scratch_dir("bad");
    fs::write(dir.join("x.notes.txt"), "hello\n").unwrap();
    fs::write(dir.join("y.json"), "{\"nftables\": [").unwrap();
    let set = load(&[
        dir.join("x.notes.txt"),
        dir.join("y.json"),
        dir.join("missing.txt"),
    ]);
    assert_eq!(set.warnings().len(), 3, "{:?}", set.warnings());
    assert!(set.is_empty());
    let e = set.explain(&seed_router_hop());
    assert!(
        matches!(
            &e,
            Explanation::Unexplained {
                why: UnexplainedReason::UnknownInterface { .. }
            }
        ),
        "{e:?}"
    );
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn explanations_serialize_for_the_json_report() {
    let set = load(&seed(SEED));
    let json = serde_json::to_value(set.explain(&seed_router_hop())).unwrap();
    assert_eq!(json["verdict"], "explained");
    assert_eq!(json["snat"]["location"]["line"], 19);
    assert_eq!(json["snat"]["chain"], "neutron-vpn-agen-snat");
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natcorr-rules-{}-{name}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every fixture cut at many places and with bytes flipped still loads: warnings, never a panic.
#[test]
fn cut_and_damaged_dumps_never_panic() {
    let mut files: Vec<PathBuf> = seed(SEED);
    for entry in fs::read_dir(root().join("tests/data/rules")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e != "sh") {
            files.push(path);
        }
    }
    let limits = read::Limits {
        line: read::MAX_LINE,
        file: read::MAX_FILE,
    };
    for path in files {
        let bytes = fs::read(&path).unwrap();
        let step = (bytes.len() / 60).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            let mut damaged = bytes.clone();
            damaged[cut] ^= 0x5a;
            for text in [&bytes[..cut], &damaged[..]] {
                let (content, warnings) = read::read_from(&path, text, limits);
                let mut set = RuleSet::default();
                set.add(&path, content, warnings);
                set.drop_nft_copies_of_iptables();
                let _ = set.explain(&seed_router_hop());
                let _ = set.explain(&icmp(
                    "ha-live",
                    "eth9",
                    ("10.8.0.5", "8.8.8.8", 7),
                    ("203.0.113.6", "8.8.8.8", 7),
                ));
            }
        }
    }
}

/// The lab's `dnat` scenario (captures/dnat/): a floating IP, DNAT in and SNAT out on both routers.
#[test]
fn lab_floating_ip_both_ways() {
    let dir = root().join("captures/dnat");
    let files: Vec<PathBuf> = [
        "qrouter.ip-addr.txt",
        "qrouter.iptables-save",
        "l3agent.ip-addr.txt",
        "l3agent.iptables-save",
    ]
    .iter()
    .map(|n| dir.join(n))
    .collect();
    let set = load(&files);
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    // Inbound at the l3agent: DNAT to the router's floating address.
    let e = set.explain(&icmp(
        "eth2.106",
        "ex-l3dngw",
        ("203.0.113.234", "198.51.100.50", 2050),
        ("203.0.113.234", "169.254.43.50", 2050),
    ));
    assert!(
        matches!(&e, Explanation::Explained { dnat: Some(r), snat: None, .. } if r.location == Location::Line(7) && r.namespace == "l3agent"),
        "{e:?}"
    );
    // Inbound at the router: DNAT to vm1.
    let e = set.explain(&icmp(
        "qg-0aeca8b7-8a",
        "ha-2b8cf5e0-b1",
        ("203.0.113.234", "169.254.43.50", 2050),
        ("203.0.113.234", "192.168.65.125", 2050),
    ));
    assert!(
        matches!(&e, Explanation::Explained { dnat: Some(r), snat: None, .. } if r.location == Location::Line(7) && r.namespace == "qrouter"),
        "{e:?}"
    );
    // Outbound: the floating-IP SNAT comes before the generic one, then at the l3agent its own 1:1 SNAT before MASQUERADE.
    let e = set.explain(&icmp(
        "ha-2b8cf5e0-b1",
        "qg-0aeca8b7-8a",
        ("192.168.65.125", "203.0.113.234", 2125),
        ("169.254.43.50", "203.0.113.234", 2125),
    ));
    assert!(
        matches!(&e, Explanation::Explained { snat: Some(r), dnat: None, .. } if r.location == Location::Line(8)),
        "{e:?}"
    );
    let e = set.explain(&icmp(
        "ex-l3dngw",
        "eth2.106",
        ("169.254.43.50", "203.0.113.234", 2125),
        ("198.51.100.50", "203.0.113.234", 2125),
    ));
    assert!(
        matches!(&e, Explanation::Explained { snat: Some(r), dnat: None, .. } if r.location == Location::Line(8) && r.namespace == "l3agent"),
        "{e:?}"
    );
    // Had the router used the generic address, the floating-IP rule contradicts it.
    let e = set.explain(&icmp(
        "ha-2b8cf5e0-b1",
        "qg-0aeca8b7-8a",
        ("192.168.65.125", "203.0.113.234", 2125),
        ("169.254.43.17", "203.0.113.234", 2125),
    ));
    assert!(
        matches!(&e, Explanation::Contradicted { expected, .. } if expected.to_string() == "SNAT to 169.254.43.50"),
        "{e:?}"
    );
}

/// An echo reply from 203.0.113.234 back to the SNAT address, entering at `in_iface`.
fn reply_in<'a>(in_iface: &'a str, proto: Proto, sport: Option<u16>) -> Query<'a> {
    let e = Endpoints {
        src: ip("203.0.113.234"),
        dst: ip("198.51.100.200"),
        sport,
        dport: Some(4242),
    };
    Query {
        in_iface,
        out_iface: "ex-live",
        proto,
        before: e,
        after: e,
        new_connection: Some(false),
    }
}

/// The nat table is still explained by its own rule, not disturbed by the raw one.
fn snat_still_explained(set: &RuleSet) {
    let q = icmp(
        "ex-live",
        "up-live",
        ("169.254.43.17", "203.0.113.234", 7),
        ("198.51.100.200", "203.0.113.234", 7),
    );
    assert!(
        matches!(
            set.explain(&q),
            Explanation::Explained { snat: Some(_), .. }
        ),
        "{}",
        set.explain(&q)
    );
}

#[test]
fn notrack_of_replies_is_found_in_the_iptables_raw_table() {
    let set = load(&live(&["notrack.iptables-save", "notrack.ip-o-addr.txt"]));
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    let r = set
        .untracked_reply(&reply_in("up-live", Proto::Icmp, None))
        .expect("the NOTRACK of echo replies");
    assert_eq!(
        (r.location, r.chain.as_str()),
        (Location::Line(6), "PREROUTING")
    );
    assert!(r.rule.ends_with("--icmp-type 0 -j NOTRACK"), "{r}");
    // Through a user chain, as CT --notrack.
    let r = set
        .untracked_reply(&reply_in("up-live", Proto::Udp, Some(53)))
        .expect("CT --notrack of DNS answers");
    assert_eq!(
        (r.location, r.chain.as_str()),
        (Location::Line(8), "untrack-dns")
    );
    // Not from port 53, not on that interface: tracked.
    assert_eq!(
        set.untracked_reply(&reply_in("up-live", Proto::Udp, Some(54))),
        None
    );
    assert_eq!(
        set.untracked_reply(&reply_in("ex-live", Proto::Icmp, None)),
        None
    );
    snat_still_explained(&set);
}

#[test]
fn notrack_of_replies_is_found_in_a_native_nft_raw_chain() {
    let set = load(&live(&["notracknft.nft.json", "notracknft.ip-o-addr.txt"]));
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    let r = set
        .untracked_reply(&reply_in("up-live", Proto::Icmp, None))
        .expect("the nft notrack of echo replies");
    assert_eq!(r.chain, "raw");
    assert!(matches!(r.location, Location::Handle(_)), "{r:?}");
    assert_eq!(
        set.untracked_reply(&reply_in("ex-live", Proto::Icmp, None)),
        None
    );
    snat_still_explained(&set);
}
