//! Translations summed over flows: one finding per kind, hop and rewritten value.

use crate::model::{Flow, NatFinding, NatKey};
use rustc_hash::FxHashMap as HashMap;

/// One finding per (kind, hop, before, after), in the order first seen.
pub fn summarize(flows: &[Flow]) -> Vec<NatFinding> {
    let mut out: Vec<NatFinding> = Vec::new();
    let mut index: HashMap<NatKey, usize> = HashMap::default();
    for f in flows {
        for h in &f.hops {
            for t in &h.translations {
                let key = t.key(h);
                match index.get(&key) {
                    Some(&i) => {
                        let n = &mut out[i];
                        n.flows += 1;
                        n.packets += t.packets;
                        n.of += t.of;
                        n.replies += t.replies;
                        n.replies_reversed += t.replies_reversed;
                        n.replies_misaddressed += t.replies_misaddressed;
                        n.reply_reversed = n.replies > 0 && n.replies_reversed == n.replies;
                        if !n.protocols.contains(&f.origin.protocol) {
                            n.protocols.push(f.origin.protocol);
                            n.protocols.sort_unstable();
                        }
                    }
                    None => {
                        index.insert(key, out.len());
                        out.push(NatFinding {
                            kind: t.kind,
                            from: h.from.clone(),
                            to: h.to.clone(),
                            before: t.before,
                            after: t.after,
                            flows: 1,
                            packets: t.packets,
                            of: t.of,
                            replies: t.replies,
                            replies_reversed: t.replies_reversed,
                            replies_misaddressed: t.replies_misaddressed,
                            reply_reversed: t.replies > 0 && t.replies_reversed == t.replies,
                            matched: f.matched,
                            protocols: vec![f.origin.protocol],
                            explained_by: None,
                            explanation: None,
                            replies_untracked_by: None,
                        });
                    }
                }
            }
        }
    }
    out
}
