//! Unit tests of the limiter's sharding.

use super::*;

#[test]
fn buckets_shard_only_above_the_shard_rate() {
    let policy = |per_second, burst| Policy {
        rate: Rate { per_second, burst },
        turn_ceiling: Some(1_000),
    };
    assert_eq!(policy(400, 800).shards(), 1);
    assert_eq!(policy(401, 800).shards(), 2);
    assert_eq!(policy(2_000, 4_000).shards(), 5);
    // Never more shards than the burst: each shard admits at least one.
    assert_eq!(policy(2_000, 3).shards(), 3);
    assert_eq!(policy(800, 1).shards(), 1);
    let whole = policy(1_000, 2_000);
    let shares: Vec<Policy> = (0..3).map(|i| whole.shard(i)).collect();
    assert_eq!(
        shares[0].rate,
        Rate {
            per_second: 334,
            burst: 667
        }
    );
    assert_eq!(shares[2].rate.per_second, 333);
    // The shards together are exactly the whole bucket.
    assert_eq!(shares.iter().map(|p| p.rate.per_second).sum::<u32>(), 1_000);
    assert_eq!(shares.iter().map(|p| p.rate.burst).sum::<u32>(), 2_000);
    assert_eq!(
        shares.iter().map(|p| p.turn_ceiling.unwrap()).sum::<u64>(),
        1_000
    );
    let tiny = Policy {
        rate: Rate {
            per_second: 800,
            burst: 20,
        },
        turn_ceiling: Some(1),
    };
    assert_eq!(tiny.shard(0).turn_ceiling, Some(1));
    assert_eq!(tiny.shard(1).turn_ceiling, Some(0));
}

#[test]
fn shard_zero_is_the_unsharded_item() {
    let owner = Owner::SourceIp("192.0.2.1".into());
    assert_eq!(shard_key(&owner, 0), "LIMIT#IP#192.0.2.1");
    assert_eq!(shard_key(&owner, 2), "LIMIT#IP#192.0.2.1#2");
    assert!((0..100).all(|_| shard_index(3) < 3));
}
