#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::collections::HashSet;

use rand::SeedableRng;

use super::*;
use crate::tokens::{generate_tokens_with, shard_key};

fn cfg(rf: usize) -> RingConfig {
    RingConfig {
        replication_factor: rf,
        heartbeat_timeout: Duration::from_secs(60),
        ..RingConfig::default()
    }
}

/// A descriptor with `n` ACTIVE instances `ing-0..n` of 128 seeded tokens each.
fn desc_with(n: usize, seed: u64) -> RingDesc {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut desc = RingDesc::new();
    for i in 0..n {
        add_instance(&mut desc, &mut rng, &format!("ing-{i}"));
    }
    desc
}

fn add_instance(desc: &mut RingDesc, rng: &mut rand::rngs::StdRng, id: &str) {
    let taken = desc.taken_tokens();
    let mut inst = InstanceDesc::new(
        id,
        &format!("{id}:9095"),
        &format!("{id}:3100"),
        InstanceState::Active,
    );
    inst.tokens = generate_tokens_with(rng, 128, &taken);
    desc.upsert(inst);
}

fn stream_keys(n: usize) -> Vec<u32> {
    (0..n)
        .map(|i| {
            shard_key(
                "fake",
                &format!("{{app=\"svc-{}\", pod=\"pod-{i}\"}}", i % 37),
            )
        })
        .collect()
}

#[test]
fn replication_sets_have_rf_distinct_instances() {
    let ring = Ring::new(desc_with(5, 1), &cfg(3));
    for key in stream_keys(2000) {
        let set = ring.get(key, Operation::Write).unwrap();
        assert_eq!(set.instances.len(), 3);
        let ids: HashSet<&str> = set.ids().into_iter().collect();
        assert_eq!(ids.len(), 3, "duplicate instance in {:?}", set.ids());
        assert_eq!(set.max_errors, 1);
        assert_eq!(set.min_success(), 2);
        assert_eq!(set.instances[0].id, ring.primary(key).unwrap());
    }
}

#[test]
fn quorum_math() {
    assert_eq!(quorum(1), 1);
    assert_eq!(quorum(2), 2);
    assert_eq!(quorum(3), 2);
    assert_eq!(quorum(5), 3);
    // RF=1 tolerates nothing.
    let ring = Ring::new(desc_with(3, 2), &cfg(1));
    let set = ring.get(42, Operation::Write).unwrap();
    assert_eq!((set.instances.len(), set.max_errors), (1, 0));
    // Fewer instances than RF: all of them, quorum of RF.
    let ring = Ring::new(desc_with(2, 2), &cfg(3));
    let set = ring.get(42, Operation::Write).unwrap();
    assert_eq!((set.instances.len(), set.max_errors), (2, 0));
    let ring = Ring::new(desc_with(1, 2), &cfg(3));
    let err = ring.get(42, Operation::Write).unwrap_err();
    assert!(
        err.to_string()
            .contains("at least 2 live replicas required, could only find 1"),
        "{err}"
    );
}

#[test]
fn empty_ring_is_an_error() {
    let ring = Ring::new(RingDesc::new(), &cfg(3));
    assert!(matches!(
        ring.get(1, Operation::Write),
        Err(Error::EmptyRing)
    ));
    assert!(ring.owner(1).is_none());
}

#[test]
fn leaving_instances_are_skipped_for_writes_and_the_set_extended() {
    let mut desc = desc_with(5, 3);
    desc.instances.get_mut("ing-2").unwrap().state = InstanceState::Leaving;
    let ring = Ring::new(desc, &cfg(3));
    let mut saw_extension = false;
    for key in stream_keys(2000) {
        let set = ring.get(key, Operation::Write).unwrap();
        assert!(!set.contains("ing-2"));
        let read = ring.get(key, Operation::Read).unwrap();
        if read.contains("ing-2") {
            // Write set extended past the LEAVING instance: 3 ACTIVE, quorum of 4.
            saw_extension = true;
            assert_eq!(set.instances.len(), 3);
            assert_eq!(set.max_errors, 0);
            assert_eq!(read.instances.len(), 3);
        } else {
            assert_eq!((set.instances.len(), set.max_errors), (3, 1));
        }
    }
    assert!(saw_extension);
}

#[test]
fn unhealthy_instances_are_skipped() {
    let mut desc = desc_with(4, 4);
    desc.instances.get_mut("ing-1").unwrap().heartbeat_at_ms -= 120_000;
    let ring = Ring::new(desc, &cfg(3));
    let mut hit = 0;
    for key in stream_keys(2000) {
        let set = ring.get(key, Operation::Write).unwrap();
        assert!(!set.contains("ing-1"));
        if set.instances.len() == 2 {
            hit += 1;
            assert_eq!(set.max_errors, 0, "quorum of 2 out of rf 3");
        }
        let read = ring.get(key, Operation::Read).unwrap();
        assert!(!read.contains("ing-1"));
    }
    assert!(hit > 0);
    let owner_ids: HashSet<String> = stream_keys(500)
        .into_iter()
        .map(|k| ring.owner(k).unwrap().id)
        .collect();
    assert!(!owner_ids.contains("ing-1"));
    let all = ring.all_healthy(Operation::Read).unwrap();
    assert_eq!(all.instances.len(), 3);
    assert_eq!(all.max_errors, 0);
}

#[test]
fn two_unhealthy_of_three_fails_writes() {
    let mut desc = desc_with(3, 5);
    for id in ["ing-0", "ing-1"] {
        desc.instances.get_mut(id).unwrap().heartbeat_at_ms -= 120_000;
    }
    let ring = Ring::new(desc, &cfg(3));
    let err = ring.get(7, Operation::Write).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooManyUnhealthy {
                required: 2,
                found: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(ring.all_healthy(Operation::Read).is_err());
}

#[test]
fn zone_awareness_spreads_replicas() {
    let mut desc = desc_with(6, 6);
    for (i, inst) in desc.instances.values_mut().enumerate() {
        inst.zone = Some(format!("zone-{}", i % 3));
    }
    let mut c = cfg(3);
    c.zone_awareness_enabled = true;
    let ring = Ring::new(desc, &c);
    for key in stream_keys(500) {
        let set = ring.get(key, Operation::Write).unwrap();
        let zones: HashSet<_> = set.instances.iter().map(|i| i.zone.clone()).collect();
        assert_eq!(zones.len(), 3);
    }
}

#[test]
fn ownership_sums_to_one_and_is_balanced() {
    let ring = Ring::new(desc_with(4, 7), &cfg(3));
    let own = ring.ownership();
    let total: f64 = own.values().sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    for (id, share) in &own {
        assert!((0.15..0.35).contains(share), "{id} owns {share}");
    }
}

/// Adding a 4th ingester to 3 (128 tokens each) moves about a quarter of the streams.
#[test]
fn adding_a_fourth_instance_moves_about_a_quarter() {
    let keys = stream_keys(10_000);
    for seed in [11u64, 12, 13] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut desc = RingDesc::new();
        for i in 0..3 {
            add_instance(&mut desc, &mut rng, &format!("ing-{i}"));
        }
        let before = Ring::new(desc.clone(), &cfg(3));
        add_instance(&mut desc, &mut rng, "ing-3");
        let after = Ring::new(desc, &cfg(3));

        let mut primary_moved = 0usize;
        let mut replicas_moved = 0usize;
        for &k in &keys {
            if before.primary(k) != after.primary(k) {
                primary_moved += 1;
            }
            let old: HashSet<String> = before
                .get(k, Operation::Write)
                .unwrap()
                .ids()
                .into_iter()
                .map(String::from)
                .collect();
            let new = after.get(k, Operation::Write).unwrap();
            replicas_moved += new.ids().iter().filter(|id| !old.contains(**id)).count();
        }
        let primary_frac = primary_moved as f64 / keys.len() as f64;
        let replica_frac = replicas_moved as f64 / (keys.len() * 3) as f64;
        println!(
            "seed {seed}: 3 -> 4 ingesters, 10000 streams: primary owner moved {primary_frac:.3}, replica-set memberships moved {replica_frac:.3}, new instance owns {:.3}",
            after.ownership()["ing-3"]
        );
        assert!(
            (0.15..=0.35).contains(&primary_frac),
            "primary moved {primary_frac}"
        );
        assert!(
            (0.15..=0.35).contains(&replica_frac),
            "replicas moved {replica_frac}"
        );
    }
}
